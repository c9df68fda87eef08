//! The weighted loss of stages 1 and 2 over one micro-batch:
//! `sft · NLL(reasoning + <embtoken> | prompt) + infonce · InfoNCE(q, docs) + triplet · Triplet(q, p, n)`.
//!
//! The query side is one forward pass over `prompt + reasoning + <embtoken>`: its logits give the SFT term and its
//! state at the embedding token is the query embedding. Documents are `[each query's positive; all hard
//! negatives]`, so every query sees the others' documents as in-batch negatives (sentence-transformers' layout).

use anyhow::{Context, bail};
use burn::tensor::{Device, Int, Tensor, TensorData};
use model::pooling::{gather_rows, l2_normalize};
use model::{CausalLm, PadSide, TextTokenizer, TokenBatch};

use crate::losses::{info_nce, info_nce_doc_to_query, masked_nll, triplet_margin};
use crate::recipe::{LossConfig, StageKind};
use crate::stages::example::Example;
use crate::stages::gather::{Gathered, QueryMeta, gathers, host_rows};
use crate::train::collective::Collective;

/// Loss weights and settings resolved for one stage.
#[derive(Debug, Clone, PartialEq)]
pub struct Objective {
    /// Weight of the next-token term.
    pub sft: f64,
    /// Weight of InfoNCE.
    pub infonce: f64,
    /// Weight of the triplet term.
    pub triplet: f64,
    /// The stage's loss settings.
    pub config: LossConfig,
}

impl Objective {
    /// The objective of a stage of `kind` configured by `config`.
    pub fn new(kind: StageKind, config: &LossConfig) -> Self {
        Self {
            sft: config.sft_weight(kind),
            infonce: config.infonce_weight(kind),
            triplet: config.triplet,
            config: config.clone(),
        }
    }

    /// Whether documents are needed (any embedding term is on).
    pub fn uses_documents(&self) -> bool {
        self.infonce > 0.0 || self.triplet > 0.0
    }
}

/// The value of each term in one micro-batch (host floats, for logging).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LossParts {
    /// Next-token NLL per target token (this micro-batch's share of the step mean).
    pub sft: f64,
    /// InfoNCE.
    pub infonce: f64,
    /// Triplet margin.
    pub triplet: f64,
}

/// Number of SFT target tokens (reasoning + embedding token) in `examples`.
pub fn target_tokens(examples: &[Example]) -> usize {
    examples.iter().map(|e| e.reasoning.len() + 1).sum()
}

/// The query-side batch of `examples` (right-padded).
pub fn query_batch(examples: &[Example], tokenizer: &TextTokenizer) -> anyhow::Result<TokenBatch> {
    let rows: Vec<Vec<u32>> = examples.iter().map(|e| e.query_tokens(tokenizer.emb_id)).collect();
    Ok(TokenBatch::new(&rows, tokenizer.pad_id, PadSide::Right)?)
}

/// The document batch `[positives; negatives]` of `examples`, with each column's id.
pub fn doc_batch(examples: &[Example], tokenizer: &TextTokenizer) -> anyhow::Result<(TokenBatch, Vec<String>)> {
    let mut rows = Vec::new();
    let mut ids = Vec::new();
    for e in examples {
        let p = e.positive.as_ref().with_context(|| format!("query `{}` has no positive document", e.query_id))?;
        rows.push(p.tokens.clone());
        ids.push(p.id.clone());
    }
    for e in examples {
        for n in &e.negatives {
            rows.push(n.tokens.clone());
            ids.push(n.id.clone());
        }
    }
    Ok((TokenBatch::new(&rows, tokenizer.pad_id, PadSide::Right)?, ids))
}

/// The SFT targets of a micro-batch: each row's prediction columns of its reasoning tokens and embedding token,
/// `k` per row (the longest row's count; shorter rows repeat their last column), and their weights `[B, k]`
/// (1 = a target, 0 = a repeat).
pub fn sft_targets(examples: &[Example], device: &Device) -> (Vec<usize>, usize, Tensor<2>) {
    let k = examples.iter().map(|e| e.reasoning.len() + 1).max().unwrap_or(0);
    let mut columns = Vec::with_capacity(examples.len() * k);
    let mut weights = Vec::with_capacity(examples.len() * k);
    for e in examples {
        // Target token i (0-based) of the continuation sits at position prompt + i and is predicted from the one
        // before it.
        let (first, n) = (e.prompt.len() - 1, e.reasoning.len() + 1);
        columns.extend((0..k).map(|i| first + i.min(n - 1)));
        weights.extend((0..k).map(|i| if i < n { 1.0f32 } else { 0.0 }));
    }
    (columns, k, Tensor::from_data(TensorData::new(weights, [examples.len(), k]), device))
}

