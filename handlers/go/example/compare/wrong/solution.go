package solution

// Fib is off by one (it returns Fib(n+1)): a compare case that fails the example suite.
func Fib(n int) int {
	a, b := 0, 1
	for i := 0; i < n; i++ {
		a, b = b, a+b
	}
	return b
}
