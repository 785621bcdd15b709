#[cfg(test)]
mod tests {
    #[test]
    fn empty() {}
}
