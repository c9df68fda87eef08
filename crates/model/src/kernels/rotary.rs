//! Rotary position embedding in HF's rotate-half layout, `y = x · cos + rotate_half(x) · sin` with
//! `rotate_half([x₁, x₂]) = [−x₂, x₁]`, as one fused op with its own backward. The tables repeat over the two
//! halves of a head (as [`crate::rope::RopeTables`] builds them), so the gradient is the same rotation by the
//! opposite angle: `dx = g · cos − rotate_half(g) · sin`.
//!
//! burn composes it from two narrows, a negation, a concatenation, two products and a sum (seven tracked ops on
//! the queries and seven on the keys of every layer); the flex kernel makes one pass each way, rows in parallel.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::tensor::{Tensor, TensorData};

use super::{for_each_row, fused, values};

/// Rotates `x` (`[batch, seq, heads, head_dim]`) by the tables `cos`, `sin` (`[batch, seq, 1, head_dim]`).
pub fn rotate(x: Tensor<4>, cos: Tensor<4>, sin: Tensor<4>) -> Tensor<4> {
    if !fused(&x.device(), x.dtype()) {
        return composed(x, cos, sin);
    }
    let [b, t, h, d] = x.dims();
    let x = x.reshape([b * t, h, d]).into_dispatch();
    let (cos, sin) = (cos.reshape([b * t, d]).into_dispatch(), sin.reshape([b * t, d]).into_dispatch());
    Tensor::<3>::from_dispatch(<Dispatch as RotaryBackend>::rotate(x, cos, sin)).reshape([b, t, h, d])
}

/// burn's composed form (HF's `x * cos + rotate_half(x) * sin`).
fn composed(x: Tensor<4>, cos: Tensor<4>, sin: Tensor<4>) -> Tensor<4> {
    let half = x.dims()[3] / 2;
    let x1 = x.clone().narrow(3, 0, half);
    let x2 = x.clone().narrow(3, half, half);
    x * cos + Tensor::cat(vec![x2.neg(), x1], 3) * sin
}

/// The fused rotation (flex, with or without autodiff); differentiable in `x` only (the tables are constants).
#[backend_extension(Flex, Autodiff)]
pub trait RotaryBackend: Backend {
    /// `x [positions, heads, head_dim]`, `cos`, `sin` `[positions, head_dim]` → `[positions, heads, head_dim]`.
    fn rotate(x: FloatTensor<Self>, cos: FloatTensor<Self>, sin: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// `x · cos + sign · rotate_half(x) · sin` over `[positions, heads, head_dim]`; `sign = −1` is the backward.
fn rotate_kernel(x: &FlexTensor, cos: &FlexTensor, sin: &FlexTensor, sign: f32) -> FlexTensor {
    let (x, cos, sin) = (x.to_contiguous(), cos.to_contiguous(), sin.to_contiguous());
    let [_, heads, d] = x.shape().dims();
    let (xs, c, s) = (values(&x), values(&cos), values(&sin));
    let half = d / 2;
    let mut out = vec![0f32; xs.len()];
    for_each_row(&mut out, heads * d, |p, y| {
        let (c, s) = (&c[p * d..(p + 1) * d], &s[p * d..(p + 1) * d]);
        for (y, x) in y.chunks_mut(d).zip(xs[p * heads * d..(p + 1) * heads * d].chunks(d)) {
            for j in 0..half {
                y[j] = x[j] * c[j] - sign * x[j + half] * s[j];
                y[j + half] = x[j + half] * c[j + half] + sign * x[j] * s[j + half];
            }
        }
    });
    FlexTensor::from_data(TensorData::new(out, x.shape()))
}

impl RotaryBackend for Flex {
    fn rotate(x: FlexTensor, cos: FlexTensor, sin: FlexTensor) -> FlexTensor {
        rotate_kernel(&x, &cos, &sin, 1.0)
    }
}

impl<C: CheckpointStrategy> RotaryBackend for Autodiff<Flex, C> {
    fn rotate(x: FloatTensor<Self>, cos: FloatTensor<Self>, sin: FloatTensor<Self>) -> FloatTensor<Self> {
        /// Backward of the fused op: keeps the tables only.
        #[derive(Debug)]
        struct RotaryBackward;

        impl Backward<Flex, 1> for RotaryBackward {
            type State = (FlexTensor, FlexTensor);

            fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
                let (cos, sin) = ops.state;
                unary::<Flex, _>(ops.parents, ops.node, grads, |grad| rotate_kernel(&grad, &cos, &sin, -1.0));
            }
        }

        let (cos, sin) = (cos.into_primitive(), sin.into_primitive());
        let out = rotate_kernel(x.primitive(), &cos, &sin, 1.0);
        match RotaryBackward.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish((cos, sin), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

    use super::*;
    use crate::host::to_vec;
    use crate::kernels::check::max_abs_err;
    use crate::rope::RopeTables;

    /// `[batch, seq, heads, head_dim]` shapes: 240 elements run on the calling thread, 33,600 on the pool.
    const SHAPES: [[usize; 4]; 2] = [[2, 5, 3, 8], [2, 700, 3, 8]];

    /// Output and `dx` of `Σ upstream · op(x)`, the second row 7 positions further on (as with left padding).
    fn run(op: fn(Tensor<4>, Tensor<4>, Tensor<4>) -> Tensor<4>, shape: [usize; 4]) -> [Vec<f32>; 2] {
        let device = Device::flex().autodiff();
        let n: usize = shape.iter().product();
        let wave = |k: usize, m: usize| (0..n).map(|i| ((i * k) % m) as f32 / 100.0 - 2.0).collect::<Vec<_>>();
        let x = Tensor::<4>::from_data(TensorData::new(wave(7919, 397), shape), &device).require_grad();
        let upstream = Tensor::<4>::from_data(TensorData::new(wave(104_729, 263), shape), &device);
        let seq = shape[1];
        let positions: Vec<usize> = (0..seq).chain(7..seq + 7).collect();
        let tables = RopeTables::new(&positions, shape[0], seq, shape[3], 10_000.0, &device);
        let out = op(x.clone(), tables.cos, tables.sin);
        let grads = (out.clone() * upstream).sum().backward();
        [to_vec(out).unwrap(), to_vec(x.grad(&grads).unwrap()).unwrap()]
    }

    #[test]
    fn fused_rotation_and_its_gradient_match_burns_composed_form() {
        for shape in SHAPES {
            let (fused, composed) = (run(rotate, shape), run(composed, shape));
            for (name, (a, b)) in ["output", "dx"].iter().zip(fused.iter().zip(&composed)) {
                let err = max_abs_err(a, b);
                assert!(err < 1e-6, "{shape:?}, {name}: fused and composed differ by {err}");
            }
        }
    }
}
