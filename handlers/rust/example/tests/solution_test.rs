#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fib_zero() {
        assert_eq!(fib(0), 0);
    }

    #[test]
    fn fib_one() {
        assert_eq!(fib(1), 1);
    }

    #[test]
    fn fib_two() {
        assert_eq!(fib(2), 1);
    }

    #[test]
    fn fib_ten() {
        assert_eq!(fib(10), 55);
    }

    #[test]
    fn fib_twenty() {
        assert_eq!(fib(20), 6765);
    }

    #[test]
    fn fib_fifty() {
        assert_eq!(fib(50), 12_586_269_025);
    }

    #[test]
    fn fib_sequence() {
        for n in 2..60 {
            assert_eq!(fib(n), fib(n - 1) + fib(n - 2), "recurrence breaks at {n}");
        }
    }
}
