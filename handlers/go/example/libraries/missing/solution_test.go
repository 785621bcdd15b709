package solution

import "testing"

func TestTrace(t *testing.T) {
	if got := Trace(2, []float64{1, 2, 3, 4}); got != 5 {
		t.Fatalf("Trace = %v, want 5", got)
	}
}
