//! Grouped-query self-attention with optional per-head QK RMSNorm (Qwen3), rotate-half RoPE and an optional
//! KV cache. Scores are scaled by `1/sqrt(head_dim)`; the mask is built by the caller
//! ([`crate::batch::attention_mask`]). Without a cache the product runs as one fused op on the CPU backend
//! ([`crate::kernels::attention`]).

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::{Bool, Device, Tensor};

use crate::cache::LayerKv;
use crate::config::{Family, ModelConfig};
use crate::kernels::attention::{attend, attend_composed};
use crate::kernels::projection::project;
use crate::norm::RmsNorm;
use crate::params::linear;
use crate::rope::RopeTables;
use crate::weights::WeightSource;

/// The attention block of one decoder layer, with HF parameter names.
#[derive(Module, Debug)]
pub struct Attention {
    /// Query projection `[hidden → heads·head_dim]`.
    pub q_proj: Linear,
    /// Key projection `[hidden → kv_heads·head_dim]`.
    pub k_proj: Linear,
    /// Value projection `[hidden → kv_heads·head_dim]`.
    pub v_proj: Linear,
    /// Output projection `[heads·head_dim → hidden]`.
    pub o_proj: Linear,
    /// Qwen3's per-head query norm.
    pub q_norm: Option<RmsNorm>,
    /// Qwen3's per-head key norm.
    pub k_norm: Option<RmsNorm>,
    /// Query heads.
    pub num_heads: usize,
    /// Key/value heads.
    pub num_kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
}

impl Attention {
    /// The attention called `prefix` (`{prefix}.q_proj`, ...).
    pub(crate) fn build(source: &mut dyn WeightSource, prefix: &str, c: &ModelConfig, device: &Device) -> Self {
        let (h, hd) = (c.hidden_size, c.head_dim);
        let (q, kv) = (c.num_attention_heads * hd, c.num_key_value_heads * hd);
        let qk_norm = |name: &str, source: &mut dyn WeightSource| {
            (c.family == Family::Qwen3)
                .then(|| RmsNorm::build(source, &format!("{prefix}.{name}"), hd, c.rms_norm_eps, device))
        };
        Self {
            q_proj: linear(source, &format!("{prefix}.q_proj"), h, q, c.qkv_bias, device),
            k_proj: linear(source, &format!("{prefix}.k_proj"), h, kv, c.qkv_bias, device),
            v_proj: linear(source, &format!("{prefix}.v_proj"), h, kv, c.qkv_bias, device),
            o_proj: linear(source, &format!("{prefix}.o_proj"), q, h, c.o_bias, device),
            q_norm: qk_norm("q_norm", source),
            k_norm: qk_norm("k_norm", source),
            num_heads: c.num_attention_heads,
            num_kv_heads: c.num_key_value_heads,
            head_dim: hd,
        }
    }

    /// Attends `x` (`[batch, seq, hidden]`) over itself, or over the cache plus itself when `cache` is given
    /// (`cache_start` positions already filled). `mask` is `[batch, 1, seq, keys]`, `true` = masked.
    pub fn forward(
        &self,
        x: Tensor<3>,
        rope: &RopeTables,
        mask: Tensor<4, Bool>,
        cache: Option<(&mut LayerKv, usize)>,
    ) -> Tensor<3> {
        let [b, t, _] = x.dims();
        // `[b, t, n, head_dim]`: normed (Qwen3) and rotated while each position's heads are contiguous.
        let heads = |proj: &Linear, n: usize, norm: &Option<RmsNorm>| {
            let y = project(proj, x.clone()).reshape([b, t, n, self.head_dim]);
            match norm {
                Some(norm) => norm.forward(y),
                None => y,
            }
        };
        let q = rope.apply(heads(&self.q_proj, self.num_heads, &self.q_norm));
        let k = rope.apply(heads(&self.k_proj, self.num_kv_heads, &self.k_norm));
        let v = heads(&self.v_proj, self.num_kv_heads, &None);
        let out = match cache {
            // The cache holds `[b, kv_heads, keys, head_dim]`: its views go to burn's op, transposed without copies.
            Some((layer, start)) => {
                let (k, v) = layer.append(start, k.swap_dims(1, 2), v.swap_dims(1, 2));
                attend_composed(q, k.swap_dims(1, 2), v.swap_dims(1, 2), mask)
            }
            None => attend(q, k, v, mask),
        };
        project(&self.o_proj, out.reshape([b, t, self.num_heads * self.head_dim]))
    }
}
