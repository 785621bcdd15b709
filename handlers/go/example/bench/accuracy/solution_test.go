package solution

import "testing"

var sink uint64
var iterations = ITERATIONS // a variable: the compiler cannot fold the loop away

func TestSingle(t *testing.T) {
	sink ^= Spin(iterations)
}

func TestBatch(t *testing.T) {
	for r := 0; r < BATCH; r++ {
		sink ^= Spin(iterations)
	}
}
