//! Linear projections without bias as one op with its own backward, for both weight layouts the model holds: a
//! `Linear`'s `[in, out]` (`y = x · W`) and the tied LM head's embedding `[vocab, hidden]` (`logits = x · Eᵀ`).
//! Backward: `dx = dy · Wᵀ` (or `dy · E`) and `dW = xᵀ · dy` (or `dE = dyᵀ · x`), each one gemm on strided views.
//!
//! burn's composed forms cost more on flex than their matrix products: every product's output buffer is zero-filled
//! and then copied once more to realign it (burn-flex's `FlexTensor::empty`), about 5 % of a 135M training step,
//! and the tied head's `dE` comes back as the transpose of a `[hidden, vocab]` product, a strided view that autodiff
//! then adds element by element to the embedding lookup's gradient of the same weight (7.7 % of that step). Here
//! every product is written once, row-major, straight from gemm (benches/README.md).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::nn::Linear;
use burn::tensor::module::linear;
use burn::tensor::{Tensor, TensorData};

use super::matmul::{Mat, product};
use super::{backward_all, fused, values};

/// `linear.forward(x)` for `x` `[..., in]`: the fused op when the layer has no bias.
pub fn project<const D: usize>(layer: &Linear, x: Tensor<D>) -> Tensor<D> {
    match &layer.bias {
        None if fused(&x.device(), x.dtype()) => fused_projection(x, layer.weight.val(), false),
        _ => layer.forward(x),
    }
}

/// Logits `[..., vocab]` of `hidden` (`[..., hidden]`) under the tied head `embedding` (`[vocab, hidden]`).
pub fn tied_logits<const D: usize>(hidden: Tensor<D>, embedding: Tensor<2>) -> Tensor<D> {
    if !fused(&hidden.device(), hidden.dtype()) {
        return tied_composed(hidden, embedding);
    }
    fused_projection(hidden, embedding, true)
}

/// burn's composed tied head, `linear(hidden, Eᵀ)`.
fn tied_composed<const D: usize>(hidden: Tensor<D>, embedding: Tensor<2>) -> Tensor<D> {
    linear(hidden, embedding.transpose(), None)
}

/// `x · W` (`W [in, out]`) or, when `transposed`, `x · Wᵀ` (`W [out, in]`), through the fused op on `[rows, in]`.
fn fused_projection<const D: usize>(x: Tensor<D>, weight: Tensor<2>, transposed: bool) -> Tensor<D> {
    let mut dims = x.dims();
    let [a, b] = weight.dims();
    let (width, out) = if transposed { (b, a) } else { (a, b) };
    let rows = x.shape().num_elements() / width;
    let y = <Dispatch as ProjectionBackend>::project(
        x.reshape([rows, width]).into_dispatch(),
        weight.into_dispatch(),
        transposed,
    );
    dims[D - 1] = out;
    Tensor::<2>::from_dispatch(y).reshape(dims)
}

/// The fused projection (flex, with or without autodiff); differentiable in both inputs.
#[backend_extension(Flex, Autodiff)]
pub trait ProjectionBackend: Backend {
    /// `x [rows, in]` times `weight [in, out]`, or times `weightᵀ` for `weight [out, in]` when `transposed`.
    fn project(x: FloatTensor<Self>, weight: FloatTensor<Self>, transposed: bool) -> FloatTensor<Self>;
}

/// The weight as the `[in, out]` matrix the product uses (a transposed view when stored `[out, in]`), and `out`.
fn weight_view(weight: &FlexTensor, transposed: bool) -> (Mat, usize) {
    let [a, b] = weight.shape().dims();
    let dense = Mat::dense(values(weight).as_ptr(), b);
    if transposed { (dense.t(), a) } else { (dense, b) }
}

impl ProjectionBackend for Flex {
    fn project(x: FlexTensor, weight: FlexTensor, transposed: bool) -> FlexTensor {
        let (x, weight) = (x.to_contiguous(), weight.to_contiguous());
        let [rows, width] = x.shape().dims();
        let (w, out) = weight_view(&weight, transposed);
        // SAFETY: the views address the contiguous `[rows, in]` input and the weight just borrowed.
        let y = unsafe { product(rows, out, width, Mat::dense(values(&x).as_ptr(), width), w) };
        FlexTensor::from_data(TensorData::new(y, [rows, out]))
    }
}

/// `[dx, d weight]` for upstream gradient `grad` (`[rows, out]`); `d weight` in the weight's own layout.
fn projection_grad(x: &FlexTensor, weight: &FlexTensor, transposed: bool, grad: &FlexTensor) -> [FlexTensor; 2] {
    let grad = grad.to_contiguous();
    let [rows, width] = x.shape().dims();
    let (w, out) = weight_view(weight, transposed);
    let (xs, g) = (Mat::dense(values(x).as_ptr(), width), Mat::dense(values(&grad).as_ptr(), out));
    // SAFETY: the views address the three contiguous buffers borrowed here, with their shapes.
    let (dx, dw) = unsafe {
        let dx = product(rows, width, out, g, w.t());
        let dw = if transposed { product(out, width, rows, g.t(), xs) } else { product(width, out, rows, xs.t(), g) };
        (dx, dw)
    };
    [
        FlexTensor::from_data(TensorData::new(dx, [rows, width])),
        FlexTensor::from_data(TensorData::new(dw, weight.shape())),
    ]
}

