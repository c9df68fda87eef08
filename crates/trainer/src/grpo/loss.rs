//! The GRPO policy loss exactly as TRL's `GRPOTrainer._compute_loss` defines it (trainers.md §1.5–1.8):
//!
//! - log-ratio `ℓ = log π_θ − log π_old` per token (`token` level), or its masked mean per sequence (`sequence`
//!   level, GSPO); ratio `ρ = exp(ℓ)`;
//! - per-token loss `−min(ρ·A, clip(ρ, 1 − ε_low, 1 + ε_high)·A)`, plus `β·KL` with the k3 estimator
//!   `exp(δ) − δ − 1`, `δ = log π_ref − log π_θ`;
//! - aggregation: `grpo` (mean over sequences of their token means), `bnpo` (token mean of the micro-batch),
//!   `dr_grpo` (token sum / (rows · max_completion_length)), `dapo` (token sum / tokens of the whole step).
//!
//! Normalisers. `grpo`, `bnpo` and `dr_grpo` divide by the number of micro-batches of the optimizer step, as TRL
//! divides by its gradient-accumulation steps. `dapo` divides by `step_tokens`, the completion tokens of the whole
//! optimizer step over all ranks divided by the number of ranks (whose gradients are averaged), so its gradient is
//! the step's global token mean whatever the micro-batching or rank count (TRL 1.16 includes the same correction,
//! PR #6024). `bnpo` is, as in TRL, a mean of micro-batch token
//! means and so does depend on how the step is split.

use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// How per-token losses are aggregated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossType {
    /// Mean over sequences of each sequence's token mean (the original GRPO).
    Grpo,
    /// Token mean over the micro-batch.
    Bnpo,
    /// Token sum divided by rows × max completion length (Dr. GRPO).
    DrGrpo,
    /// Token sum divided by the completion tokens of the whole optimizer step (DAPO).
    Dapo,
}

/// Where the importance ratio is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImportanceLevel {
    /// One ratio per token.
    Token,
    /// One ratio per sequence: exp of the masked mean log-ratio (GSPO).
    Sequence,
}

/// Settings of the policy loss.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyLossConfig {
    /// Aggregation.
    pub loss_type: LossType,
    /// Ratio level.
    pub importance: ImportanceLevel,
    /// Lower clip ε_low.
    pub epsilon_low: f64,
    /// Upper clip ε_high.
    pub epsilon_high: f64,
    /// KL weight β (0: no reference model).
    pub beta: f64,
    /// The `max_new_tokens` of generation (the L of `dr_grpo`).
    pub max_completion_length: usize,
}

/// Host inputs of one micro-batch (row-major `[rows, cols]`).
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyBatch {
    /// Rows (completions).
    pub rows: usize,
    /// Columns (completion positions).
    pub cols: usize,
    /// log π_old of the sampled tokens.
    pub old_logp: Vec<f32>,
    /// log π_ref, when β > 0.
    pub ref_logp: Option<Vec<f32>>,
    /// 1 for tokens in the loss, 0 for padding (and masked truncated completions).
    pub mask: Vec<f32>,
    /// One advantage per row.
    pub advantages: Vec<f32>,
}

/// The loss and the metrics TRL logs with it.
#[derive(Debug, Clone)]
pub struct PolicyLoss {
    /// The aggregated loss of the micro-batch.
    pub loss: Tensor<1>,
    /// Per-token loss `[rows, cols]` (before masking), for inspection.
    pub per_token: Tensor<2>,
    /// Masked mean of the k3 KL (0 when β = 0).
    pub kl: f64,
    /// Fraction of loss tokens clipped below (ρ < 1 − ε_low with A < 0).
    pub clip_low: f64,
    /// Fraction clipped above (ρ > 1 + ε_high with A > 0).
    pub clip_high: f64,
    /// Fraction clipped either way.
    pub clip_region: f64,
}

