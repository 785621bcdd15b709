#[cfg(test)]
mod tests {
    use super::*;
    use std::hint::black_box;

    #[test]
    fn single() {
        black_box(spin(black_box(ITERATIONS)));
    }

    #[test]
    fn batch() {
        for _ in 0..BATCH {
            black_box(spin(black_box(ITERATIONS)));
        }
    }
}