/// InfoNCE (+ symmetric term) and triplet terms from query embeddings `[B, D]` (described by `examples`) and
/// document embeddings `[B + negatives, D]` laid out as [`doc_batch`] does. Returns the weighted sum and the parts.
pub fn embedding_loss(
    objective: &Objective,
    examples: &[QueryMeta],
    queries: Tensor<2>,
    docs: Tensor<2>,
    doc_ids: &[String],
) -> (Tensor<1>, LossParts) {
    let b = examples.len();
    let [n, _] = docs.dims();
    let device = queries.device();
    let c = &objective.config;
    let mut parts = LossParts::default();
    let mut total = Tensor::<1>::zeros([1], &device);
    if objective.infonce > 0.0 {
        let excluded: Vec<bool> = (0..b)
            .flat_map(|i| (0..n).map(move |j| (i, j)))
            .map(|(i, j)| {
                c.mask_false_negatives
                    && j != i
                    && !doc_ids[j].is_empty()
                    && examples[i].positive_ids.contains(&doc_ids[j])
            })
            .collect();
        let positives: Vec<usize> = (0..b).collect();
        let mut nce = info_nce(queries.clone(), docs.clone(), &positives, Some(&excluded), c.temperature);
        if c.symmetric {
            let back = info_nce_doc_to_query(queries.clone(), docs.clone().narrow(0, 0, b), c.temperature);
            nce = (nce + back) / 2.0;
        }
        parts.infonce = nce.clone().into_scalar::<f32>() as f64;
        total = total + nce * objective.infonce;
    }
    if objective.triplet > 0.0 {
        // Each query's hardest negative; a query without one uses the next query's positive.
        let mut column = b;
        let negative_columns: Vec<i64> = examples
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let col = if e.negatives == 0 { (i + 1) % b } else { column };
                column += e.negatives;
                col as i64
            })
            .collect();
        let index: Tensor<1, Int> = Tensor::from_data(TensorData::new(negative_columns, [b]), &device);
        let negatives = docs.clone().select(0, index);
        let positives = docs.narrow(0, 0, b);
        let tri = triplet_margin(queries, positives, negatives, c.triplet_margin);
        parts.triplet = tri.clone().into_scalar::<f32>() as f64;
        total = total + tri * objective.triplet;
    }
    (total, parts)
}

/// The loss of one micro-batch in a single graph: the loss to back-propagate, its parts and its value (which
/// differs from the back-propagated loss by the cross-rank scale of gathered embedding terms, see
/// [`crate::stages::gather`]). `sft_normaliser` is the number of target tokens in the whole optimizer step (over
/// all ranks, divided by their number) and `micro_batches` the number of micro-batches in it, so the accumulated
/// gradient does not depend on how the step is split.
pub fn micro_batch_loss(
    model: &CausalLm,
    tokenizer: &TextTokenizer,
    objective: &Objective,
    examples: &[Example],
    sft_normaliser: f64,
    micro_batches: usize,
    comm: &dyn Collective,
) -> anyhow::Result<(Tensor<1>, LossParts, f64)> {
    if examples.is_empty() {
        bail!("empty micro-batch");
    }
    let device = model.device();
    let batch = query_batch(examples, tokenizer)?;
    let hidden = model.hidden(&batch);
    let mut total = Tensor::<1>::zeros([1], &device);
    let mut parts = LossParts::default();
    let mut value = 0.0;
    if objective.sft > 0.0 {
        let (columns, k, weights) = sft_targets(examples, &device);
        let logprobs = model.logprobs_at(hidden.clone(), &batch, &columns, k, 1.0)?;
        let nll = masked_nll(logprobs, weights, sft_normaliser);
        parts.sft = nll.clone().into_scalar::<f32>() as f64;
        value += parts.sft * objective.sft;
        total = total + nll * objective.sft;
    }
    if objective.uses_documents() {
        let columns = batch.last_index_of(tokenizer.emb_id)?;
        let queries = l2_normalize(gather_rows(hidden, &columns, &device));
        let (docs, ids) = doc_batch(examples, tokenizer)?;
        let docs = model.embed(&docs, tokenizer.emb_id)?;
        let (emb, emb_parts, scale) = if gathers(comm, &objective.config) {
            let dim = model.config.hidden_size;
            let g =
                Gathered::new(comm, (&host_rows(&queries)?, QueryMeta::of(examples)), (&host_rows(&docs)?, ids), dim)?;
            let (queries, docs) = (g.query_tensor(queries, &device), g.doc_tensor(docs, &device));
            let (emb, p) = embedding_loss(objective, &g.queries, queries, docs, &g.doc_ids);
            (emb, p, g.scale)
        } else {
            let (emb, p) = embedding_loss(objective, &QueryMeta::of(examples), queries, docs, &ids);
            (emb, p, 1.0)
        };
        parts.infonce = emb_parts.infonce;
        parts.triplet = emb_parts.triplet;
        value += (emb.clone().into_scalar::<f32>() as f64) / micro_batches as f64;
        total = total + emb * (scale / micro_batches as f64);
    }
    Ok((total, parts, value))
}
