//! The causal LM: token embedding, decoder layers, final norm, LM head (tied or not), and the three things the
//! trainer asks of it — embeddings at `<embtoken>`, next-token log-probabilities, and cached decoding steps.
//!
//! Field names follow HF exactly (`model.layers.0.self_attn.q_proj.weight`, `lm_head.weight`), so the module path
//! of every parameter is its checkpoint name.

use burn::module::Module;
use burn::nn::{Embedding, Linear};
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

use crate::batch::TokenBatch;
use crate::block::DecoderLayer;
use crate::cache::KvCache;
use crate::config::ModelConfig;
use crate::error::ModelError;
use crate::kernels::projection::{project, tied_logits};
use crate::kernels::token_logprob::token_logprobs;
use crate::norm::RmsNorm;
use crate::params::{embedding, linear};
use crate::pooling::{gather_rows, l2_normalize};
use crate::rope::RopeTables;
use crate::weights::{RandomWeights, WeightSource};

/// Embedding, decoder layers and final norm (`model.*` in HF checkpoints).
#[derive(Module, Debug)]
pub struct DecoderModel {
    /// Token embedding `[vocab, hidden]`.
    pub embed_tokens: Embedding,
    /// The decoder layers.
    pub layers: Vec<DecoderLayer>,
    /// Final RMSNorm; its output is the "last hidden state".
    pub norm: RmsNorm,
}

/// A decoder-only language model with an embedding head.
#[derive(Module, Debug)]
pub struct CausalLm {
    /// The decoder stack.
    pub model: DecoderModel,
    /// The untied LM head, `None` when it shares `model.embed_tokens`.
    pub lm_head: Option<Linear>,
    /// The shape this model was built with.
    #[module(skip)]
    pub config: ModelConfig,
}

/// The standard deviation HF uses to initialise Qwen3/Llama projections (`initializer_range`).
pub const INIT_STD: f32 = 0.02;

impl CausalLm {
    /// Builds the model from `source`; returns it with the checkpoint tensors that were not used.
    pub fn build(
        config: ModelConfig,
        mut source: Box<dyn WeightSource>,
        device: &Device,
    ) -> Result<(Self, Vec<String>), ModelError> {
        config.validate("<model config>")?;
        let (v, h) = (config.vocab_size, config.hidden_size);
        let src: &mut dyn WeightSource = source.as_mut();
        let embed_tokens = embedding(src, "model.embed_tokens.weight", v, h, device);
        let layers = (0..config.num_hidden_layers)
            .map(|i| DecoderLayer::build(src, &format!("model.layers.{i}"), &config, device))
            .collect();
        let norm = RmsNorm::build(src, "model.norm", h, config.rms_norm_eps, device);
        let lm_head = (!config.tie_word_embeddings).then(|| linear(src, "lm_head", h, v, false, device));
        let unused = source.finish()?;
        let model = DecoderModel { embed_tokens, layers, norm };
        Ok((Self { model, lm_head, config }, unused))
    }

    /// A freshly initialised model (HF conventions: normal(0, 0.02) matrices, unit norms, zero biases).
    pub fn init_random(config: ModelConfig, seed: u64, device: &Device) -> Result<Self, ModelError> {
        Ok(Self::build(config, Box::new(RandomWeights::new(seed, INIT_STD)), device)?.0)
    }

    /// The device holding the parameters.
    pub fn device(&self) -> Device {
        self.model.embed_tokens.weight.val().device()
    }

    /// Final-norm hidden states `[batch, seq, hidden]` of a whole batch (no cache).
    pub fn hidden(&self, batch: &TokenBatch) -> Tensor<3> {
        let device = self.device();
        let rope = RopeTables::new(
            &batch.positions(),
            batch.batch,
            batch.seq_len,
            self.config.head_dim,
            self.config.rope_theta,
            &device,
        );
        self.run(batch.ids_tensor(&device), &rope, batch.mask(&device), None)
    }

    /// Runs new tokens `ids` (`[batch, new]`) through the stack; with a cache, their keys and values are appended
    /// and attention covers the cached prefix too. Returns final-norm hidden states `[batch, new, hidden]`.
    pub fn run(
        &self,
        ids: Tensor<2, Int>,
        rope: &RopeTables,
        mask: Tensor<4, Bool>,
        mut cache: Option<&mut KvCache>,
    ) -> Tensor<3> {
        let [_, new] = ids.dims();
        let start = cache.as_ref().map_or(0, |c| c.len);
        let mut x = self.model.embed_tokens.forward(ids);
        for (i, layer) in self.model.layers.iter().enumerate() {
            let layer_cache = cache.as_deref_mut().map(|c| (&mut c.layers[i], start));
            x = layer.forward(x, rope, mask.clone(), layer_cache);
        }
        if let Some(cache) = cache {
            cache.len = start + new;
        }
        self.model.norm.forward(x)
    }

