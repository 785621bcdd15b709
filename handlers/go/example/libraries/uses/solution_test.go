package solution

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLargest(t *testing.T) {
	require.Equal(t, []int{9, 7}, Largest([]int{3, 9, 1, 7}, 2))
	assert.Equal(t, []string{"b", "a"}, Largest([]string{"a", "b"}, 5))
}

func TestNextAtLeast(t *testing.T) {
	if diff := cmp.Diff([]int{5, 5, 9, -1}, NextAtLeast([]int{9, 1, 5}, []int{2, 5, 6, 10})); diff != "" {
		t.Fatalf("NextAtLeast (-want +got):\n%s", diff)
	}
}

func TestDistinct(t *testing.T) {
	assert.Equal(t, 2, Distinct([]string{"a", "b", "c", "a"}, []string{"c", "a", "z"}))
}
