//! Batched sampling of reasoning rollouts with a pre-allocated KV cache.
//!
//! `B` prompts × `G` samples run as one left-padded batch: each prompt is prefilled once and its KV-cache rows are
//! shared by its `G` samples, then one token per step is decoded for every row. A row stops when it samples the embedding token, samples EOS (when asked to),
//! or reaches `max_new_tokens`; in the last two cases the embedding token is appended and the rollout is flagged.
//! The embedding token is then fed like any other token, and the final-norm state at its position — the rollout's
//! embedding — is read from that same decoding step, so a reward needs no second forward pass.
//!
//! Sampling happens on the host from a seeded [`SeededRng`], row by row in order: the same seed gives the same
//! rollouts. Decoding runs on a no-autodiff copy of the model, so no graph is retained.

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::batch::{PadSide, TokenBatch, attention_mask, ids_tensor};
use crate::cache::KvCache;
use crate::error::ModelError;
use crate::host::to_vec;
use crate::model::CausalLm;
use crate::pooling::l2_normalize;
use crate::rng::SeededRng;
use crate::rope::RopeTables;
use rand::RngExt;

/// How tokens are drawn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SamplingParams {
    /// Softmax temperature; `0` means greedy (argmax). Default 1.0.
    pub temperature: f32,
    /// Keep only the `top_k` most likely tokens; `0` disables. Default 0.
    pub top_k: usize,
    /// Keep the smallest set of tokens whose probability reaches `top_p`; `1.0` disables. Default 1.0.
    pub top_p: f32,
    /// Most tokens generated before the embedding token is forced. Default 64.
    pub max_new_tokens: usize,
    /// Stop a row when it samples EOS (the embedding token is then appended). Default true.
    pub stop_at_eos: bool,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self { temperature: 1.0, top_k: 0, top_p: 1.0, max_new_tokens: 64, stop_at_eos: true }
    }
}

impl SamplingParams {
    /// Greedy decoding of up to `max_new_tokens`.
    pub fn greedy(max_new_tokens: usize) -> Self {
        Self { temperature: 0.0, max_new_tokens, ..Self::default() }
    }
}

/// The token ids generation needs to know.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StopTokens {
    /// The embedding token: sampling it ends the reasoning.
    pub emb_id: u32,
    /// End of sequence, if the tokenizer has one.
    pub eos_id: Option<u32>,
    /// Padding id (never attended to).
    pub pad_id: u32,
}

/// Why a rollout ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model wrote the embedding token itself.
    EmbToken,
    /// The model wrote EOS; the embedding token was appended.
    Eos,
    /// `max_new_tokens` was reached; the embedding token was appended.
    Length,
}

/// One sampled reasoning trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollout {
    /// Index of its prompt in the input.
    pub prompt: usize,
    /// Generated ids, ending with the embedding token (sampled, or appended when `finish` is not `EmbToken`).
    pub tokens: Vec<u32>,
    /// For each *sampled* token, `log softmax(logits / T)` at it (T = 1 when greedy) — the policy log-prob
    /// GRPO's ratio uses. Shorter than `tokens` by one when the embedding token was appended.
    #[serde(with = "crate::float_serde::vec_f32")]
    pub policy_logprobs: Vec<f32>,
    /// For each sampled token, its log-probability under the distribution actually sampled from (after
    /// top-k/top-p truncation and renormalisation; 0 when greedy).
    #[serde(with = "crate::float_serde::vec_f32")]
    pub sample_logprobs: Vec<f32>,
    /// For each sampled token, the entropy (nats) of the policy distribution `softmax(logits / T)` it was drawn
    /// from (T = 1 when greedy) — TRL's `entropy` metric.
    #[serde(default, with = "crate::float_serde::vec_f32")]
    pub entropies: Vec<f32>,
    /// Why it ended.
    pub finish: FinishReason,
    /// L2-normalised final-norm state at the embedding token.
    #[serde(with = "crate::float_serde::vec_f32")]
    pub embedding: Vec<f32>,
}

impl Rollout {
    /// Whether generation was cut at `max_new_tokens` (TRL's notion of a truncated completion; an EOS ending is
    /// a terminated one, though the embedding token was appended after it too).
    pub fn truncated(&self) -> bool {
        self.finish == FinishReason::Length
    }

    /// Whether the model ended its reasoning with the embedding token itself (the format the bonus rewards).
    pub fn wrote_emb_token(&self) -> bool {
        self.finish == FinishReason::EmbToken
    }
}

/// Where a row is in its life.
#[derive(Debug, Clone, Copy, PartialEq)]
enum RowState {
    /// Still sampling.
    Active,
    /// Finished; the embedding token is fed (appended) at the next step.
    NeedsEmb,
    /// Its embedding has been read.
    Done,
}

