//! Stage 1 — warm-up: teach the model to write a reasoning trace for a query and to end it with `<embtoken>`.
//!
//! Input: `prompt(query) + reasoning + <embtoken>`. Loss: next-token cross-entropy on the reasoning and the
//! embedding token only (prompt tokens are masked), averaged over all target tokens of the optimizer step.
//! Optional terms, weighted by the recipe: InfoNCE of the embedding read at `<embtoken>` against the query's
//! positive and the batch's other documents, and a triplet margin — the seed team's released SFT checkpoint used
//! `1·SFT + 1·InfoNCE + 2·Triplet`.

use std::sync::Arc;

use burn::optim::GradientsParams;
use data::{Prefetch, PrefetchConfig, ShardSet, Stream, StreamConfig, WarmupRow};
use model::{CausalLm, TextTokenizer};

use crate::stages::example::{Example, ExampleEncoder};
use crate::stages::objective::{LossParts, Objective};
use crate::stages::single_graph_grads;

/// The stream of stage-1 examples, resumed from `state` when given.
pub fn examples(
    shards: &ShardSet,
    config: StreamConfig,
    state: Option<&data::DataState>,
    prefetch: PrefetchConfig,
    encoder: Arc<ExampleEncoder>,
) -> anyhow::Result<Prefetch<Example>> {
    let stream = match state {
        Some(s) => Stream::<WarmupRow>::restore(shards, config, s)?,
        None => Stream::<WarmupRow>::new(shards, config)?,
    };
    Ok(Prefetch::new(stream, prefetch, move |row| encoder.warmup(row))?)
}

/// One micro-batch: a single forward pass over the query side serves the SFT term and the embedding.
pub fn micro_batch_grads(
    model: &CausalLm,
    tokenizer: &TextTokenizer,
    objective: &Objective,
    examples: &[Example],
    sft_normaliser: f64,
    micro_batches: usize,
) -> anyhow::Result<(GradientsParams, LossParts, f64)> {
    single_graph_grads(model, tokenizer, objective, examples, sft_normaliser, micro_batches)
}
