package solution

// Spin is a fixed CPU loop: n steps of a linear congruential generator. Not inlined, so the accuracy
// suite's single call and its batched reference run the same machine code (inlined into the batch's
// loop it ran about 6 % slower per call, which read as a -6 % timing error).
//
//go:noinline
func Spin(n int) uint64 {
	var x uint64
	for i := 0; i < n; i++ {
		x = x*6364136223846793005 + uint64(i)
	}
	return x
}
