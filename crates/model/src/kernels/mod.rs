//! Fused ops with their own backward, written through burn's public backend-extension API.
//!
//! burn 0.22's autodiff decomposes attention, RMSNorm, RoPE, SwiGLU and the token log-probability into chains of
//! small tracked ops; on the flex CPU backend each link is a separate pass over memory, most of them on one core,
//! and the tied LM head's weight gradient comes back as a strided view. Each op here is one function over burn
//! tensors that takes the fused path for f32 on flex and otherwise composes burn's ops (what every other backend
//! runs, and the reference the fused kernels are tested against), and behind it one backend extension trait with a
//! flex implementation (one or two parallel passes) and an `Autodiff` implementation whose backward is again one
//! fused op. Rows are reduced in a fixed order, so results do not depend on the number of threads.

use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::Ops;
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, DispatchDevice};
use burn::tensor::{DType, Device};
use rayon::prelude::*;

pub mod attention;
pub mod exp;
mod matmul;
pub mod projection;
pub mod rms_norm;
pub mod rotary;
pub mod swiglu;
pub mod token_logprob;

/// Whether a tensor of `dtype` on `device` takes the fused kernel: f32 on the flex CPU backend (with or without
/// autodiff). Everything else runs the composed form.
fn fused(device: &Device, dtype: DType) -> bool {
    dtype == DType::F32 && matches!(device.as_dispatch().clone().inner(), DispatchDevice::Flex(_))
}

/// Output elements below which a kernel runs on the calling thread: handing work to the thread pool costs
/// microseconds, more than the whole loop of a decoding step's few rows.
const PARALLEL_MIN: usize = 1 << 15;

/// Calls `f(i, row)` for each `row_len`-long row `i` of `out`, in parallel when `out` is large enough to pay for it.
fn for_each_row(out: &mut [f32], row_len: usize, f: impl Fn(usize, &mut [f32]) + Send + Sync) {
    if out.len() < PARALLEL_MIN {
        out.chunks_mut(row_len).enumerate().for_each(|(i, row)| f(i, row));
    } else {
        out.par_chunks_mut(row_len).enumerate().for_each(|(i, row)| f(i, row));
    }
}

/// The values of a contiguous f32 flex tensor, in row-major order.
fn values(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("a contiguous f32 tensor")
}

/// The backward step of an `N`-input op: consumes the upstream gradient, computes all input gradients at once with
/// `grads_of(state, upstream)` and registers each for the inputs that are tracked.
fn backward_all<B: Backend, S, const N: usize>(
    ops: Ops<S, N>,
    grads: &mut Gradients,
    grads_of: impl FnOnce(S, FloatTensor<B>) -> [FloatTensor<B>; N],
) {
    let Ops { parents, node, state } = ops;
    let upstream = grads.consume::<B>(&node);
    for (parent, grad) in parents.into_iter().zip(grads_of(state, upstream)) {
        if let Some(parent) = parent {
            grads.register::<B>(parent.id, grad);
        }
    }
}

/// Error measures the kernel tests compare against their references with.
#[cfg(test)]
mod check {
    /// Largest absolute difference.
    pub fn max_abs_err(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
    }

    /// Largest difference relative to the reference `b` (absolute where `|b| < 1`): for values well above 1, where
    /// one f32 rounding exceeds an absolute bound.
    pub fn max_rel_err(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter().zip(b).map(|(x, y)| (x - y).abs() / y.abs().max(1.0)).fold(0.0, f32::max)
    }
}
