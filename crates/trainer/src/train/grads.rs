//! Gradient bookkeeping between backward passes and the optimizer: accumulation over micro-batches (the one
//! place a cross-rank all-reduce goes), the global gradient norm, and clipping by it as
//! `torch.nn.utils.clip_grad_norm_` does (burn's `GradientClippingConfig::Norm` clips each tensor on its own).

use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use model::hf::NamedParam;

/// Adds `more` into `total`, parameter by parameter.
pub fn accumulate(total: Option<GradientsParams>, mut more: GradientsParams, params: &[NamedParam]) -> GradientsParams {
    let Some(mut total) = total else { return more };
    for p in params {
        match p.shape.len() {
            1 => add::<1>(&mut total, &mut more, p),
            2 => add::<2>(&mut total, &mut more, p),
            3 => add::<3>(&mut total, &mut more, p),
            _ => unreachable!("parameters have rank 1 to 3"),
        }
    }
    total
}

fn add<const D: usize>(total: &mut GradientsParams, more: &mut GradientsParams, p: &NamedParam) {
    if let Some(g) = more.remove::<D>(p.id) {
        let sum = match total.remove::<D>(p.id) {
            Some(t) => t + g,
            None => g,
        };
        total.register(p.id, sum);
    }
}

/// The L2 norm of all gradients together: per-tensor sums of squares added on the device, one read back.
pub fn global_norm(grads: &GradientsParams, params: &[NamedParam]) -> f64 {
    let mut total: Option<Tensor<1>> = None;
    for p in params {
        let sq = match p.shape.len() {
            1 => grads.get::<1>(p.id).map(square_sum),
            2 => grads.get::<2>(p.id).map(square_sum),
            3 => grads.get::<3>(p.id).map(square_sum),
            _ => None,
        };
        if let Some(sq) = sq {
            total = Some(match total {
                Some(t) => t + sq,
                None => sq,
            });
        }
    }
    total.map_or(0.0, |t| (t.into_scalar::<f32>() as f64).sqrt())
}

fn square_sum<const D: usize>(t: Tensor<D>) -> Tensor<1> {
    t.powi_scalar(2).sum()
}

/// Multiplies every gradient by `factor`.
pub fn scale(mut grads: GradientsParams, params: &[NamedParam], factor: f64) -> GradientsParams {
    for p in params {
        match p.shape.len() {
            1 => scale_one::<1>(&mut grads, p, factor),
            2 => scale_one::<2>(&mut grads, p, factor),
            3 => scale_one::<3>(&mut grads, p, factor),
            _ => {}
        }
    }
    grads
}

fn scale_one<const D: usize>(grads: &mut GradientsParams, p: &NamedParam, factor: f64) {
    if let Some(g) = grads.remove::<D>(p.id) {
        grads.register(p.id, g * factor);
    }
}

/// Clips to `max_norm` (0 disables): returns the gradients and the norm before clipping.
pub fn clip_global_norm(grads: GradientsParams, params: &[NamedParam], max_norm: f32) -> (GradientsParams, f64) {
    let norm = global_norm(&grads, params);
    if max_norm > 0.0 && norm.is_finite() && norm > max_norm as f64 {
        (scale(grads, params, max_norm as f64 / (norm + 1e-6)), norm)
    } else {
        (grads, norm)
    }
}
