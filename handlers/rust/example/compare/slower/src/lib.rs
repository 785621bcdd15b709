/// The example's fib with 1000 loads and stores per call: the suite runs many times slower.
pub fn fib(n: u32) -> u64 {
    for i in 0..1000u32 {
        std::hint::black_box(i);
    }
    let (mut a, mut b) = (0u64, 1u64);
    for _ in 0..n {
        let next = a + b;
        a = b;
        b = next;
    }
    a
}
