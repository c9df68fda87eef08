//! One pre-norm decoder layer: `x + attn(norm(x))`, then `x + mlp(norm(x))`.

use burn::module::Module;
use burn::tensor::{Bool, Device, Tensor};

use crate::attention::Attention;
use crate::cache::LayerKv;
use crate::config::ModelConfig;
use crate::mlp::Mlp;
use crate::norm::RmsNorm;
use crate::rope::RopeTables;
use crate::weights::WeightSource;

/// A decoder layer with HF parameter names.
#[derive(Module, Debug)]
pub struct DecoderLayer {
    /// Self-attention.
    pub self_attn: Attention,
    /// Feed-forward block.
    pub mlp: Mlp,
    /// Norm before attention.
    pub input_layernorm: RmsNorm,
    /// Norm before the MLP.
    pub post_attention_layernorm: RmsNorm,
}

impl DecoderLayer {
    /// Layer `prefix` (e.g. `model.layers.3`).
    pub(crate) fn build(source: &mut dyn WeightSource, prefix: &str, c: &ModelConfig, device: &Device) -> Self {
        Self {
            self_attn: Attention::build(source, &format!("{prefix}.self_attn"), c, device),
            mlp: Mlp::build(source, &format!("{prefix}.mlp"), c, device),
            input_layernorm: RmsNorm::build(
                source,
                &format!("{prefix}.input_layernorm"),
                c.hidden_size,
                c.rms_norm_eps,
                device,
            ),
            post_attention_layernorm: RmsNorm::build(
                source,
                &format!("{prefix}.post_attention_layernorm"),
                c.hidden_size,
                c.rms_norm_eps,
                device,
            ),
        }
    }

    /// Applies the layer to `[batch, seq, hidden]`.
    pub fn forward(
        &self,
        x: Tensor<3>,
        rope: &RopeTables,
        mask: Tensor<4, Bool>,
        cache: Option<(&mut LayerKv, usize)>,
    ) -> Tensor<3> {
        let x = x.clone() + self.self_attn.forward(self.input_layernorm.forward(x), rope, mask, cache);
        x.clone() + self.mlp.forward(self.post_attention_layernorm.forward(x))
    }
}
