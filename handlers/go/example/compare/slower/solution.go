package solution

// detour keeps the slower copy's extra loop from being optimised away.
var detour int

// Fib returns the n-th Fibonacci number (Fib(0) = 0, Fib(1) = 1), like the example, then takes a
// detour of 4000 more steps: a compare case. The example's own loop is short next to the cost of
// running a test (t.Run), so doing it twice made a run of the suite only about 1.1 times as long;
// with the detour a run takes many times as long, so the ranking shows through any noise.
func Fib(n int) int {
	a, b := 0, 1
	for i := 0; i < n; i++ {
		a, b = b, a+b
	}
	for i := 0; i < 4000; i++ {
		detour += i ^ detour
	}
	return a
}
