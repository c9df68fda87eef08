//! The SwiGLU gate, `silu(gate) · up = gate · σ(gate) · up`, as one fused op with its own backward:
//! `d gate = g · up · σ · (1 + gate · (1 − σ))` and `d up = g · gate · σ`.
//!
//! burn composes it from a sigmoid and two products (three tracked ops, three `[tokens, intermediate]` tensors
//! written forward and five backward); the flex kernel writes one forward and two backward, in parallel chunks.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::tensor::activation::silu;
use burn::tensor::{Tensor, TensorData};
use rayon::prelude::*;

use super::exp::exp;
use super::{backward_all, for_each_row, fused, values};

/// Elements per parallel task.
const CHUNK: usize = 1 << 14;

/// `silu(gate) · up` for two tensors of the same shape.
pub fn swiglu<const D: usize>(gate: Tensor<D>, up: Tensor<D>) -> Tensor<D> {
    if !fused(&gate.device(), gate.dtype()) || gate.dims() != up.dims() {
        return composed(gate, up);
    }
    let out = <Dispatch as SwigluBackend>::swiglu(gate.into_dispatch(), up.into_dispatch());
    Tensor::from_dispatch(out)
}

/// burn's composed form.
fn composed<const D: usize>(gate: Tensor<D>, up: Tensor<D>) -> Tensor<D> {
    silu(gate) * up
}

/// The fused SwiGLU gate (flex, with or without autodiff).
#[backend_extension(Flex, Autodiff)]
pub trait SwigluBackend: Backend {
    /// `silu(gate) · up`, element-wise over two tensors of one shape.
    fn swiglu(gate: FloatTensor<Self>, up: FloatTensor<Self>) -> FloatTensor<Self>;
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

impl SwigluBackend for Flex {
    fn swiglu(gate: FlexTensor, up: FlexTensor) -> FlexTensor {
        let (gate, up) = (gate.to_contiguous(), up.to_contiguous());
        let (a, b) = (values(&gate), values(&up));
        let mut out = vec![0f32; a.len()];
        for_each_row(&mut out, CHUNK, |i, y| {
            let (a, b) = (&a[i * CHUNK..], &b[i * CHUNK..]);
            for ((y, &a), &b) in y.iter_mut().zip(a).zip(b) {
                *y = a * sigmoid(a) * b;
            }
        });
        FlexTensor::from_data(TensorData::new(out, gate.shape()))
    }
}

/// `(d gate, d up)` for upstream gradient `grad` (the formulas at the top of this module).
fn swiglu_grad(gate: FlexTensor, up: FlexTensor, grad: FlexTensor) -> (FlexTensor, FlexTensor) {
    let (gate, up, grad) = (gate.to_contiguous(), up.to_contiguous(), grad.to_contiguous());
    let (a, b, g) = (values(&gate), values(&up), values(&grad));
    let (mut da, mut db) = (vec![0f32; a.len()], vec![0f32; a.len()]);
    da.par_chunks_mut(CHUNK)
        .zip(db.par_chunks_mut(CHUNK))
        .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)).zip(g.par_chunks(CHUNK)))
        .for_each(|((da, db), ((a, b), g))| {
            for i in 0..a.len() {
                let s = sigmoid(a[i]);
                da[i] = g[i] * b[i] * s * (1.0 + a[i] * (1.0 - s));
                db[i] = g[i] * a[i] * s;
            }
        });
    let shape = gate.shape();
    (FlexTensor::from_data(TensorData::new(da, shape.clone())), FlexTensor::from_data(TensorData::new(db, shape)))
}

impl<C: CheckpointStrategy> SwigluBackend for Autodiff<Flex, C> {
    fn swiglu(gate: FloatTensor<Self>, up: FloatTensor<Self>) -> FloatTensor<Self> {
        /// Backward of the fused op: keeps its two inputs.
        #[derive(Debug)]
        struct SwigluBackward;

        impl Backward<Flex, 2> for SwigluBackward {
            type State = (FlexTensor, FlexTensor);

            fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
                backward_all::<Flex, _, 2>(ops, grads, |(gate, up), grad| swiglu_grad(gate, up, grad).into());
            }
        }

        match SwigluBackward.prepare::<C>([gate.node(), up.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let out = Flex::swiglu(gate.primitive().clone(), up.primitive().clone());
                prep.finish((gate.into_primitive(), up.into_primitive()), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::swiglu(gate.into_primitive(), up.into_primitive())),
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

    use super::*;
    use crate::host::to_vec;
    use crate::kernels::check::max_rel_err;

    /// Sizes: one partial chunk on the calling thread; three chunks, the last one partial, on the pool.
    const SIZES: [usize; 2] = [CHUNK - 77, 2 * CHUNK + 77];

    fn inputs(n: usize) -> [Vec<f32>; 3] {
        let wave = |k: usize, m: usize, scale: f32| (0..n).map(|i| ((i * k) % m) as f32 / scale - 4.0).collect();
        [wave(7919, 997, 120.0), wave(104_729, 613, 70.0), wave(15_485_863, 401, 50.0)]
    }

    /// Output, `d gate` and `d up` of `Σ upstream · op(gate, up)`.
    fn run(op: fn(Tensor<1>, Tensor<1>) -> Tensor<1>, n: usize) -> [Vec<f32>; 3] {
        let device = Device::flex().autodiff();
        let [gate, up, upstream] = inputs(n).map(|v| Tensor::<1>::from_data(TensorData::new(v, [n]), &device));
        let (gate, up) = (gate.require_grad(), up.require_grad());
        let out = op(gate.clone(), up.clone());
        let grads = (out.clone() * upstream).sum().backward();
        [to_vec(out).unwrap(), to_vec(gate.grad(&grads).unwrap()).unwrap(), to_vec(up.grad(&grads).unwrap()).unwrap()]
    }

    /// The same in f64 on the host.
    fn exact(n: usize) -> [Vec<f32>; 3] {
        let [gate, up, upstream] = inputs(n);
        let (mut out, mut da, mut db) = (vec![], vec![], vec![]);
        for i in 0..n {
            let (a, b, g) = (f64::from(gate[i]), f64::from(up[i]), f64::from(upstream[i]));
            let s = 1.0 / (1.0 + (-a).exp());
            out.push((a * s * b) as f32);
            da.push((g * b * s * (1.0 + a * (1.0 - s))) as f32);
            db.push((g * a * s) as f32);
        }
        [out, da, db]
    }

    #[test]
    fn fused_output_and_gradients_match_the_exact_ones_and_burns_composed_form() {
        for n in SIZES {
            let (fused, composed) = (run(swiglu::<1>, n), run(composed::<1>, n));
            let names = ["output", "d gate", "d up"];
            for ((name, got), (want, reference)) in names.iter().zip(&fused).zip(exact(n).iter().zip(&composed)) {
                assert!(max_rel_err(got, want) < 1e-6, "{n} elements, {name} off by {}", max_rel_err(got, want));
                assert!(
                    max_rel_err(got, reference) < 2e-6,
                    "{n} elements, {name}: composed differs by {}",
                    max_rel_err(got, reference)
                );
            }
        }
    }
}