impl CausalLm {
    /// Samples `group` rollouts for each prompt (rows `p·group .. (p+1)·group` belong to prompt `p`). Prompt `p`'s
    /// rows draw from `rngs[p]` alone, so what a prompt samples does not depend on the other prompts of the batch.
    pub fn generate(
        &self,
        prompts: &[Vec<u32>],
        group: usize,
        params: &SamplingParams,
        stop: StopTokens,
        rngs: &mut [SeededRng],
    ) -> Result<Vec<Rollout>, ModelError> {
        if group == 0 {
            return Err(ModelError::Input("group size must be at least 1".into()));
        }
        if rngs.len() != prompts.len() {
            return Err(ModelError::Input(format!(
                "{} random streams for {} prompts: pass one per prompt",
                rngs.len(),
                prompts.len()
            )));
        }
        let model = self.valid();
        let device = model.device();
        // Each distinct prompt is prefilled once; its cache rows and next-token logits are then repeated for its
        // `group` samples (rows p·group .. (p+1)·group).
        let prefill = TokenBatch::new(prompts, stop.pad_id, PadSide::Left)?;
        let n = prompts.len() * group;
        let capacity = prefill.seq_len + params.max_new_tokens + 1;
        if capacity > model.config.max_position_embeddings {
            return Err(ModelError::Input(format!(
                "prompt ({}) + max_new_tokens ({}) + 1 exceeds max_position_embeddings ({})",
                prefill.seq_len, params.max_new_tokens, model.config.max_position_embeddings
            )));
        }
        // The cache grows to every sample's row: on the CPU backend, refuse up front what the host cannot hold (an
        // allocation failure would abort the process instead of saying which knob to turn).
        let needed = KvCache::bytes(&model.config, n, capacity);
        if let Some(available) = crate::host::available_memory().filter(|_| device == Device::flex())
            && needed > available
        {
            let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
            return Err(ModelError::Input(format!(
                "the KV cache of {n} rows ({} prompts × {group} samples) × {capacity} positions needs {:.1} GiB, more \
                 than the {:.1} GiB of memory available: lower the rows (GRPO batch_size or group_size, evaluation \
                 batch_size) or max_new_tokens",
                prompts.len(),
                gib(needed),
                gib(available)
            )));
        }
        let mut cache = KvCache::new(&model.config, prompts.len(), capacity, &device);
        let rope = RopeTables::new(
            &prefill.positions(),
            prompts.len(),
            prefill.seq_len,
            model.config.head_dim,
            model.config.rope_theta,
            &device,
        );
        let hidden = model.run(prefill.ids_tensor(&device), &rope, prefill.mask(&device), Some(&mut cache));
        let last = hidden.narrow(1, prefill.seq_len - 1, 1);
        let vocab = model.config.vocab_size;
        let mut logits: Vec<f32> = host_logits(&model, last)?.chunks(vocab).flat_map(|row| row.repeat(group)).collect();
        cache.repeat_rows(group);
        let seq = prefill.seq_len;
        let mut key_valid: Vec<Vec<bool>> =
            (0..n).map(|r| prefill.valid[(r / group) * seq..(r / group + 1) * seq].to_vec()).collect();
        let mut next_pos: Vec<usize> = (0..n).map(|r| prompts[r / group].len()).collect();

        let mut out: Vec<Rollout> = (0..n)
            .map(|r| Rollout {
                prompt: r / group,
                tokens: Vec::new(),
                policy_logprobs: Vec::new(),
                sample_logprobs: Vec::new(),
                entropies: Vec::new(),
                finish: FinishReason::Length,
                embedding: Vec::new(),
            })
            .collect();
        let initial = if params.max_new_tokens == 0 { RowState::NeedsEmb } else { RowState::Active };
        let mut state = vec![initial; n];

        loop {
            let mut inputs = vec![stop.pad_id; n];
            let mut fed = vec![false; n];
            let mut capture = Vec::new();
            for r in 0..n {
                match state[r] {
                    RowState::Done => {}
                    RowState::NeedsEmb => {
                        inputs[r] = stop.emb_id;
                        out[r].tokens.push(stop.emb_id);
                        fed[r] = true;
                        capture.push(r);
                        state[r] = RowState::Done;
                    }
                    RowState::Active => {
                        let row_logits = &logits[r * vocab..(r + 1) * vocab];
                        let Draw { token, policy_logprob, sample_logprob, entropy } =
                            sample(row_logits, params, &mut rngs[r / group]);
                        let rollout = &mut out[r];
                        rollout.tokens.push(token);
                        rollout.policy_logprobs.push(policy_logprob);
                        rollout.sample_logprobs.push(sample_logprob);
                        rollout.entropies.push(entropy);
                        inputs[r] = token;
                        fed[r] = true;
                        if token == stop.emb_id {
                            rollout.finish = FinishReason::EmbToken;
                            capture.push(r);
                            state[r] = RowState::Done;
                        } else if params.stop_at_eos && Some(token) == stop.eos_id {
                            rollout.finish = FinishReason::Eos;
                            state[r] = RowState::NeedsEmb;
                        } else if rollout.tokens.len() >= params.max_new_tokens {
                            rollout.finish = FinishReason::Length;
                            state[r] = RowState::NeedsEmb;
                        }
                    }
                }
            }
            if !fed.iter().any(|&f| f) {
                break;
            }
            let past = cache.len;
            let positions: Vec<usize> = next_pos.clone();
            for r in 0..n {
                key_valid[r].push(fed[r]);
                if fed[r] {
                    next_pos[r] += 1;
                }
            }
            let flat_valid: Vec<bool> = key_valid.iter().flatten().copied().collect();
            let mask = attention_mask(&flat_valid, n, 1, past, &device);
            let rope = RopeTables::new(&positions, n, 1, model.config.head_dim, model.config.rope_theta, &device);
            let hidden = model.run(ids_tensor(&inputs, n, 1, &device), &rope, mask, Some(&mut cache));
            if !capture.is_empty() {
                let dim = model.config.hidden_size;
                let index: Vec<i64> = capture.iter().map(|&r| r as i64).collect();
                let index = Tensor::from_data(TensorData::new(index, [capture.len()]), &device);
                let picked = hidden.clone().reshape([n, dim]).select(0, index);
                let embeddings = l2_normalize(picked);
                let values = to_vec(embeddings)?;
                for (i, &r) in capture.iter().enumerate() {
                    out[r].embedding = values[i * dim..(i + 1) * dim].to_vec();
                }
            }
            if state.contains(&RowState::Active) {
                logits = host_logits(&model, hidden)?;
            }
        }
        Ok(out)
    }
}

