//! RMSNorm as HF Qwen/Llama compute it: `x / sqrt(mean(x²) + eps) * weight`, in f32.

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

use crate::kernels::rms_norm::rms_norm;
use crate::params::vector;
use crate::weights::{Init, WeightSource};

/// Root-mean-square layer norm over the last dimension. The parameter is named `weight` as in HF.
#[derive(Module, Debug)]
pub struct RmsNorm {
    /// Per-feature scale, `[d]`.
    pub weight: Param<Tensor<1>>,
    /// Added to the mean square before the square root.
    pub eps: f64,
}

impl RmsNorm {
    /// The norm called `prefix` (`{prefix}.weight`, `[d]`).
    pub(crate) fn build(source: &mut dyn WeightSource, prefix: &str, d: usize, eps: f64, device: &Device) -> Self {
        let name = format!("{prefix}.weight");
        let weight = vector(&name, source.take(&name, &[d], Init::Ones), device);
        Self { weight, eps }
    }

    /// Normalises the last dimension of `x` (one fused op on the CPU backend, [`crate::kernels::rms_norm`]).
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        rms_norm(x, self.weight.val(), self.eps)
    }
}
