//! A pre-allocated key/value cache for incremental decoding: one `[batch, kv_heads, capacity, head_dim]` buffer
//! per layer, written in place, so the prefix is never re-run.

use burn::tensor::{Device, Tensor};

use crate::config::ModelConfig;

/// Keys and values of one layer.
#[derive(Debug, Clone)]
pub struct LayerKv {
    /// Keys after RoPE, `[batch, kv_heads, capacity, head_dim]`.
    pub keys: Tensor<4>,
    /// Values, `[batch, kv_heads, capacity, head_dim]`.
    pub values: Tensor<4>,
}

/// The cache of every layer plus the number of positions already filled.
#[derive(Debug, Clone)]
pub struct KvCache {
    /// One entry per decoder layer.
    pub layers: Vec<LayerKv>,
    /// Positions filled so far (same for every row; padding is handled by the attention mask).
    pub len: usize,
    /// Positions the buffers can hold.
    pub capacity: usize,
}

impl KvCache {
    /// An empty cache for `batch` rows and up to `capacity` positions.
    pub fn new(config: &ModelConfig, batch: usize, capacity: usize, device: &Device) -> Self {
        let shape = [batch, config.num_key_value_heads, capacity, config.head_dim];
        let layers = (0..config.num_hidden_layers)
            .map(|_| LayerKv { keys: Tensor::zeros(shape, device), values: Tensor::zeros(shape, device) })
            .collect();
        Self { layers, len: 0, capacity }
    }
}

impl LayerKv {
    /// Writes `keys`/`values` (`[batch, kv_heads, new, head_dim]`) at `start` and returns the filled prefix
    /// `[batch, kv_heads, start + new, head_dim]` of both buffers.
    pub fn append(&mut self, start: usize, keys: Tensor<4>, values: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let [b, h, new, d] = keys.dims();
        let end = start + new;
        self.keys = self.keys.clone().slice_assign([0..b, 0..h, start..end, 0..d], keys);
        self.values = self.values.clone().slice_assign([0..b, 0..h, start..end, 0..d], values);
        (self.keys.clone().slice([0..b, 0..h, 0..end, 0..d]), self.values.clone().slice([0..b, 0..h, 0..end, 0..d]))
    }
}
