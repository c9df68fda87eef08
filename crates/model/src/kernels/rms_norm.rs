//! RMSNorm, `y = x · r · w` with `r = 1 / sqrt(mean(x²) + eps)` per row, as one fused op with its own backward:
//! `dx = r · (g·w) − x · r³ · mean((g·w) · x)` and `dw = Σ_rows g · x · r`.
//!
//! burn composes it from seven tracked ops (square, mean, add, sqrt, reciprocal and two products), each a pass over
//! the activations forward and again backward; a decoder runs it twice per layer (four times with Qwen3's q/k norms).
//! The flex kernel reads each row once per direction, rows in parallel. `dw` is summed in f64 over fixed blocks of
//! rows, then over the blocks in order, so it does not depend on the number of threads.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::tensor::{Tensor, TensorData};
use rayon::prelude::*;

use super::{backward_all, for_each_row, fused, values};

/// Rows per block of the weight gradient's partial sums.
const BLOCK_ROWS: usize = 32;

/// Normalises the last dimension of `x` and scales it by `weight` (`[d]`).
pub fn rms_norm<const D: usize>(x: Tensor<D>, weight: Tensor<1>, eps: f64) -> Tensor<D> {
    if !fused(&x.device(), x.dtype()) {
        return composed(x, weight, eps);
    }
    let dims = x.dims();
    let rows = dims[..D - 1].iter().product();
    let x = x.reshape([rows, dims[D - 1]]).into_dispatch();
    let out = <Dispatch as RmsNormBackend>::rms_norm(x, weight.into_dispatch(), eps);
    Tensor::<2>::from_dispatch(out).reshape(dims)
}

/// burn's composed form (HF's formula, op by op).
fn composed<const D: usize>(x: Tensor<D>, weight: Tensor<1>, eps: f64) -> Tensor<D> {
    let mean_square = x.clone().powi_scalar(2).mean_dim(D - 1);
    let x = x * (mean_square + eps).sqrt().recip();
    x * weight.unsqueeze::<D>()
}

/// The fused RMSNorm (flex, with or without autodiff).
#[backend_extension(Flex, Autodiff)]
pub trait RmsNormBackend: Backend {
    /// `x [rows, d]`, `weight [d]` → `[rows, d]`.
    fn rms_norm(x: FloatTensor<Self>, weight: FloatTensor<Self>, eps: f64) -> FloatTensor<Self>;
}

/// `1 / sqrt(mean(row²) + eps)`, the square summed in f64.
fn inv_rms(row: &[f32], eps: f64) -> f32 {
    let mean_square = row.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / row.len() as f64;
    (1.0 / (mean_square + eps).sqrt()) as f32
}

impl RmsNormBackend for Flex {
    fn rms_norm(x: FlexTensor, weight: FlexTensor, eps: f64) -> FlexTensor {
        let (x, weight) = (x.to_contiguous(), weight.to_contiguous());
        let (xs, w) = (values(&x), values(&weight));
        let (mut out, d) = (vec![0f32; xs.len()], w.len());
        for_each_row(&mut out, d, |i, y| {
            let row = &xs[i * d..(i + 1) * d];
            let r = inv_rms(row, eps);
            for ((y, &v), &w) in y.iter_mut().zip(row).zip(w) {
                *y = v * r * w;
            }
        });
        FlexTensor::from_data(TensorData::new(out, x.shape()))
    }
}

/// `(dx, dw)` for upstream gradient `grad` (the formulas at the top of this module).
fn rms_norm_grad(x: FlexTensor, weight: FlexTensor, grad: FlexTensor, eps: f64) -> (FlexTensor, FlexTensor) {
    let (x, weight, grad) = (x.to_contiguous(), weight.to_contiguous(), grad.to_contiguous());
    let (xs, w, gs) = (values(&x), values(&weight), values(&grad));
    let d = w.len();
    let mut dx = vec![0f32; xs.len()];
    let block = BLOCK_ROWS * d;
    let partials: Vec<Vec<f64>> = dx
        .par_chunks_mut(block)
        .zip(xs.par_chunks(block).zip(gs.par_chunks(block)))
        .map(|(dx, (xs, gs))| {
            let mut dw = vec![0f64; d];
            for ((dx, row), g) in dx.chunks_mut(d).zip(xs.chunks(d)).zip(gs.chunks(d)) {
                let r = inv_rms(row, eps);
                let dot = row.iter().zip(g).zip(w).map(|((&v, &g), &w)| f64::from(g * w) * f64::from(v)).sum::<f64>();
                let c = (f64::from(r).powi(3) * dot / d as f64) as f32;
                for (j, dx) in dx.iter_mut().enumerate() {
                    *dx = r * g[j] * w[j] - row[j] * c;
                    dw[j] += f64::from(g[j] * row[j] * r);
                }
            }
            dw
        })
        .collect();
    let mut dw = vec![0f64; d];
    for partial in &partials {
        dw.iter_mut().zip(partial).for_each(|(a, b)| *a += b);
    }
    let dw: Vec<f32> = dw.into_iter().map(|v| v as f32).collect();
    (FlexTensor::from_data(TensorData::new(dx, x.shape())), FlexTensor::from_data(TensorData::new(dw, [d])))
}

