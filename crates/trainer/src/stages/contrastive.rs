//! Stage 2 — contrastive alignment: pull each query (with its reasoning) towards its relevant documents.
//!
//! Query embedding: the pooled `<embtoken>` state of `prompt(query) + reasoning + <embtoken>` (the reasoning comes
//! from the data here). Document embedding: `instruction + text + <embtoken>`. Loss: InfoNCE over cosine
//! similarities divided by τ, with the query's positive, the other queries' documents (in-batch negatives) and
//! its hard negatives in the denominator — sentence-transformers' `MultipleNegativesRankingLoss`. Options: the
//! symmetric document → query term, masking in-batch documents that are also positives of the query, a triplet
//! margin term, the stage-1 SFT term as a regulariser, and GradCache for batches larger than memory allows.

use std::sync::Arc;

use data::{ContrastiveRow, DataState, Prefetch, PrefetchConfig, ShardSet, StreamConfig};

use crate::stages::example::{Example, ExampleEncoder};
use crate::stages::example_stream;

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
