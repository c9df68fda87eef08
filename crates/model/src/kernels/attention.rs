//! Grouped-query softmax attention as one fused op with its own backward. Per (batch, query head), with the key/value
//! head it shares with the other `heads / kv_heads` query heads of its group:
//! forward `S = scale · Q Kᵀ` (masked entries excluded), `P = softmax(S)` by rows, `O = P V`;
//! backward `dV = Pᵀ dO`, `dP = dO Vᵀ`, `dS = P ∘ (dP − rowsum(P ∘ dP))`, `dQ = scale · dS K`,
//! `dK = scale · dSᵀ Q`, with `dK` and `dV` summed over the query heads of the group. `scale = 1/√head_dim`.
//!
//! Under autodiff burn 0.22 runs attention as its op-by-op fallback: transposes to `[batch, heads, seq, head_dim]`,
//! copies of K and V repeated per query head, a scores matmul, a masked fill, a softmax of several tracked ops and a
//! second matmul, each a pass over memory with its own backward. The flex kernel reads Q, K, V in the projections'
//! `[batch, seq, heads, head_dim]` layout (no transposes, no repeated K/V), runs each head's matrix products through
//! gemm on one core, spreads (batch, head) pairs over the pool and keeps only the probabilities for the backward.
//! Queries go in blocks of [`ROW_BLOCK`] rows, each multiplied only with the span of keys some row of the block sees:
//! under a causal mask that skips most of the upper triangle (and any left padding): 3/8 of the score products at
//! 128 positions. Each output is written by one task in a fixed order, so results do not depend on the number of
//! threads.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::{BoolTensor, FloatTensor};
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Tensor, TensorData};
use rayon::prelude::*;

use super::exp::exp;
use super::matmul::{Base, Mat, matmul};
use super::{PARALLEL_MIN, backward_all, fused, values};

/// Attention of `q` (`[batch, seq, heads, head_dim]`) over `k`, `v` (`[batch, keys, kv_heads, head_dim]`, each
/// key/value head shared by `heads / kv_heads` consecutive query heads), scaled by `1/√head_dim`, under `mask`
/// (`[batch, 1, seq, keys]`, `true` = masked; every query must see at least one key). Returns
/// `[batch, seq, heads, head_dim]`.
pub fn attend(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, mask: Tensor<4, Bool>) -> Tensor<4> {
    if !fused(&q.device(), q.dtype()) {
        return attend_composed(q, k, v, mask);
    }
    let out = <Dispatch as AttentionBackend>::attend(
        q.into_dispatch(),
        k.into_dispatch(),
        v.into_dispatch(),
        mask.into_dispatch(),
    );
    Tensor::from_dispatch(out)
}

/// [`attend`] through burn's attention op (K and V repeated per query head): what every backend but flex runs, the
/// reference the kernel is tested against, and the KV-cache path (its keys are strided views into the cache, which
/// this takes without copying them).
pub fn attend_composed(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, mask: Tensor<4, Bool>) -> Tensor<4> {
    let [b, t, heads, _] = q.dims();
    let [_, keys, kv_heads, _] = k.dims();
    let group = heads / kv_heads;
    let (q, k, v) = (q.swap_dims(1, 2), repeat_kv(k.swap_dims(1, 2), group), repeat_kv(v.swap_dims(1, 2), group));
    let mask = mask.expand([b, heads, t, keys]);
    let options = AttentionModuleOptions { scale: None, softcap: None, is_causal: false };
    attention(q, k, v, Some(mask), None, options).swap_dims(1, 2)
}

/// `[b, kv_heads, s, d]` → `[b, kv_heads·group, s, d]`, each kv head repeated `group` times in place.
fn repeat_kv(x: Tensor<4>, group: usize) -> Tensor<4> {
    if group == 1 {
        return x;
    }
    let [b, h, s, d] = x.dims();
    x.unsqueeze_dim::<5>(2).expand([b, h, group, s, d]).reshape([b, h * group, s, d])
}

