use ndarray::Array2;

/// The sum of all cells of a rows x cols grid filled with 1.
pub fn cells(rows: usize, cols: usize) -> f64 {
    Array2::<f64>::ones((rows, cols)).sum()
}
