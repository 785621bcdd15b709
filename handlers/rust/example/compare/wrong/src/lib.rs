pub fn fib(n: u32) -> u64 {
    n as u64
}
