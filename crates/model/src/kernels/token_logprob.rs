//! The log-probability of a chosen token, `logits[target] − logsumexp(logits)`, as one fused op per row with its
//! own backward, `grad · (onehot(target) − softmax(logits))`.
//!
//! burn composes `log_softmax(logits).gather(target)` from seven tracked ops, each writing or scattering a
//! `[rows, vocab]` tensor forward and backward, and flex runs their `exp`/`log` loops on one core. On the CPU
//! backend this op instead reads each row of logits twice forward (max, then the sum of exponentials) and writes
//! the `[rows, vocab]` gradient once backward, rows in parallel. Every row is reduced in a fixed order, so results
//! do not depend on the number of threads. Other backends (and dtypes other than f32) run the composed form, which
//! is also the reference the fused kernels are tested against.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor, TensorData};
use rayon::prelude::*;

use super::exp::{exp, sum_exp};
use super::{fused, values};

/// `logits [rows, vocab]`, `targets [rows]` → `[rows]`: the log-probability of each row's target token,
/// differentiable with respect to the logits.
pub fn token_logprobs(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    if fused(&logits.device(), logits.dtype()) {
        let out = <Dispatch as TokenLogprobBackend>::token_logprob(logits.into_dispatch(), targets.into_dispatch());
        Tensor::from_dispatch(out)
    } else {
        composed(logits, targets)
    }
}

/// burn's composed form, `log_softmax(logits).gather(targets)`.
fn composed(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    let rows = targets.dims()[0];
    log_softmax(logits, 1).gather(1, targets.reshape([rows, 1])).reshape([rows])
}

/// The fused token log-probability (flex, with or without autodiff).
#[backend_extension(Flex, Autodiff)]
pub trait TokenLogprobBackend: Backend {
    /// `logits [rows, vocab]`, `targets [rows]` → `[rows]`: `logits[r, targets[r]] − logsumexp(logits[r])`.
    fn token_logprob(logits: FloatTensor<Self>, targets: IntTensor<Self>) -> FloatTensor<Self>;
}

impl TokenLogprobBackend for Flex {
    fn token_logprob(logits: FlexTensor, targets: FlexTensor) -> FlexTensor {
        forward(&logits, targets).0
    }
}

/// What the backward needs of each row besides its logits.
#[derive(Clone, Debug)]
struct Rows {
    /// The target ids.
    targets: Vec<usize>,
    /// `(max, log Σ exp(row − max))`.
    stats: Vec<(f32, f64)>,
}

/// The log-probabilities `[rows]`, and the [`Rows`] the backward needs.
fn forward(logits: &FlexTensor, targets: FlexTensor) -> (FlexTensor, Rows) {
    let (logits, vocab) = (logits.to_contiguous(), logits.shape()[1]);
    let targets = target_ids(targets, vocab);
    let (out, stats): (Vec<f32>, Vec<(f32, f64)>) = values(&logits)
        .par_chunks(vocab)
        .zip(targets.par_iter())
        .map(|(row, &t)| {
            let (max, log_sum) = logsumexp(row);
            ((f64::from(row[t] - max) - log_sum) as f32, (max, log_sum))
        })
        .unzip();
    let len = out.len();
    (FlexTensor::from_data(TensorData::new(out, [len])), Rows { targets, stats })
}

/// The gradient with respect to `logits` given the upstream gradient `grad [rows]`:
/// `grad[r] · (onehot(targets[r]) − softmax(logits[r]))`, written once, from the forward's row statistics.
fn token_logprob_grad(logits: FlexTensor, rows: &Rows, grad: FlexTensor) -> FlexTensor {
    let (logits, grad, vocab) = (logits.to_contiguous(), grad.to_contiguous(), logits.shape()[1]);
    let (x, g) = (values(&logits), values(&grad));
    let mut out = vec![0f32; x.len()];
    out.par_chunks_mut(vocab).zip(x.par_chunks(vocab)).zip(rows.targets.par_iter().zip(g).zip(&rows.stats)).for_each(
        |((dx, row), ((&target, &g), &(max, log_sum)))| {
            let log_sum = log_sum as f32;
            for (d, &v) in dx.iter_mut().zip(row) {
                *d = -g * exp((v - max) - log_sum);
            }
            dx[target] += g;
        },
    );
    FlexTensor::from_data(TensorData::new(out, logits.shape()))
}

/// `log Σ exp(row)` as `(max, log Σ exp(row − max))`, summed in f64 in one fixed order. Kept apart so that
/// `row[t] − max` stays exact instead of rounding `max + …` to f32 first.
fn logsumexp(row: &[f32]) -> (f32, f64) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    (max, sum_exp(row, max).ln())
}

/// The target ids as row indices. Ids come from tokenised batches, so one outside the vocabulary is a bug upstream.
fn target_ids(targets: FlexTensor, vocab: usize) -> Vec<usize> {
    let ids = targets.into_data().convert::<i64>().try_into_vec::<i64>().expect("integer targets");
    ids.into_iter()
        .map(|id| usize::try_from(id).ok().filter(|&id| id < vocab).expect("target id inside the vocabulary"))
        .collect()
}