    /// LM-head logits for hidden states `[batch, seq, hidden]` → `[batch, seq, vocab]`.
    pub fn logits<const D: usize>(&self, hidden: Tensor<D>) -> Tensor<D> {
        match &self.lm_head {
            Some(head) => project(head, hidden),
            None => tied_logits(hidden, self.model.embed_tokens.weight.val()),
        }
    }

    /// L2-normalised embeddings `[batch, hidden]`: the final-norm state at the last `emb_token_id` of each row.
    pub fn embed(&self, batch: &TokenBatch, emb_token_id: u32) -> Result<Tensor<2>, ModelError> {
        let columns = batch.last_index_of(emb_token_id)?;
        let hidden = self.hidden(batch);
        Ok(l2_normalize(gather_rows(hidden, &columns, &self.device())))
    }

    /// Log-probability of every next token, `[batch, seq − 1]`: entry `t` is `log p(ids[t+1] | ids[..=t])` under
    /// `softmax(logits / temperature)` (TRL's convention for policy log-probs). Padding columns hold junk that the
    /// caller masks. Differentiable when the model is on an autodiff device.
    pub fn token_logprobs(&self, batch: &TokenBatch, temperature: f32) -> Tensor<2> {
        let (b, t) = (batch.batch, batch.seq_len);
        let targets: Vec<i64> =
            (0..b).flat_map(|r| (1..t).map(move |c| (r, c))).map(|(r, c)| batch.ids[r * t + c] as i64).collect();
        let targets: Tensor<3, Int> = Tensor::from_data(TensorData::new(targets, [b, t - 1, 1]), &self.device());
        // All positions: the narrowed 3-D states go through the head as they are (no gather copy).
        self.logprobs_of(self.hidden(batch).narrow(1, 0, t - 1), targets, temperature).reshape([b, t - 1])
    }

    /// Next-token log-probabilities `[batch, k]` at chosen columns only, from hidden states already computed for
    /// `batch` (so one forward pass serves the language-model loss and the embedding): entry `(r, j)` is
    /// `log p(ids[r][c + 1] | ids[r][..=c])` for `c = columns[r·k + j]`, under `softmax(logits / temperature)`.
    /// The LM head — the widest matmul — and the log-softmax over the vocabulary run on those `batch · k`
    /// positions alone, so a loss that supervises only the reasoning or the sampled completion does not pay for
    /// the prompt and the padding.
    pub fn logprobs_at(
        &self,
        hidden: Tensor<3>,
        batch: &TokenBatch,
        columns: &[usize],
        k: usize,
        temperature: f32,
    ) -> Result<Tensor<2>, ModelError> {
        let (b, t) = (batch.batch, batch.seq_len);
        if columns.len() != b * k || columns.iter().any(|&c| c + 1 >= t) {
            return Err(ModelError::Input(format!(
                "{} prediction columns for {b} rows × {k}, each below {} (the last position predicts nothing)",
                columns.len(),
                t.saturating_sub(1)
            )));
        }
        let device = self.device();
        let rows: Vec<i64> = columns.iter().enumerate().map(|(i, &c)| ((i / k.max(1)) * t + c) as i64).collect();
        let targets: Vec<i64> =
            columns.iter().enumerate().map(|(i, &c)| batch.ids[(i / k.max(1)) * t + c + 1] as i64).collect();
        let [_, _, h] = hidden.dims();
        let rows: Tensor<1, Int> = Tensor::from_data(TensorData::new(rows, [b * k]), &device);
        let targets: Tensor<2, Int> = Tensor::from_data(TensorData::new(targets, [b * k, 1]), &device);
        Ok(self.logprobs_of(hidden.reshape([b * t, h]).select(0, rows), targets, temperature).reshape([b, k]))
    }

    /// `log softmax(head(hidden) / temperature)` read at `targets` (the shape of `hidden` with a trailing 1).
    fn logprobs_of<const D: usize>(&self, hidden: Tensor<D>, targets: Tensor<D, Int>, temperature: f32) -> Tensor<D> {
        let logits = self.logits(hidden);
        let logits = if temperature > 0.0 && temperature != 1.0 { logits / temperature as f64 } else { logits };
        let (dims, vocab) = (targets.dims(), logits.dims()[D - 1]);
        let rows = dims[..D - 1].iter().product();
        token_logprobs(logits.reshape([rows, vocab]), targets.reshape([rows])).reshape(dims)
    }
}