impl<C: CheckpointStrategy> RmsNormBackend for Autodiff<Flex, C> {
    fn rms_norm(x: FloatTensor<Self>, weight: FloatTensor<Self>, eps: f64) -> FloatTensor<Self> {
        /// Backward of the fused op: keeps its two inputs and recomputes `r`.
        #[derive(Debug)]
        struct RmsNormBackward;

        impl Backward<Flex, 2> for RmsNormBackward {
            type State = (FlexTensor, FlexTensor, f64);

            fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
                backward_all::<Flex, _, 2>(ops, grads, |(x, w, eps), grad| rms_norm_grad(x, w, grad, eps).into());
            }
        }

        match RmsNormBackward.prepare::<C>([x.node(), weight.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let out = Flex::rms_norm(x.primitive().clone(), weight.primitive().clone(), eps);
                prep.finish((x.into_primitive(), weight.into_primitive(), eps), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::rms_norm(x.into_primitive(), weight.into_primitive(), eps)),
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

    use super::*;
    use crate::host::to_vec;
    use crate::kernels::check::max_rel_err;

    const D: usize = 24;
    const EPS: f64 = 1e-6;
    /// Row counts: 70 runs on the calling thread (more than two weight-gradient blocks, the last one partial);
    /// 1,400 rows are above `PARALLEL_MIN` elements and run on the pool.
    const SIZES: [usize; 2] = [70, 1400];

    fn inputs(rows: usize) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let x = (0..rows * D).map(|i| ((i * 7919) % 997) as f32 / 150.0 - 3.0).collect();
        let w = (0..D).map(|j| 0.5 + j as f32 / 10.0).collect();
        let upstream = (0..rows * D).map(|i| ((i * 104_729) % 613) as f32 / 300.0 - 1.0).collect();
        (x, w, upstream)
    }

    /// Output, `dx` and `dw` of `Σ upstream · op(x, w)`.
    fn run(op: fn(Tensor<2>, Tensor<1>, f64) -> Tensor<2>, rows: usize) -> [Vec<f32>; 3] {
        let device = Device::flex().autodiff();
        let (x, w, upstream) = inputs(rows);
        let x = Tensor::<2>::from_data(TensorData::new(x, [rows, D]), &device).require_grad();
        let w = Tensor::<1>::from_data(TensorData::new(w, [D]), &device).require_grad();
        let upstream = Tensor::<2>::from_data(TensorData::new(upstream, [rows, D]), &device);
        let out = op(x.clone(), w.clone(), EPS);
        let grads = (out.clone() * upstream).sum().backward();
        [to_vec(out).unwrap(), to_vec(x.grad(&grads).unwrap()).unwrap(), to_vec(w.grad(&grads).unwrap()).unwrap()]
    }

    /// The same in f64 on the host.
    fn exact(rows: usize) -> [Vec<f32>; 3] {
        let (x, w, upstream) = inputs(rows);
        let (mut out, mut dx, mut dw) = (vec![], vec![], vec![0f64; D]);
        for (row, g) in x.chunks(D).zip(upstream.chunks(D)) {
            let row: Vec<f64> = row.iter().map(|&v| f64::from(v)).collect();
            let r = 1.0 / (row.iter().map(|v| v * v).sum::<f64>() / D as f64 + EPS).sqrt();
            let gw: Vec<f64> = (0..D).map(|j| f64::from(g[j]) * f64::from(w[j])).collect();
            let dot: f64 = (0..D).map(|j| gw[j] * row[j]).sum();
            for j in 0..D {
                out.push((row[j] * r * f64::from(w[j])) as f32);
                dx.push((r * gw[j] - row[j] * r.powi(3) * dot / D as f64) as f32);
                dw[j] += f64::from(g[j]) * row[j] * r;
            }
        }
        [out, dx, dw.into_iter().map(|v| v as f32).collect()]
    }

    #[test]
    fn fused_output_and_gradients_match_the_exact_ones_and_burns_composed_form() {
        for rows in SIZES {
            let (fused, composed) = (run(rms_norm::<2>, rows), run(composed::<2>, rows));
            let names = ["output", "dx", "dw"];
            for ((name, got), (want, reference)) in names.iter().zip(&fused).zip(exact(rows).iter().zip(&composed)) {
                assert!(max_rel_err(got, want) < 2e-6, "{rows} rows, {name} off by {}", max_rel_err(got, want));
                assert!(
                    max_rel_err(got, reference) < 1e-5,
                    "{rows} rows, {name}: composed differs by {}",
                    max_rel_err(got, reference)
                );
            }
        }
    }

    #[test]
    fn higher_rank_inputs_normalise_their_last_dimension() {
        let device = Device::flex();
        let (x, w, _) = inputs(70);
        let x3 = Tensor::<3>::from_data(TensorData::new(x.clone(), [2, 35, D]), &device);
        let x2 = Tensor::<2>::from_data(TensorData::new(x, [70, D]), &device);
        let w = Tensor::<1>::from_data(TensorData::new(w, [D]), &device);
        let a = to_vec(rms_norm(x3, w.clone(), EPS)).unwrap();
        let b = to_vec(composed(x2, w, EPS)).unwrap();
        assert!(max_rel_err(&a, &b) < 5e-6);
    }
}
