/// A fixed CPU loop: n steps of a linear congruential generator.
pub fn spin(n: u64) -> u64 {
    let mut x: u64 = 0;
    for i in 0..n {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(i);
    }
    x
}
