//! Stage 1 — warm-up: teach the model to write a reasoning trace for a query and to end it with `<embtoken>`.
//!
//! Input: `prompt(query) + reasoning + <embtoken>`. Loss: next-token cross-entropy on the reasoning and the
//! embedding token only (prompt tokens are masked), averaged over all target tokens of the optimizer step.
//! Optional terms, weighted by the recipe: InfoNCE of the embedding read at `<embtoken>` against the query's
//! positive and the batch's other documents, and a triplet margin — the seed team's released SFT checkpoint used
//! `1·SFT + 1·InfoNCE + 2·Triplet`.

use std::sync::Arc;

use data::{DataState, Prefetch, PrefetchConfig, ShardSet, StreamConfig, WarmupRow};

use crate::stages::example::{Example, ExampleEncoder};
use crate::stages::example_stream;

/// The stream of stage-1 examples, resumed from `state` when given. The loss is the shared objective
/// ([`crate::stages::objective`]) computed in one graph per micro-batch: one forward pass over the query side serves
/// the SFT term and the embedding.
pub fn examples(
    shards: &ShardSet,
    config: StreamConfig,
    state: Option<&DataState>,
    prefetch: PrefetchConfig,
    encoder: Arc<ExampleEncoder>,
) -> anyhow::Result<Prefetch<Example>> {
    example_stream(shards, config, state, prefetch, move |row: WarmupRow| encoder.warmup(row))
}
