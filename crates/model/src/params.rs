//! Turning host tensors from a [`WeightSource`] into burn parameters. Projections are asked for in HF layout
//! `[out, in]` and stored as burn's `Linear` expects, `[in, out]`.

use burn::module::{Param, ParamId};
use burn::nn::{Embedding, Linear};
use burn::tensor::{Device, Tensor, TensorData};

use crate::weights::{Init, WeightSource};

/// The parameter id of the tensor called `name`: a stable hash of the name (FNV-1a), so every model built from
/// any source gives a parameter the same id — optimizer state saved in one process applies in the next.
pub fn param_id(name: &str) -> ParamId {
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3));
    ParamId::from(hash)
}

/// The `[rows, cols]` parameter `name` from host data.
pub(crate) fn matrix(name: &str, data: Vec<f32>, rows: usize, cols: usize, device: &Device) -> Param<Tensor<2>> {
    with_id(name, Param::from_tensor(Tensor::from_data(TensorData::new(data, [rows, cols]), device)))
}

/// The `[n]` parameter `name` from host data.
pub(crate) fn vector(name: &str, data: Vec<f32>, device: &Device) -> Param<Tensor<1>> {
    let n = data.len();
    with_id(name, Param::from_tensor(Tensor::from_data(TensorData::new(data, [n]), device)))
}

/// A trainable parameter with the stable id of `name`.
fn with_id<const D: usize>(name: &str, mut param: Param<Tensor<D>>) -> Param<Tensor<D>> {
    param.id = param_id(name);
    param
}

/// Row-major `[rows, cols]` → row-major `[cols, rows]`.
pub(crate) fn transpose_host(data: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; data.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = data[r * cols + c];
        }
    }
    out
}

/// The `Linear` called `prefix` (`{prefix}.weight` `[d_out, d_in]`, optional `{prefix}.bias` `[d_out]`).
pub(crate) fn linear(
    source: &mut dyn WeightSource,
    prefix: &str,
    d_in: usize,
    d_out: usize,
    bias: bool,
    device: &Device,
) -> Linear {
    let (w_name, b_name) = (format!("{prefix}.weight"), format!("{prefix}.bias"));
    let weight = source.take(&w_name, &[d_out, d_in], Init::Normal);
    let weight = matrix(&w_name, transpose_host(&weight, d_out, d_in), d_in, d_out, device);
    let bias = bias.then(|| vector(&b_name, source.take(&b_name, &[d_out], Init::Zeros), device));
    Linear { weight, bias }
}

/// The token embedding called `name` (`[vocab, hidden]`, same layout in HF and burn).
pub(crate) fn embedding(
    source: &mut dyn WeightSource,
    name: &str,
    vocab: usize,
    hidden: usize,
    device: &Device,
) -> Embedding {
    let weight = source.take(name, &[vocab, hidden], Init::Normal);
    Embedding { weight: matrix(name, weight, vocab, hidden, device) }
}
