//! Gradient bookkeeping between backward passes and the optimizer: accumulation over micro-batches, the one
//! cross-rank reduction per optimizer step, the global gradient norm, and clipping by it as
//! `torch.nn.utils.clip_grad_norm_` does (burn's `GradientClippingConfig::Norm` clips each tensor on its own).

use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use model::hf::NamedParam;
use model::host::to_vec;

use crate::train::collective::{Collective, ReduceOp};

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

/// The device the gradients live on.
fn grad_device(grads: &GradientsParams, params: &[NamedParam]) -> Option<Device> {
    params.iter().find_map(|p| match p.shape.len() {
        1 => grads.get::<1>(p.id).map(|g| g.device()),
        2 => grads.get::<2>(p.id).map(|g| g.device()),
        _ => grads.get::<3>(p.id).map(|g| g.device()),
    })
}

/// Every gradient in one host buffer: parameters in `params` order, each flattened (zeros where a parameter has
/// no gradient), then one presence flag (1 or 0) per parameter. One device read-back.
fn flatten(grads: &GradientsParams, params: &[NamedParam], device: &Device) -> anyhow::Result<Vec<f32>> {
    let mut parts: Vec<Tensor<1>> = Vec::with_capacity(params.len());
    let mut present = Vec::with_capacity(params.len());
    for p in params {
        let numel: usize = p.shape.iter().product();
        let g = match p.shape.len() {
            1 => grads.get::<1>(p.id).map(|g| g.reshape([numel])),
            2 => grads.get::<2>(p.id).map(|g| g.reshape([numel])),
            3 => grads.get::<3>(p.id).map(|g| g.reshape([numel])),
            _ => unreachable!("parameters have rank 1 to 3"),
        };
        present.push(g.is_some() as u8 as f32);
        parts.push(g.unwrap_or_else(|| Tensor::zeros([numel], device)));
    }
    let mut host = to_vec(Tensor::cat(parts, 0))?;
    host.extend(present);
    Ok(host)
}

/// The inverse of [`flatten`]: registers each present parameter's slice of `host` as its gradient.
fn unflatten(host: &[f32], params: &[NamedParam], device: &Device) -> GradientsParams {
    let total: usize = params.iter().map(|p| p.shape.iter().product::<usize>()).sum();
    let flat = Tensor::<1>::from_data(TensorData::new(host[..total].to_vec(), [total]), device);
    let mut grads = GradientsParams::new();
    let mut offset = 0;
    for (p, &present) in params.iter().zip(&host[total..]) {
        let numel: usize = p.shape.iter().product();
        if present > 0.0 {
            let slice = flat.clone().narrow(0, offset, numel);
            match p.shape.len() {
                1 => grads.register(p.id, slice),
                2 => grads.register(p.id, slice.reshape([p.shape[0], p.shape[1]])),
                3 => grads.register(p.id, slice.reshape([p.shape[0], p.shape[1], p.shape[2]])),
                _ => unreachable!("parameters have rank 1 to 3"),
            }
        }
        offset += numel;
    }
    grads
}

/// The step's gradients averaged over all ranks (summed, divided by the world size): one flattened buffer, one
/// all-reduce. A parameter has a gradient afterwards when it had one on any rank. With one rank, `grads` as they
/// are. With `keep_host`, also the averaged gradients as one host buffer (parameters in order; a test dump).
pub fn all_reduce_mean(
    grads: GradientsParams,
    params: &[NamedParam],
    comm: &dyn Collective,
    keep_host: bool,
) -> anyhow::Result<(GradientsParams, Option<Vec<f32>>)> {
    let world = comm.world_size();
    if world == 1 && !keep_host {
        return Ok((grads, None));
    }
    let device = grad_device(&grads, params).ok_or_else(|| anyhow::anyhow!("the step produced no gradient"))?;
    let device = &device;
    let mut host = flatten(&grads, params, device)?;
    if world > 1 {
        comm.all_reduce_f32("gradient all-reduce", &mut host, ReduceOp::Sum);
        let total = host.len() - params.len();
        let scale = 1.0 / world as f32;
        host[..total].iter_mut().for_each(|g| *g *= scale);
    }
    let reduced = if world > 1 { unflatten(&host, params, device) } else { grads };
    host.truncate(host.len() - params.len());
    Ok((reduced, keep_host.then_some(host)))
}
