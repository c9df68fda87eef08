//! Group-relative advantages, as TRL's `GRPOTrainer` computes them: `A = (r − mean_group) / (std + eps)` with the
//! Bessel-corrected standard deviation of the group (`scale = group`), of the whole batch (`batch`), or no
//! division (`none`, Dr. GRPO). Rows `g·G .. (g+1)·G` form group `g`.

use serde::{Deserialize, Serialize};

/// Which standard deviation divides the centred rewards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RewardScale {
    /// The group's (TRL's default).
    Group,
    /// The whole batch's (the mean is still per group).
    Batch,
    /// No scaling (Dr. GRPO).
    None,
}

/// Advantages of a batch and what was logged with them.
#[derive(Debug, Clone, PartialEq)]
pub struct Advantages {
    /// One advantage per row.
    pub values: Vec<f64>,
    /// For each row, whether the standard deviation used for it is zero (TRL's `is_std_zero`; with `batch`
    /// scaling it is the batch's).
    pub zero_std: Vec<bool>,
    /// For each row, whether all rewards of its group are equal (such a group carries no signal; dynamic
    /// sampling drops it).
    pub group_constant: Vec<bool>,
}

impl Advantages {
    /// Fraction of rows in groups whose rewards are all equal (TRL's `frac_reward_zero_std`).
    pub fn frac_zero_std(&self) -> f64 {
        self.zero_std.iter().filter(|&&z| z).count() as f64 / self.zero_std.len().max(1) as f64
    }
}

/// Arithmetic mean.
pub fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

/// Bessel-corrected standard deviation (NaN for fewer than two values, as torch gives).
pub fn std(x: &[f64]) -> f64 {
    if x.len() < 2 {
        return f64::NAN;
    }
    let m = mean(x);
    (x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (x.len() - 1) as f64).sqrt()
}

/// Whether a group's rewards are all equal: it has no relative advantage to learn from (DAPO's dynamic sampling
/// replaces such groups).
pub fn is_constant(group: &[f64]) -> bool {
    near_zero(std(group))
}

fn near_zero(s: f64) -> bool {
    s.abs() < 1e-8 || s.is_nan()
}

/// Advantages of `rewards` in groups of `group` rows; `eps` is added to the standard deviation (TRL: 1e-4).
pub fn group_advantages(rewards: &[f64], group: usize, scale: RewardScale, eps: f64) -> Advantages {
    let batch_std = std(rewards);
    let mut values = Vec::with_capacity(rewards.len());
    let mut zero_std = Vec::with_capacity(rewards.len());
    let mut group_constant = Vec::with_capacity(rewards.len());
    for g in rewards.chunks(group) {
        let (m, s) = (mean(g), std(g));
        let constant = near_zero(s);
        let is_zero = if scale == RewardScale::Batch { near_zero(batch_std) } else { constant };
        for &r in g {
            let centred = r - m;
            let a = match scale {
                RewardScale::Group => centred / (s + eps),
                RewardScale::Batch => centred / (batch_std + eps),
                RewardScale::None => centred,
            };
            values.push(if a.is_nan() { 0.0 } else { a });
            zero_std.push(is_zero);
            group_constant.push(constant);
        }
    }
    Advantages { values, zero_std, group_constant }
}