impl<C: CheckpointStrategy> TokenLogprobBackend for Autodiff<Flex, C> {
    fn token_logprob(logits: FloatTensor<Self>, targets: IntTensor<Self>) -> FloatTensor<Self> {
        /// Backward of the fused op: keeps the logits and the rows' targets and statistics, not the `[rows, vocab]`
        /// softmax.
        #[derive(Debug)]
        struct TokenLogprobBackward;

        impl Backward<Flex, 1> for TokenLogprobBackward {
            type State = (FlexTensor, Rows);

            fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
                let (logits, rows) = ops.state;
                unary::<Flex, _>(ops.parents, ops.node, grads, |grad| token_logprob_grad(logits, &rows, grad));
            }
        }

        match TokenLogprobBackward.prepare::<C>([logits.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (out, rows) = forward(logits.primitive(), targets);
                prep.finish((logits.into_primitive(), rows), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::token_logprob(logits.into_primitive(), targets)),
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

    use super::*;
    use crate::host::to_vec;
    use crate::kernels::check::max_abs_err;

    const ROWS: usize = 5;
    const VOCAB: usize = 37;
    const TARGETS: [i64; ROWS] = [0, 36, 5, 20, 11];
    const WEIGHTS: [f32; ROWS] = [1.0, -0.5, 2.0, 0.25, -1.5];

    /// Five rows × 37 tokens: ordinary logits, a row half masked with −500 (as a loss masks padding), one shifted
    /// by +80, and targets at both vocabulary edges.
    fn logits() -> Vec<f32> {
        let mut values: Vec<f32> = (0..ROWS * VOCAB).map(|i| ((i * 7919) % 997) as f32 / 100.0 - 5.0).collect();
        values[3 * VOCAB..3 * VOCAB + 18].fill(-500.0);
        values[4 * VOCAB..].iter_mut().for_each(|v| *v += 80.0);
        values
    }

    /// Values and gradients of `Σ weight · logprob` through `op`.
    fn run(op: fn(Tensor<2>, Tensor<1, Int>) -> Tensor<1>) -> (Vec<f32>, Vec<f32>) {
        let device = Device::flex().autodiff();
        let logits = Tensor::<2>::from_data(TensorData::new(logits(), [ROWS, VOCAB]), &device).require_grad();
        let targets = Tensor::from_data(TensorData::new(TARGETS.to_vec(), [ROWS]), &device);
        let weights = Tensor::<1>::from_data(TensorData::new(WEIGHTS.to_vec(), [ROWS]), &device);
        let out = op(logits.clone(), targets);
        let grads = (out.clone() * weights).sum().backward();
        (to_vec(out).unwrap(), to_vec(logits.grad(&grads).unwrap()).unwrap())
    }

    /// The same in f64 on the host: `x[t] − lse(x)` and `w · (onehot(t) − softmax(x))`.
    fn exact() -> (Vec<f32>, Vec<f32>) {
        let (mut values, mut grads) = (vec![], vec![]);
        for ((row, &t), &w) in logits().chunks(VOCAB).zip(&TARGETS).zip(&WEIGHTS) {
            let row: Vec<f64> = row.iter().map(|&v| f64::from(v)).collect();
            let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let lse = max + row.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
            values.push((row[t as usize] - lse) as f32);
            grads.extend(
                row.iter()
                    .enumerate()
                    .map(|(j, v)| (f64::from(w) * (f64::from(u8::from(j == t as usize)) - (v - lse).exp())) as f32),
            );
        }
        (values, grads)
    }

    #[test]
    fn fused_values_and_gradients_match_the_exact_ones_and_burns_composed_form() {
        let (want, want_grad) = exact();
        let (got, got_grad) = run(token_logprobs);
        assert!(max_abs_err(&got, &want) < 2e-6, "values {got:?} vs {want:?}");
        assert!(max_abs_err(&got_grad, &want_grad) < 5e-7, "gradients off by {}", max_abs_err(&got_grad, &want_grad));
        let (composed, composed_grad) = run(composed);
        assert!(max_abs_err(&got, &composed) < 1e-5 && max_abs_err(&got_grad, &composed_grad) < 1e-5);
        // Masked cells get no probability and no gradient; each row's gradient sums to zero.
        assert!(got_grad[3 * VOCAB..3 * VOCAB + 18].iter().all(|&g| g == 0.0));
        assert!(got_grad.chunks(VOCAB).all(|row| row.iter().sum::<f32>().abs() < 1e-5));
    }

    #[test]
    fn without_autodiff_the_fused_op_gives_the_same_values() {
        let device = Device::flex();
        let logits = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 2.0, 3.0, -1.0, 0.0, 1.0], [2, 3]), &device);
        let targets = Tensor::<1, Int>::from_data(TensorData::new(vec![2i64, 0], [2]), &device);
        let got = to_vec(token_logprobs(logits.clone(), targets.clone())).unwrap();
        let want = to_vec(composed(logits, targets)).unwrap();
        assert!(got.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-6), "{got:?} vs {want:?}");
    }
}
