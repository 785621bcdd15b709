use num_bigint::BigUint;
use rand::{rngs::StdRng, Rng, SeedableRng};

#[test]
fn words_are_distinct_lowercase_and_sorted() {
    assert_eq!(words("b a B, c! a"), vec!["a", "b", "c"]);
}

#[test]
fn factorial_is_exact() {
    assert_eq!(factorial(25).to_string(), "15511210043330985984000000");
}

#[test]
fn factorial_grows_by_n() {
    let mut rng = StdRng::seed_from_u64(20);
    for _ in 0..20 {
        let n: u32 = rng.gen_range(1..60);
        assert_eq!(factorial(n) / factorial(n - 1), BigUint::from(n));
    }
}
