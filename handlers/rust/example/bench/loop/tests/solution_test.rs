#[cfg(test)]
mod tests {
    use super::*;
    use std::hint::black_box;

    #[test]
    fn spin_loop() {
        for _ in 0..REPEAT {
            black_box(spin(black_box(ITERATIONS)));
        }
    }
}
