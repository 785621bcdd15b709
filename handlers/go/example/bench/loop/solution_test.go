package solution

import "testing"

var sink uint64
var iterations = ITERATIONS // a variable: the compiler cannot fold the loop away

func TestSpin(t *testing.T) {
	for r := 0; r < REPEAT; r++ {
		sink ^= Spin(iterations)
	}
}
