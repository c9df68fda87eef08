//! Stage 2 — contrastive alignment: pull each query (with its reasoning) towards its relevant documents.
//!
//! Query embedding: the pooled `<embtoken>` state of `prompt(query) + reasoning + <embtoken>` (the reasoning comes
//! from the data here). Document embedding: `instruction + text + <embtoken>`. Loss: InfoNCE over cosine
//! similarities divided by τ, with the query's positive, the other queries' documents (in-batch negatives) and
//! its hard negatives in the denominator — sentence-transformers' `MultipleNegativesRankingLoss`. Options: the
//! symmetric document → query term, masking in-batch documents that are also positives of the query, a triplet
//! margin term, the stage-1 SFT term as a regulariser, and GradCache for batches larger than memory allows.

use std::sync::Arc;

use burn::optim::GradientsParams;
use data::{ContrastiveRow, DataState, Prefetch, PrefetchConfig, ShardSet, StreamConfig};
use model::hf::NamedParam;
use model::{CausalLm, TextTokenizer};

use crate::stages::example::{Example, ExampleEncoder};
use crate::stages::gradcache::gradcache_grads;
use crate::stages::objective::{LossParts, Objective};
use crate::stages::{example_stream, single_graph_grads};

/// The stream of stage-2 examples, resumed from `state` when given.
pub fn examples(
    shards: &ShardSet,
    config: StreamConfig,
    state: Option<&DataState>,
    prefetch: PrefetchConfig,
    encoder: Arc<ExampleEncoder>,
) -> anyhow::Result<Prefetch<Example>> {
    example_stream(shards, config, state, prefetch, move |row: ContrastiveRow| encoder.contrastive(row))
}

/// One micro-batch: GradCache when `loss.gradcache_chunk > 0` (embedding terms only), else one graph.
pub fn micro_batch_grads(
    model: &CausalLm,
    tokenizer: &TextTokenizer,
    objective: &Objective,
    examples: &[Example],
    sft_normaliser: f64,
    micro_batches: usize,
    params: &[NamedParam],
) -> anyhow::Result<(GradientsParams, LossParts, f64)> {
    let chunk = objective.config.gradcache_chunk;
    if chunk > 0 {
        let (grads, parts) = gradcache_grads(model, tokenizer, objective, examples, chunk, micro_batches, params)?;
        let value = (objective.infonce * parts.infonce + objective.triplet * parts.triplet) / micro_batches as f64;
        return Ok((grads, parts, value));
    }
    single_graph_grads(model, tokenizer, objective, examples, sft_normaliser, micro_batches)
}