/// The fused attention (flex, with or without autodiff); differentiable in `q`, `k` and `v`.
#[backend_extension(Flex, Autodiff)]
pub trait AttentionBackend: Backend {
    /// `q [batch, seq, heads, head_dim]`, `k`, `v` `[batch, keys, kv_heads, head_dim]`, `mask [batch, 1, seq, keys]`
    /// → `[batch, seq, heads, head_dim]`.
    fn attend(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        mask: BoolTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// Query rows per block of the products; each block multiplies only the keys its rows see.
const ROW_BLOCK: usize = 32;

/// The sizes of one attention call.
#[derive(Clone, Copy, Debug)]
struct Dims {
    batch: usize,
    seq: usize,
    keys: usize,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
}

impl Dims {
    fn of(q: &FlexTensor, k: &FlexTensor) -> Self {
        let [batch, seq, heads, head_dim] = q.shape().dims();
        let [_, keys, kv_heads, _] = k.shape().dims();
        Self { batch, seq, keys, heads, kv_heads, head_dim }
    }

    /// Query heads per key/value head.
    fn group(&self) -> usize {
        self.heads / self.kv_heads
    }

    /// One head's `seq × head_dim` rows inside `[batch, seq, heads, head_dim]` (queries, outputs and their gradients).
    fn query_head(&self, base: Base, b: usize, h: usize) -> Mat {
        let offset = (b * self.seq * self.heads + h) * self.head_dim;
        Mat { ptr: base.0.wrapping_add(offset), row: (self.heads * self.head_dim) as isize, col: 1 }
    }

    /// One head's `keys × head_dim` rows inside `[batch, keys, kv_heads, head_dim]`.
    fn key_head(&self, base: Base, b: usize, g: usize) -> Mat {
        let offset = (b * self.keys * self.kv_heads + g) * self.head_dim;
        Mat { ptr: base.0.wrapping_add(offset), row: (self.kv_heads * self.head_dim) as isize, col: 1 }
    }

    /// The `seq × keys` probabilities of one (batch, head) pair.
    fn scores(&self) -> usize {
        self.seq * self.keys
    }

    fn scale(&self) -> f32 {
        1.0 / (self.head_dim as f32).sqrt()
    }
}

/// One block of query rows (`rows` from `start`) and the span of keys any of them sees (`keys` from `first_key`).
#[derive(Clone, Copy, Debug)]
struct Block {
    start: usize,
    rows: usize,
    first_key: usize,
    keys: usize,
}

impl Block {
    /// Each row's key span as a range of the `[seq, keys]` score matrix.
    fn spans(&self, keys: usize) -> impl Iterator<Item = std::ops::Range<usize>> + use<> {
        let (first, len) = (self.first_key, self.keys);
        (self.start..self.start + self.rows).map(move |r| r * keys + first..r * keys + first + len)
    }
}

/// What the backward keeps from the forward: the probabilities `[batch, heads, seq, keys]` and the row blocks.
#[derive(Clone, Debug)]
struct Saved {
    probs: Vec<f32>,
    blocks: Vec<Vec<Block>>,
}

/// The blocks of each batch row that see at least one key, from the mask's flags (`[batch, seq, keys]`, non-zero =
/// masked). Rows of the blocks left out keep output and gradients 0.
fn row_blocks(masked: &[u8], d: &Dims) -> Vec<Vec<Block>> {
    let visible = |row: &[u8]| {
        let first = row.iter().position(|&m| m == 0)?;
        Some((first, row.len() - row.iter().rev().position(|&m| m == 0)?))
    };
    (0..d.batch)
        .map(|b| {
            (0..d.seq)
                .step_by(ROW_BLOCK)
                .filter_map(|start| {
                    let rows = ROW_BLOCK.min(d.seq - start);
                    let spans =
                        masked[(b * d.seq + start) * d.keys..][..rows * d.keys].chunks(d.keys).filter_map(visible);
                    let (lo, hi) = spans.reduce(|(lo, hi), (first, end)| (lo.min(first), hi.max(end)))?;
                    Some(Block { start, rows, first_key: lo, keys: hi - lo })
                })
                .collect()
        })
        .collect()
}

/// Runs `task(i)` for `i < tasks`, on the pool when the call touches at least [`PARALLEL_MIN`] score elements.
fn for_each_task(tasks: usize, elements: usize, task: impl Fn(usize) + Send + Sync) {
    if elements < PARALLEL_MIN {
        (0..tasks).for_each(task);
    } else {
        (0..tasks).into_par_iter().for_each(task);
    }
}

/// Masked softmax of one row of scores in place (`masked` beside it, non-zero = masked): masked entries become 0,
/// and so does a row with no visible key. Written in passes over eight interleaved lanes (fixed order) so that they
/// vectorise.
fn softmax_row(row: &mut [f32], masked: &[u8]) {
    row.iter_mut().zip(masked).for_each(|(s, &m)| *s = if m == 0 { *s } else { f32::NEG_INFINITY });
    let max = lanes(row, f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        row.fill(0.0);
        return;
    }
    row.iter_mut().for_each(|s| *s = exp(*s - max));
    let inv = 1.0 / lanes(row, 0.0, |a, b| a + b);
    row.iter_mut().for_each(|s| *s *= inv);
}

/// `values` folded with `op` over eight interleaved lanes from `init`, then across the lanes, in one fixed order.
fn lanes(values: &[f32], init: f32, op: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [init; 8];
    let chunks = values.chunks_exact(8);
    let tail = chunks.remainder().iter().fold(init, |a, &v| op(a, v));
    for chunk in chunks {
        acc.iter_mut().zip(chunk).for_each(|(a, &v)| *a = op(*a, v));
    }
    acc.into_iter().fold(tail, op)
}

/// The values of a contiguous bool flex tensor, one byte each (non-zero = true).
fn flags(t: &FlexTensor) -> &[u8] {
    let (start, end) = t.layout().contiguous_offsets().expect("a contiguous bool tensor");
    &t.storage::<u8>()[start..end]
}

/// The forward pass: the output `[batch, seq, heads, head_dim]` and, when `keep_probs`, what the backward needs.
fn forward(
    q: &FlexTensor,
    k: &FlexTensor,
    v: &FlexTensor,
    mask: &FlexTensor,
    keep_probs: bool,
) -> (FlexTensor, Option<Saved>) {
    let (q, k, v, mask) = (q.to_contiguous(), k.to_contiguous(), v.to_contiguous(), mask.to_contiguous());
    let d = Dims::of(&q, &k);
    let (qs, ks, vs, masked) = (values(&q), values(&k), values(&v), flags(&mask));
    let blocks = row_blocks(masked, &d);
    let mut out = vec![0f32; qs.len()];
    let mut probs = vec![0f32; if keep_probs { d.batch * d.heads * d.scores() } else { 0 }];
    let (qs, ks, vs, out_base, probs_base) =
        (Base::of(qs), Base::of(ks), Base::of(vs), Base::of_mut(&mut out), Base::of_mut(&mut probs));
    for_each_task(d.batch * d.heads, d.batch * d.heads * d.scores(), |task| {
        let (b, h) = (task / d.heads, task % d.heads);
        let g = h / d.group();
        let mut scratch = Vec::new();
        let p: &mut [f32] = if keep_probs {
            // SAFETY: task `task` alone owns probabilities block `task`.
            unsafe { probs_base.block(task * d.scores(), d.scores()) }
        } else {
            scratch.resize(d.scores(), 0.0);
            &mut scratch
        };
        let p_mat = Mat::dense(p.as_ptr(), d.keys);
        let (qh, kh, vh) = (d.query_head(qs, b, h), d.key_head(ks, b, g), d.key_head(vs, b, g));
        let (oh, masked) = (d.query_head(out_base, b, h), &masked[b * d.scores()..][..d.scores()]);
        for blk in &blocks[b] {
            let p_blk = p_mat.at(blk.start, blk.first_key);
            let (q_rows, k_rows) = (qh.at(blk.start, 0), kh.at(blk.first_key, 0));
            // SAFETY: `p` is this task's; the inputs are read only.
            unsafe { matmul(blk.rows, blk.keys, d.head_dim, p_blk, false, q_rows, k_rows.t(), d.scale()) };
            for span in blk.spans(d.keys) {
                softmax_row(&mut p[span.clone()], &masked[span]);
            }
            // SAFETY: head `h` of batch `b` of the output is written by this task only.
            let v_rows = vh.at(blk.first_key, 0);
            unsafe { matmul(blk.rows, d.head_dim, blk.keys, oh.at(blk.start, 0), false, p_blk, v_rows, 1.0) };
        }
    });
    let out = FlexTensor::from_data(TensorData::new(out, q.shape()));
    (out, keep_probs.then_some(Saved { probs, blocks }))
}

/// `[dq, dk, dv]` for upstream gradient `grad` (the formulas at the top of this module).
fn backward(q: &FlexTensor, k: &FlexTensor, v: &FlexTensor, saved: &Saved, grad: &FlexTensor) -> [FlexTensor; 3] {
    let Saved { probs, blocks } = saved;
    let (grad, d) = (grad.to_contiguous(), Dims::of(q, k));
    let (qs, ks, vs, gs) = (values(q), values(k), values(v), values(&grad));
    let (mut dq, mut dk, mut dv) = (vec![0f32; qs.len()], vec![0f32; ks.len()], vec![0f32; vs.len()]);
    let (qs, ks, vs, gs) = (Base::of(qs), Base::of(ks), Base::of(vs), Base::of(gs));
    let (dq_base, dk_base, dv_base) = (Base::of_mut(&mut dq), Base::of_mut(&mut dk), Base::of_mut(&mut dv));
    // One task per (batch, key/value head): it alone writes that head's dK, dV and its query heads' dQ. Gradients of
    // rows and keys no block reaches stay 0.
    for_each_task(d.batch * d.kv_heads, d.batch * d.heads * d.scores(), |task| {
        let (b, g) = (task / d.kv_heads, task % d.kv_heads);
        let (kh, vh) = (d.key_head(ks, b, g), d.key_head(vs, b, g));
        let (dkh, dvh) = (d.key_head(dk_base, b, g), d.key_head(dv_base, b, g));
        let mut ds = vec![0f32; d.scores()];
        let ds_mat = Mat::dense(ds.as_ptr(), d.keys);
        for h in g * d.group()..(g + 1) * d.group() {
            let p = &probs[(b * d.heads + h) * d.scores()..][..d.scores()];
            let p_mat = Mat::dense(p.as_ptr(), d.keys);
            let (qh, gh, dqh) = (d.query_head(qs, b, h), d.query_head(gs, b, h), d.query_head(dq_base, b, h));
            for blk in &blocks[b] {
                let (ds_blk, p_blk) = (ds_mat.at(blk.start, blk.first_key), p_mat.at(blk.start, blk.first_key));
                let (q_rows, g_rows) = (qh.at(blk.start, 0), gh.at(blk.start, 0));
                let (k_rows, v_rows) = (kh.at(blk.first_key, 0), vh.at(blk.first_key, 0));
                let (rows, keys, hd) = (blk.rows, blk.keys, d.head_dim);
                // SAFETY: `ds` is this task's; dQ of head `h` and dK, dV of head `g` (batch `b`) are this task's
                // alone.
                unsafe { matmul(rows, keys, hd, ds_blk, false, g_rows, v_rows.t(), 1.0) };
                for span in blk.spans(d.keys) {
                    let (dp, p) = (&mut ds[span.clone()], &p[span]);
                    let dot: f32 = dp.iter().zip(p).map(|(dp, p)| dp * p).sum();
                    dp.iter_mut().zip(p).for_each(|(dp, p)| *dp = p * (*dp - dot));
                }
                unsafe {
                    matmul(rows, hd, keys, dqh.at(blk.start, 0), false, ds_blk, k_rows, d.scale());
                    matmul(keys, hd, rows, dkh.at(blk.first_key, 0), true, ds_blk.t(), q_rows, d.scale());
                    matmul(keys, hd, rows, dvh.at(blk.first_key, 0), true, p_blk.t(), g_rows, 1.0);
                }
            }
        }
    });
    let tensor = |values: Vec<f32>, like: &FlexTensor| FlexTensor::from_data(TensorData::new(values, like.shape()));
    [tensor(dq, q), tensor(dk, k), tensor(dv, v)]
}

impl AttentionBackend for Flex {
    fn attend(q: FlexTensor, k: FlexTensor, v: FlexTensor, mask: FlexTensor) -> FlexTensor {
        forward(&q, &k, &v, &mask, false).0
    }
}

impl<C: CheckpointStrategy> AttentionBackend for Autodiff<Flex, C> {
    fn attend(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        mask: BoolTensor<Self>,
    ) -> FloatTensor<Self> {
        /// Backward of the fused op: keeps the (contiguous) inputs, the probabilities and the row blocks.
        #[derive(Debug)]
        struct AttentionBackward;

        impl Backward<Flex, 3> for AttentionBackward {
            type State = ([FlexTensor; 3], Saved);

            fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
                backward_all::<Flex, _, 3>(ops, grads, |([q, k, v], saved), grad| backward(&q, &k, &v, &saved, &grad));
            }
        }

        match AttentionBackward.prepare::<C>([q.node(), k.node(), v.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let inputs = [q.primitive(), k.primitive(), v.primitive()].map(FlexTensor::to_contiguous);
                let (out, saved) = forward(&inputs[0], &inputs[1], &inputs[2], &mask, true);
                prep.finish((inputs, saved.expect("kept")), out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(forward(q.primitive(), k.primitive(), v.primitive(), &mask, false).0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

    use super::*;
    use crate::batch::attention_mask;
    use crate::host::to_vec;
    use crate::kernels::check::max_rel_err;

    /// `(batch, seq, heads, kv_heads, head_dim)`: multi-head on the calling thread (one row block); grouped-query on
    /// the pool, in three row blocks (the last one short, those of the left-padded row after the first skipping its padding).
    const SHAPES: [(usize, usize, usize, usize, usize); 2] = [(2, 5, 2, 2, 4), (3, 70, 6, 2, 8)];

    /// Inputs `[q, k, v, upstream]` and the key validity (the first row left-padded by 3, the last right-padded by 2).
    fn inputs(shape: (usize, usize, usize, usize, usize)) -> ([Vec<f32>; 4], Vec<bool>) {
        let (b, t, h, kvh, d) = shape;
        let wave =
            |n: usize, k: usize, m: usize| (0..n).map(|i| ((i * k) % m) as f32 / (m as f32 / 4.0) - 2.0).collect();
        let (nq, nk) = (b * t * h * d, b * t * kvh * d);
        let data = [wave(nq, 7919, 397), wave(nk, 104_729, 263), wave(nk, 15_485_863, 311), wave(nq, 1_299_709, 101)];
        let valid = (0..b * t)
            .map(|i| {
                let (row, pos) = (i / t, i % t);
                !(row == 0 && pos < 3 || row == b - 1 && pos >= t - 2)
            })
            .collect();
        (data, valid)
    }

    /// Output, `dq`, `dk` and `dv` of `Σ upstream · op(q, k, v)`.
    fn run(
        op: fn(Tensor<4>, Tensor<4>, Tensor<4>, Tensor<4, Bool>) -> Tensor<4>,
        shape: (usize, usize, usize, usize, usize),
    ) -> [Vec<f32>; 4] {
        let (b, t, h, kvh, d) = shape;
        let device = Device::flex().autodiff();
        let ([q, k, v, upstream], valid) = inputs(shape);
        let tensor =
            |data: Vec<f32>, heads: usize| Tensor::<4>::from_data(TensorData::new(data, [b, t, heads, d]), &device);
        let (q, k, v) = (tensor(q, h).require_grad(), tensor(k, kvh).require_grad(), tensor(v, kvh).require_grad());
        let out = op(q.clone(), k.clone(), v.clone(), attention_mask(&valid, b, t, 0, &device));
        let grads = (out.clone() * tensor(upstream, h)).sum().backward();
        let grad = |x: &Tensor<4>| to_vec(x.grad(&grads).unwrap()).unwrap();
        [to_vec(out).unwrap(), grad(&q), grad(&k), grad(&v)]
    }

    /// The same in f64 on the host, straight from the definition (query `i` sees valid keys `j < i` and itself).
    fn exact(shape: (usize, usize, usize, usize, usize)) -> [Vec<f32>; 4] {
        let (b, t, h, kvh, d) = shape;
        let ([q, k, v, up], valid) = inputs(shape);
        let at_q = |bi: usize, i: usize, hi: usize| ((bi * t + i) * h + hi) * d;
        let at_k = |bi: usize, j: usize, g: usize| ((bi * t + j) * kvh + g) * d;
        let scale = 1.0 / (d as f64).sqrt();
        let (mut out, mut dq, mut dk, mut dv) =
            (vec![0f64; q.len()], vec![0f64; q.len()], vec![0f64; k.len()], vec![0f64; v.len()]);
        for bi in 0..b {
            for hi in 0..h {
                let g = hi / (h / kvh);
                for i in 0..t {
                    let seen: Vec<usize> = (0..=i).filter(|&j| j == i || valid[bi * t + j]).collect();
                    let dot = |a: usize, xs: &[f32], c: usize, ys: &[f32]| {
                        (0..d).map(|e| f64::from(xs[a + e]) * f64::from(ys[c + e])).sum::<f64>()
                    };
                    let s: Vec<f64> =
                        seen.iter().map(|&j| scale * dot(at_q(bi, i, hi), &q, at_k(bi, j, g), &k)).collect();
                    let max = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let z: f64 = s.iter().map(|s| (s - max).exp()).sum();
                    let p: Vec<f64> = s.iter().map(|s| (s - max).exp() / z).collect();
                    let dp: Vec<f64> = seen.iter().map(|&j| dot(at_q(bi, i, hi), &up, at_k(bi, j, g), &v)).collect();
                    let mean: f64 = p.iter().zip(&dp).map(|(p, dp)| p * dp).sum();
                    for (n, &j) in seen.iter().enumerate() {
                        let ds = p[n] * (dp[n] - mean) * scale;
                        for e in 0..d {
                            out[at_q(bi, i, hi) + e] += p[n] * f64::from(v[at_k(bi, j, g) + e]);
                            dv[at_k(bi, j, g) + e] += p[n] * f64::from(up[at_q(bi, i, hi) + e]);
                            dq[at_q(bi, i, hi) + e] += ds * f64::from(k[at_k(bi, j, g) + e]);
                            dk[at_k(bi, j, g) + e] += ds * f64::from(q[at_q(bi, i, hi) + e]);
                        }
                    }
                }
            }
        }
        [out, dq, dk, dv].map(|x| x.into_iter().map(|x| x as f32).collect())
    }

    #[test]
    fn fused_attention_and_its_gradients_match_the_exact_ones_and_burns_composed_form() {
        for shape in SHAPES {
            let (fused, composed, exact) = (run(attend, shape), run(attend_composed, shape), exact(shape));
            for (n, name) in ["output", "dq", "dk", "dv"].iter().enumerate() {
                let (to_exact, to_composed) = (max_rel_err(&fused[n], &exact[n]), max_rel_err(&fused[n], &composed[n]));
                assert!(to_exact < 2e-6, "{shape:?}, {name} off by {to_exact}");
                assert!(to_composed < 5e-6, "{shape:?}, {name}: composed differs by {to_composed}");
            }
        }
    }

    #[test]
    fn untracked_forward_matches_the_tracked_one() {
        let shape = SHAPES[1];
        let (b, t, h, kvh, d) = shape;
        let ([q, k, v, _], valid) = inputs(shape);
        let device = Device::flex();
        let tensor =
            |data: Vec<f32>, heads: usize| Tensor::<4>::from_data(TensorData::new(data, [b, t, heads, d]), &device);
        let out = attend(tensor(q, h), tensor(k, kvh), tensor(v, kvh), attention_mask(&valid, b, t, 0, &device));
        assert_eq!(to_vec(out).unwrap(), run(attend, shape)[0]);
    }
}
