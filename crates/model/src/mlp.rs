//! The SwiGLU feed-forward block: `down(silu(gate(x)) * up(x))`.

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::{Device, Tensor};

use crate::config::ModelConfig;
use crate::kernels::projection::project;
use crate::kernels::swiglu::swiglu;
use crate::params::linear;
use crate::weights::WeightSource;

/// Gate, up and down projections with HF names.
#[derive(Module, Debug)]
pub struct Mlp {
    /// Gate projection, gets the SiLU.
    pub gate_proj: Linear,
    /// Up projection.
    pub up_proj: Linear,
    /// Down projection back to the residual width.
    pub down_proj: Linear,
}

impl Mlp {
    /// The MLP called `prefix` (`{prefix}.gate_proj`, ...).
    pub(crate) fn build(source: &mut dyn WeightSource, prefix: &str, c: &ModelConfig, device: &Device) -> Self {
        let (h, i) = (c.hidden_size, c.intermediate_size);
        Self {
            gate_proj: linear(source, &format!("{prefix}.gate_proj"), h, i, false, device),
            up_proj: linear(source, &format!("{prefix}.up_proj"), h, i, false, device),
            down_proj: linear(source, &format!("{prefix}.down_proj"), i, h, false, device),
        }
    }

    /// Applies the block to `[batch, seq, hidden]` (the gate is one fused op on the CPU backend,
    /// [`crate::kernels::swiglu`]).
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let gate = project(&self.gate_proj, x.clone());
        project(&self.down_proj, swiglu(gate, project(&self.up_proj, x)))
    }
}
