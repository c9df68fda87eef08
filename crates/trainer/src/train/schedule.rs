//! Learning-rate schedule: linear warm-up to the peak, then cosine decay to `min_lr_ratio × peak`.

use crate::recipe::OptimConfig;

/// The learning rate of optimizer step `step` (0-based) out of `total`.
pub fn learning_rate(optim: &OptimConfig, step: usize, total: usize) -> f64 {
    let peak = optim.lr;
    if step < optim.warmup_steps {
        return peak * (step + 1) as f64 / optim.warmup_steps as f64;
    }
    let decay_steps = total.saturating_sub(optim.warmup_steps).max(1);
    let progress = ((step - optim.warmup_steps) as f64 / decay_steps as f64).min(1.0);
    let floor = peak * optim.min_lr_ratio;
    floor + (peak - floor) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warms_up_linearly_then_decays_to_the_floor() {
        let optim = OptimConfig { lr: 1e-3, warmup_steps: 4, min_lr_ratio: 0.1, ..OptimConfig::default() };
        assert!((learning_rate(&optim, 0, 20) - 2.5e-4).abs() < 1e-12);
        assert!((learning_rate(&optim, 3, 20) - 1e-3).abs() < 1e-12);
        assert!((learning_rate(&optim, 4, 20) - 1e-3).abs() < 1e-12);
        assert!((learning_rate(&optim, 12, 20) - 5.5e-4).abs() < 1e-12);
        assert!((learning_rate(&optim, 20, 20) - 1e-4).abs() < 1e-12);
        for s in 4..20 {
            assert!(learning_rate(&optim, s + 1, 20) <= learning_rate(&optim, s, 20));
        }
    }
}
