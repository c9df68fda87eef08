//! The loss terms of stages 1 and 2, on L2-normalised embeddings (cosine similarity = dot product):
//!
//! - InfoNCE as sentence-transformers' `MultipleNegativesRankingLoss` computes it: query `i` against all
//!   candidate documents `[positives; hard negatives]`, its own positive in the denominator, cross-entropy with
//!   scale `1/τ`; optionally masking candidates that are also positives of the query (false negatives);
//! - the symmetric term of `MultipleNegativesSymmetricRankingLoss`: each positive against all queries;
//! - a triplet margin on cosine distance (`1 − cos`), as sentence-transformers' `TripletLoss` with
//!   `TripletDistanceMetric.COSINE`;
//! - next-token cross-entropy on the masked target tokens (the SFT term).

use burn::tensor::activation::{log_softmax, relu};
use burn::tensor::{Bool, Int, Tensor, TensorData};

/// InfoNCE over `queries` `[B, D]` and `docs` `[N, D]`: `positive[i]` is the column of query `i`'s positive;
/// `excluded` (row-major `[B, N]`, `true` = left out of the denominator) masks false negatives. Mean over queries.
pub fn info_nce(
    queries: Tensor<2>,
    docs: Tensor<2>,
    positive: &[usize],
    excluded: Option<&[bool]>,
    temperature: f64,
) -> Tensor<1> {
    let [b, _] = queries.dims();
    let [n, _] = docs.dims();
    let device = queries.device();
    let mut logits = queries.matmul(docs.transpose()) / temperature;
    if let Some(excluded) = excluded {
        let mask: Tensor<2, Bool> = Tensor::from_data(TensorData::new(excluded.to_vec(), [b, n]), &device);
        logits = logits.mask_fill(mask, -1e9);
    }
    cross_entropy(logits, positive)
}

/// The backward direction of the symmetric loss: positive `i` (`positives[i]`, `[B, D]`) against all queries,
/// label `i`.
pub fn info_nce_doc_to_query(queries: Tensor<2>, positives: Tensor<2>, temperature: f64) -> Tensor<1> {
    let [b, _] = queries.dims();
    let logits = positives.matmul(queries.transpose()) / temperature;
    cross_entropy(logits, &(0..b).collect::<Vec<_>>())
}

/// Mean over rows of `−log_softmax(logits)[row, target[row]]`.
pub fn cross_entropy(logits: Tensor<2>, target: &[usize]) -> Tensor<1> {
    let [b, _] = logits.dims();
    let device = logits.device();
    let index: Vec<i64> = target.iter().map(|&t| t as i64).collect();
    let index: Tensor<2, Int> = Tensor::from_data(TensorData::new(index, [b, 1]), &device);
    log_softmax(logits, 1).gather(1, index).mean().neg()
}

/// `mean(max(0, (1 − cos(q, p)) − (1 − cos(q, n)) + margin))` over rows.
pub fn triplet_margin(queries: Tensor<2>, positives: Tensor<2>, negatives: Tensor<2>, margin: f64) -> Tensor<1> {
    let pos = (queries.clone() * positives).sum_dim(1);
    let neg = (queries * negatives).sum_dim(1);
    relu(neg - pos + margin).mean()
}

/// Mean negative log-likelihood of the target tokens: `logprobs` `[B, K]` from
/// [`model::CausalLm::logprobs_at`], `mask` the same shape (1 = a target token), divided by `normaliser`
/// (the number of target tokens in the whole optimizer step, so gradient accumulation does not change it).
pub fn masked_nll(logprobs: Tensor<2>, mask: Tensor<2>, normaliser: f64) -> Tensor<1> {
    (logprobs * mask).sum().neg() / normaliser
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    fn t(rows: &[[f32; 2]]) -> Tensor<2> {
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        Tensor::from_data(TensorData::new(flat, [rows.len(), 2]), &Device::flex())
    }

    /// The hand-derived vector of trainers.md §3.1 (scale 20).
    #[test]
    fn matches_the_derived_mnrl_vector() {
        let q = t(&[[1.0, 0.0], [0.0, 1.0]]);
        let docs = t(&[[0.8, 0.6], [0.6, 0.8], [0.6, -0.8], [-0.8, 0.6]]);
        let loss = info_nce(q.clone(), docs, &[0, 1], None, 0.05).into_scalar::<f32>();
        assert!((loss - 0.035_976_3).abs() < 1e-6, "{loss}");
        let back = info_nce_doc_to_query(q, t(&[[0.8, 0.6], [0.6, 0.8]]), 0.05).into_scalar::<f32>();
        assert!((back - 0.018_149_9).abs() < 1e-6, "{back}");
    }

    #[test]
    fn masking_a_false_negative_removes_it_from_the_denominator() {
        let q = t(&[[1.0, 0.0]]);
        let docs = t(&[[0.8, 0.6], [0.8, 0.6]]);
        let plain = info_nce(q.clone(), docs.clone(), &[0], None, 0.05).into_scalar::<f32>();
        assert!((plain - 2f32.ln()).abs() < 1e-5);
        let masked = info_nce(q, docs, &[0], Some(&[false, true]), 0.05).into_scalar::<f32>();
        assert!(masked.abs() < 1e-6);
    }
}