/// The GRPO loss of a micro-batch. `logp` is log π_θ `[rows, cols]` (differentiable); `micro_batches` and
/// `step_tokens` are the normalisers described in the module docs.
pub fn policy_loss(
    logp: Tensor<2>,
    batch: &PolicyBatch,
    config: &PolicyLossConfig,
    micro_batches: usize,
    step_tokens: f64,
) -> PolicyLoss {
    let device = logp.device();
    let shape = [batch.rows, batch.cols];
    let host = |v: &[f32]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), shape), &device);
    let mask = host(&batch.mask);
    let old = host(&batch.old_logp);
    let adv_rows: Vec<f32> = batch.advantages.iter().flat_map(|&a| std::iter::repeat_n(a, batch.cols)).collect();
    let adv = host(&adv_rows);
    let log_ratio = logp.clone() - old;
    let log_ratio = match config.importance {
        ImportanceLevel::Token => log_ratio,
        ImportanceLevel::Sequence => {
            let per_seq = (log_ratio * mask.clone()).sum_dim(1) / mask.clone().sum_dim(1).clamp_min(1.0);
            per_seq.expand(shape)
        }
    };
    let ratio = log_ratio.exp();
    let clipped = ratio.clone().clamp(1.0 - config.epsilon_low, 1.0 + config.epsilon_high);
    let unclipped_term = ratio.clone() * adv.clone();
    let clipped_term = clipped * adv.clone();
    let mut per_token = unclipped_term.min_pair(clipped_term).neg();
    let mut kl = 0.0;
    if config.beta > 0.0 {
        let reference = host(batch.ref_logp.as_deref().expect("ref_logp is required when beta > 0"));
        // δ is masked before the exponential: at a padded cell log π_θ is junk (the reference holds 0 there), and
        // exp(−junk) can overflow to inf, and inf · 0 is NaN in the loss and in its gradient. TRL's padded cells
        // hold real log-probs on both sides, so δ ≈ 0 there and its values are unchanged by this.
        let delta = (reference - logp) * mask.clone();
        let k3 = delta.clone().exp() - delta - 1.0;
        kl = masked_mean(&(k3.clone() * mask.clone()), &mask);
        per_token = per_token + k3 * config.beta;
    }
    let masked = per_token.clone() * mask.clone();
    let ga = micro_batches as f64;
    let loss = match config.loss_type {
        LossType::Grpo => {
            let per_seq = masked.sum_dim(1) / mask.clone().sum_dim(1).clamp_min(1.0);
            per_seq.mean().reshape([1]) / ga
        }
        LossType::Bnpo => masked.sum() / mask.clone().sum().clamp_min(1.0) / ga,
        LossType::DrGrpo => masked.sum() / (batch.rows * config.max_completion_length) as f64 / ga,
        LossType::Dapo => masked.sum() / step_tokens.max(1.0),
    };
    let ratio_host = model::host::to_vec(ratio).expect("ratios read back as f32");
    // TRL averages clip indicators over loss tokens at token level and over sequences at sequence level.
    let (mut low, mut high, mut tokens) = (0.0, 0.0, 0.0);
    for row in 0..batch.rows {
        let a = batch.advantages[row] as f64;
        let cells = row * batch.cols..(row + 1) * batch.cols;
        let live: Vec<usize> = cells.filter(|&i| batch.mask[i] != 0.0).collect();
        let counted: &[usize] = match config.importance {
            ImportanceLevel::Token => &live,
            ImportanceLevel::Sequence => &live[..live.len().min(1)],
        };
        for &i in counted {
            let r = ratio_host[i] as f64;
            tokens += 1.0;
            low += (r < 1.0 - config.epsilon_low && a < 0.0) as u8 as f64;
            high += (r > 1.0 + config.epsilon_high && a > 0.0) as u8 as f64;
        }
    }
    let frac = |x: f64| if tokens > 0.0 { x / tokens } else { 0.0 };
    PolicyLoss { loss, per_token, kl, clip_low: frac(low), clip_high: frac(high), clip_region: frac(low + high) }
}

fn masked_mean(values: &Tensor<2>, mask: &Tensor<2>) -> f64 {
    let total = mask.clone().sum().into_scalar::<f32>() as f64;
    if total == 0.0 { 0.0 } else { values.clone().sum().into_scalar::<f32>() as f64 / total }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    /// A padded cell whose junk log-prob would overflow `exp(δ)` leaves the loss and its gradient finite, and
    /// equal to those of the same batch with a harmless value there.
    #[test]
    fn extreme_log_probs_at_padded_cells_do_not_reach_the_loss() {
        let device = Device::flex().autodiff();
        let batch = PolicyBatch {
            rows: 1,
            cols: 3,
            old_logp: vec![-1.0, -2.0, 0.0],
            ref_logp: Some(vec![-1.1, -1.9, 0.0]),
            mask: vec![1.0, 1.0, 0.0],
            advantages: vec![0.5],
        };
        let config = PolicyLossConfig {
            loss_type: LossType::Grpo,
            importance: ImportanceLevel::Token,
            epsilon_low: 0.2,
            epsilon_high: 0.2,
            beta: 0.04,
            max_completion_length: 3,
        };
        let run = |pad: f32| {
            let logp = Tensor::<2>::from_data(TensorData::new(vec![-1.05, -1.95, pad], [1, 3]), &device).require_grad();
            let out = policy_loss(logp.clone(), &batch, &config, 1, 2.0);
            let grads = out.loss.clone().backward();
            let grad = model::host::to_vec(logp.grad(&grads).unwrap()).unwrap();
            (out.loss.into_scalar::<f32>(), grad, out.kl)
        };
        let (loss, grad, kl) = run(-500.0);
        assert!(loss.is_finite() && kl.is_finite() && grad.iter().all(|g| g.is_finite()), "{loss} {kl} {grad:?}");
        assert_eq!((loss, grad, kl), run(-1.0));
    }
}
