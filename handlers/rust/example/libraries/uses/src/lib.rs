use itertools::Itertools;
use num_bigint::BigUint;
use regex::Regex;

/// The distinct words of `text` (runs of letters), lowercased and sorted.
pub fn words(text: &str) -> Vec<String> {
    let word = Regex::new(r"[A-Za-z]+").unwrap();
    word.find_iter(text).map(|m| m.as_str().to_lowercase()).sorted().dedup().collect()
}

/// n!, exactly.
pub fn factorial(n: u32) -> BigUint {
    (1..=n).map(BigUint::from).product()
}
