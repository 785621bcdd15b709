#[test]
fn counts_cells() {
    assert_eq!(cells(2, 3), 6.0);
}
