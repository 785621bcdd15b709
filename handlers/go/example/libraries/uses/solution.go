package solution

import (
	mapset "github.com/deckarep/golang-set/v2"
	"github.com/emirpasic/gods/trees/redblacktree"
	"github.com/samber/lo"
	"golang.org/x/exp/constraints"
	"golang.org/x/exp/slices"
)

// Largest returns the k largest values, largest first.
func Largest[T constraints.Ordered](values []T, k int) []T {
	sorted := slices.Clone(values)
	slices.SortFunc(sorted, func(a, b T) int {
		switch {
		case a > b:
			return -1
		case a < b:
			return 1
		}
		return 0
	})
	return sorted[:min(k, len(sorted))]
}

// NextAtLeast returns, for each query, the smallest key >= it, or -1 when there is none.
func NextAtLeast(keys, queries []int) []int {
	tree := redblacktree.NewWithIntComparator()
	for _, key := range keys {
		tree.Put(key, struct{}{})
	}
	return lo.Map(queries, func(query int, _ int) int {
		if node, found := tree.Ceiling(query); found {
			return node.Key.(int)
		}
		return -1
	})
}

// Distinct counts the words that occur in both lists.
func Distinct(a, b []string) int {
	return mapset.NewSet(a...).Intersect(mapset.NewSet(b...)).Cardinality()
}
