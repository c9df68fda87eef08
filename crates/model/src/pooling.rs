//! The embedding head: the final-norm hidden state at the last `<embtoken>` of each row, L2-normalised.

use burn::tensor::{Device, Int, Tensor, TensorData};

/// Picks `hidden[b, columns[b], :]` for every row (`hidden` is `[batch, seq, dim]`) → `[batch, dim]`.
pub fn gather_rows(hidden: Tensor<3>, columns: &[usize], device: &Device) -> Tensor<2> {
    let [b, t, d] = hidden.dims();
    let flat: Vec<i64> = columns.iter().enumerate().map(|(r, &c)| (r * t + c) as i64).collect();
    let index: Tensor<1, Int> = Tensor::from_data(TensorData::new(flat, [b]), device);
    hidden.reshape([b * t, d]).select(0, index)
}

/// Divides each row by its L2 norm (rows of zeros stay zero).
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-12);
    x / norm
}
