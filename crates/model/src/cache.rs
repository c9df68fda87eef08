//! A pre-allocated key/value cache for incremental decoding: one `[batch, kv_heads, capacity, head_dim]` buffer
//! per layer, written in place, so the prefix is never re-run.

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::config::ModelConfig;

/// Keys and values of one layer. The buffers are held as `Option` only so that [`LayerKv::append`] can move them
/// out: a uniquely owned buffer is written in place, a shared one would be copied whole at every decoding step.
#[derive(Debug, Clone)]
pub struct LayerKv {
    /// Keys after RoPE, `[batch, kv_heads, capacity, head_dim]`.
    keys: Option<Tensor<4>>,
    /// Values, `[batch, kv_heads, capacity, head_dim]`.
    values: Option<Tensor<4>>,
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
    /// Bytes the buffers of `rows` rows × `capacity` positions take (f32 keys and values of every layer).
    pub fn bytes(config: &ModelConfig, rows: usize, capacity: usize) -> u64 {
        let per_layer = 2 * rows as u64 * config.num_key_value_heads as u64 * capacity as u64 * config.head_dim as u64;
        per_layer * config.num_hidden_layers as u64 * 4
    }

    /// An empty cache for `batch` rows and up to `capacity` positions.
    pub fn new(config: &ModelConfig, batch: usize, capacity: usize, device: &Device) -> Self {
        let shape = [batch, config.num_key_value_heads, capacity, config.head_dim];
        let layers = (0..config.num_hidden_layers)
            .map(|_| LayerKv { keys: Some(Tensor::zeros(shape, device)), values: Some(Tensor::zeros(shape, device)) })
            .collect();
        Self { layers, len: 0, capacity }
    }
}

impl KvCache {
    /// Repeats every row `times` times (row r becomes rows `r·times .. (r+1)·times`), so several samples continue
    /// from one prefilled prompt.
    pub fn repeat_rows(&mut self, times: usize) {
        if times == 1 {
            return;
        }
        for layer in &mut self.layers {
            for buffer in [&mut layer.keys, &mut layer.values] {
                let tensor = buffer.take().expect("a cache buffer is always put back");
                let rows = tensor.dims()[0];
                let index: Vec<i64> = (0..rows * times).map(|r| (r / times) as i64).collect();
                let index = Tensor::<1, Int>::from_data(TensorData::new(index, [rows * times]), &tensor.device());
                *buffer = Some(tensor.select(0, index));
            }
        }
    }
}

impl LayerKv {
    /// Writes `keys`/`values` (`[batch, kv_heads, new, head_dim]`) at `start` and returns the filled prefix
    /// `[batch, kv_heads, start + new, head_dim]` of both buffers.
    pub fn append(&mut self, start: usize, keys: Tensor<4>, values: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        (write(&mut self.keys, start, keys), write(&mut self.values, start, values))
    }
}

/// Writes `new` (`[batch, heads, n, head_dim]`) into `buffer` at position `start`; returns the filled prefix.
fn write(buffer: &mut Option<Tensor<4>>, start: usize, new: Tensor<4>) -> Tensor<4> {
    let [b, h, n, d] = new.dims();
    let filled = buffer
        .take()
        .expect("a cache buffer is always put back")
        .slice_assign([0..b, 0..h, start..start + n, 0..d], new);
    let prefix = filled.clone().slice([0..b, 0..h, 0..start + n, 0..d]);
    *buffer = Some(filled);
    prefix
}
