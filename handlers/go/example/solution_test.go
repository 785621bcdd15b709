package solution

import "testing"

func TestFibZero(t *testing.T) {
	if got := Fib(0); got != 0 {
		t.Fatalf("Fib(0) = %d, want 0", got)
	}
}

func TestFibOne(t *testing.T) {
	if got := Fib(1); got != 1 {
		t.Fatalf("Fib(1) = %d, want 1", got)
	}
}

func TestFibTwo(t *testing.T) {
	if got := Fib(2); got != 1 {
		t.Fatalf("Fib(2) = %d, want 1", got)
	}
}

func TestFibTen(t *testing.T) {
	if got := Fib(10); got != 55 {
		t.Fatalf("Fib(10) = %d, want 55", got)
	}
}

func TestFibTwenty(t *testing.T) {
	if got := Fib(20); got != 6765 {
		t.Fatalf("Fib(20) = %d, want 6765", got)
	}
}

func TestFibFifty(t *testing.T) {
	if got := Fib(50); got != 12586269025 {
		t.Fatalf("Fib(50) = %d, want 12586269025", got)
	}
}

func TestFibSequence(t *testing.T) {
	for n := 2; n < 40; n++ {
		if Fib(n) != Fib(n-1)+Fib(n-2) {
			t.Fatalf("Fib(%d) breaks the recurrence", n)
		}
	}
}
