package solution

// Spin is a fixed CPU loop: n steps of a linear congruential generator.
func Spin(n int) uint64 {
	var x uint64
	for i := 0; i < n; i++ {
		x = x*6364136223846793005 + uint64(i)
	}
	return x
}