/// Logits of `[n, 1, hidden]` states as a host vector `[n · vocab]`.
fn host_logits(model: &CausalLm, hidden: Tensor<3>) -> Result<Vec<f32>, ModelError> {
    to_vec(model.logits(hidden))
}

/// One drawn token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Draw {
    /// The token.
    pub token: u32,
    /// Its policy log-prob, `log softmax(logits / T)` (T = 1 when greedy).
    pub policy_logprob: f32,
    /// Its log-prob under the truncated distribution actually sampled from (0 when greedy).
    pub sample_logprob: f32,
    /// Entropy (nats) of the policy distribution.
    pub entropy: f32,
}

/// Draws one token from `logits` (one row), with its policy and sampling log-probs and the policy's entropy.
pub fn sample(logits: &[f32], params: &SamplingParams, rng: &mut SeededRng) -> Draw {
    let t = if params.temperature > 0.0 { params.temperature } else { 1.0 };
    let max = logits.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x / t));
    // One pass: the unnormalised weights w = exp(z), z = x/T − max, their sum, and Σ w·z for the entropy
    // H = −Σ p·log p = log Σw − Σ w·z / Σw.
    let mut weights = Vec::with_capacity(logits.len());
    let (mut total, mut weighted_z) = (0.0f64, 0.0f64);
    for &x in logits {
        let z = (x / t - max) as f64;
        let w = z.exp();
        weights.push(w);
        total += w;
        weighted_z += w * z;
    }
    let entropy = (total.ln() - weighted_z / total) as f32;
    if params.temperature <= 0.0 {
        let token = argmax(logits);
        let policy_logprob = ((weights[token] / total).ln()) as f32;
        return Draw { token: token as u32, policy_logprob, sample_logprob: 0.0, entropy };
    }
    // Top-k / top-p keep a subset of the vocabulary (in index order); without them every token is a candidate.
    let kept: Option<Vec<usize>> = (params.top_k > 0 || params.top_p < 1.0).then(|| {
        let mut order: Vec<usize> = (0..logits.len()).collect();
        order.sort_by(|&a, &b| weights[b].total_cmp(&weights[a]).then(a.cmp(&b)));
        if params.top_k > 0 {
            order.truncate(params.top_k);
        }
        if params.top_p < 1.0 {
            // The nucleus is measured on what top-k kept, renormalised (as HF's warpers and vLLM do).
            let base: f64 = order.iter().map(|&i| weights[i]).sum();
            let mut mass = 0.0;
            let mut keep = 0;
            for &i in &order {
                mass += weights[i] / base;
                keep += 1;
                if mass >= params.top_p as f64 {
                    break;
                }
            }
            order.truncate(keep.max(1));
        }
        order.sort_unstable();
        order
    });
    let kept_total: f64 = kept.as_ref().map_or(total, |k| k.iter().map(|&i| weights[i]).sum());
    let u: f64 = rng.random::<f64>() * kept_total;
    let mut candidates: Box<dyn Iterator<Item = usize>> = match &kept {
        Some(k) => Box::new(k.iter().copied()),
        None => Box::new(0..logits.len()),
    };
    let mut acc = 0.0;
    let mut token = usize::MAX;
    for i in candidates.by_ref() {
        acc += weights[i];
        token = i;
        if u < acc {
            break;
        }
    }
    let policy_logprob = ((weights[token] / total).ln()) as f32;
    let sample_logprob = ((weights[token] / kept_total).ln()) as f32;
    Draw { token: token as u32, policy_logprob, sample_logprob, entropy }
}