impl<C: CheckpointStrategy> ProjectionBackend for Autodiff<Flex, C> {
    fn project(x: FloatTensor<Self>, weight: FloatTensor<Self>, transposed: bool) -> FloatTensor<Self> {
        /// Backward of the fused op: keeps both inputs (contiguous) and the weight's layout.
        #[derive(Debug)]
        struct ProjectionBackward;

        impl Backward<Flex, 2> for ProjectionBackward {
            type State = (FlexTensor, FlexTensor, bool);

            fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
                backward_all::<Flex, _, 2>(ops, grads, |(x, weight, transposed), grad| {
                    projection_grad(&x, &weight, transposed, &grad)
                });
            }
        }

        match ProjectionBackward.prepare::<C>([x.node(), weight.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (x, weight) = (x.primitive().to_contiguous(), weight.primitive().to_contiguous());
                let y = Flex::project(x.clone(), weight.clone(), transposed);
                prep.finish((x, weight, transposed), y)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(Flex::project(x.into_primitive(), weight.into_primitive(), transposed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

    use super::*;
    use crate::host::to_vec;

    /// `(batch, seq, in, out)`: products on the calling thread; products split over the pool.
    const SHAPES: [(usize, usize, usize, usize); 2] = [(2, 3, 8, 11), (2, 64, 128, 515)];

    /// Inputs `[x, weight, upstream]`, row-major; the weight is `[out, in]` when `transposed`, else `[in, out]`.
    fn inputs((b, t, w, v): (usize, usize, usize, usize)) -> [Vec<f32>; 3] {
        let wave =
            |n: usize, k: usize, m: usize| (0..n).map(|i| ((i * k) % m) as f32 / (m as f32 / 2.0) - 1.0).collect();
        [wave(b * t * w, 7919, 397), wave(v * w, 104_729, 263), wave(b * t * v, 1_299_709, 101)]
    }

    /// Output, `dx` and `d weight` of `Σ upstream · projection(x, weight)`, fused or composed.
    fn run(fused: bool, transposed: bool, shape: (usize, usize, usize, usize)) -> [Vec<f32>; 3] {
        let (b, t, w, v) = shape;
        let device = Device::flex().autodiff();
        let [x, weight, upstream] = inputs(shape);
        let x = Tensor::<3>::from_data(TensorData::new(x, [b, t, w]), &device).require_grad();
        let weight_dims = if transposed { [v, w] } else { [w, v] };
        let weight = Tensor::<2>::from_data(TensorData::new(weight, weight_dims), &device).require_grad();
        let upstream = Tensor::<3>::from_data(TensorData::new(upstream, [b, t, v]), &device);
        let out = match (fused, transposed) {
            (true, _) => fused_projection(x.clone(), weight.clone(), transposed),
            (false, true) => tied_composed(x.clone(), weight.clone()),
            (false, false) => linear(x.clone(), weight.clone(), None),
        };
        let grads = (out.clone() * upstream).sum().backward();
        let grad = |p: &Tensor<3>| to_vec(p.grad(&grads).unwrap()).unwrap();
        [to_vec(out).unwrap(), grad(&x), to_vec(weight.grad(&grads).unwrap()).unwrap()]
    }

    /// `a · b` (`m × k`, `k × n`, given by element functions) in f64, with `Σ |a_ik · b_kj|` beside each element.
    fn exact_product(
        (m, n, k): (usize, usize, usize),
        a: impl Fn(usize, usize) -> f32,
        b: impl Fn(usize, usize) -> f32,
    ) -> Vec<(f64, f64)> {
        let mut out = Vec::with_capacity(m * n);
        for i in 0..m {
            for j in 0..n {
                let terms = (0..k).map(|l| f64::from(a(i, l)) * f64::from(b(l, j)));
                out.push(terms.fold((0.0, 0.0), |(sum, abs), x| (sum + x, abs + x.abs())));
            }
        }
        out
    }

    /// The three results in f64: `y = x Wᵢₒ`, `dx = G Wᵢₒᵀ`, `d weight` (`xᵀ G` as `[in, out]`, or its transpose).
    fn exact(transposed: bool, shape: (usize, usize, usize, usize)) -> [Vec<(f64, f64)>; 3] {
        let (b, t, w, v) = shape;
        let rows = b * t;
        let [x, weight, g] = inputs(shape);
        // Element (in l, out j) of the weight as an `[in, out]` matrix.
        let wt = |l: usize, j: usize| if transposed { weight[j * w + l] } else { weight[l * v + j] };
        let d_weight = if transposed {
            exact_product((v, w, rows), |i, l| g[l * v + i], |l, j| x[l * w + j])
        } else {
            exact_product((w, v, rows), |i, l| x[l * w + i], |l, j| g[l * v + j])
        };
        [
            exact_product((rows, v, w), |i, l| x[i * w + l], wt),
            exact_product((rows, w, v), |i, l| g[i * v + l], |l, j| wt(j, l)),
            d_weight,
        ]
    }

    /// Both forms in both layouts against the exact products: each element within 1e-6 of the sum of its terms'
    /// magnitudes (f32 accumulation over up to 515 terms; measured ≤ 1.9e-7).
    #[test]
    fn fused_and_composed_projections_and_gradients_match_the_exact_products() {
        for shape in SHAPES {
            for transposed in [true, false] {
                let exact = exact(transposed, shape);
                for (form, got) in
                    [("fused", run(true, transposed, shape)), ("composed", run(false, transposed, shape))]
                {
                    for (name, (got, want)) in ["y", "dx", "d weight"].iter().zip(got.iter().zip(&exact)) {
                        let worst = got
                            .iter()
                            .zip(want)
                            .map(|(&x, &(y, abs))| (f64::from(x) - y).abs() / (abs + 1e-3))
                            .fold(0.0, f64::max);
                        assert!(worst < 1e-6, "{shape:?}, transposed {transposed}, {form} {name}: error {worst}");
                    }
                }
            }
        }
    }
}
