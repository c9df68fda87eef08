//! Rotary position embedding in HF's rotate-half layout (first half of each head against the second half),
//! not burn's interleaved `RotaryEncoding`. Angles are computed on the host per (row, position), so rows of a
//! batch may sit at different positions (left padding, KV-cache decoding).

use burn::tensor::{Device, Tensor, TensorData};

use crate::kernels::rotary::rotate;

/// Cosine and sine tables for one forward call, `[batch, seq, 1, head_dim]` (broadcast over the heads).
#[derive(Debug, Clone)]
pub struct RopeTables {
    /// cos(position · inv_freq), duplicated over both halves.
    pub cos: Tensor<4>,
    /// sin(position · inv_freq), duplicated over both halves.
    pub sin: Tensor<4>,
}

impl RopeTables {
    /// Tables for `positions` (row-major `[batch, seq]`), computed in f32 as HF does.
    pub fn new(positions: &[usize], batch: usize, seq: usize, head_dim: usize, theta: f64, device: &Device) -> Self {
        let half = head_dim / 2;
        let inv_freq: Vec<f32> =
            (0..half).map(|i| 1.0 / (theta as f32).powf((2 * i) as f32 / head_dim as f32)).collect();
        let mut cos = Vec::with_capacity(positions.len() * head_dim);
        let mut sin = Vec::with_capacity(positions.len() * head_dim);
        for &p in positions {
            for _ in 0..2 {
                for &f in &inv_freq {
                    let angle = p as f32 * f;
                    cos.push(angle.cos());
                    sin.push(angle.sin());
                }
            }
        }
        let shape = [batch, seq, 1, head_dim];
        Self {
            cos: Tensor::from_data(TensorData::new(cos, shape), device),
            sin: Tensor::from_data(TensorData::new(sin, shape), device),
        }
    }

    /// Rotates `x` (`[batch, seq, heads, head_dim]`; one fused op on the CPU backend, [`crate::kernels::rotary`]).
    pub fn apply(&self, x: Tensor<4>) -> Tensor<4> {
        rotate(x, self.cos.clone(), self.sin.clone())
    }
}