fn argmax(x: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if v > x[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    #[test]
    fn only_a_length_cut_is_a_truncation_and_only_the_emb_token_is_the_format() {
        let rollout = |finish| Rollout {
            prompt: 0,
            tokens: vec![1, 2],
            policy_logprobs: vec![-1.0],
            sample_logprobs: vec![-1.0],
            entropies: vec![0.5],
            finish,
            embedding: Vec::new(),
        };
        let flags = |f| (rollout(f).truncated(), rollout(f).wrote_emb_token());
        assert_eq!(flags(FinishReason::Length), (true, false));
        assert_eq!(flags(FinishReason::Eos), (false, false), "TRL counts an EOS ending as terminated");
        assert_eq!(flags(FinishReason::EmbToken), (false, true));
    }

    #[test]
    fn greedy_picks_the_first_maximum() {
        let d = sample(&[0.0, 2.0, 2.0, -1.0], &SamplingParams::greedy(1), &mut stream(0, &[]));
        assert_eq!(d.token, 1);
        assert_eq!(d.sample_logprob, 0.0);
        let z = 1.0f64 + 2.0 * 2f64.exp() + (-1f64).exp();
        assert!((d.policy_logprob as f64 - (2.0 - z.ln())).abs() < 1e-6);
        let p = [1.0 / z, 2f64.exp() / z, 2f64.exp() / z, (-1f64).exp() / z];
        let entropy: f64 = p.iter().map(|p| -p * p.ln()).sum();
        assert!((d.entropy as f64 - entropy).abs() < 1e-6, "{} vs {entropy}", d.entropy);
    }

    #[test]
    fn top_k_one_is_greedy_and_sampling_is_seeded() {
        let logits = [0.1, 0.5, 3.0, 0.2];
        let params = SamplingParams { top_k: 1, ..SamplingParams::default() };
        for s in 0..5 {
            let d = sample(&logits, &params, &mut stream(s, &[]));
            assert_eq!(d.token, 2);
            assert!(d.sample_logprob.abs() < 1e-6);
        }
        let params = SamplingParams::default();
        let draw = |s| (0..20).map(|_| sample(&logits, &params, &mut stream(s, &[])).token).collect::<Vec<_>>();
        assert_eq!(draw(3), draw(3));
    }

    #[test]
    fn sampling_frequencies_follow_the_distribution() {
        let logits = [0.0f32, (3.0f32).ln()]; // p = [0.25, 0.75]
        let mut rng = stream(11, &[]);
        let params = SamplingParams::default();
        let ones = (0..4000).filter(|_| sample(&logits, &params, &mut rng).token == 1).count();
        assert!((2850..3150).contains(&ones), "{ones}");
    }

    #[test]
    fn top_p_after_top_k_measures_the_renormalised_top_k_mass() {
        // Top-2 of [0.5, 0.3, 0.2] renormalises to [0.625, 0.375]: a 0.6 nucleus keeps the first token only.
        let logits = [(0.5f32).ln(), (0.3f32).ln(), (0.2f32).ln()];
        let params = SamplingParams { top_k: 2, top_p: 0.6, ..SamplingParams::default() };
        let mut rng = stream(2, &[]);
        for _ in 0..100 {
            let d = sample(&logits, &params, &mut rng);
            assert_eq!(d.token, 0);
            assert!(d.sample_logprob.abs() < 1e-6);
        }
    }

    #[test]
    fn top_p_keeps_the_smallest_sufficient_prefix() {
        let logits = [(0.5f32).ln(), (0.3f32).ln(), (0.2f32).ln()];
        let params = SamplingParams { top_p: 0.7, ..SamplingParams::default() };
        let mut rng = stream(1, &[]);
        for _ in 0..200 {
            let d = sample(&logits, &params, &mut rng);
            assert!(d.token < 2, "token 2 lies outside the 0.7 nucleus");
            let p = [0.5f32, 0.3][d.token as usize];
            assert!((d.policy_logprob - p.ln()).abs() < 1e-5);
            assert!((d.sample_logprob - (p / 0.8).ln()).abs() < 1e-5);
        }
    }
}
