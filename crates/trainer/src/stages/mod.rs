//! The curriculum's stages. Each file reads as the method it implements; all run on the shared loop in
//! [`crate::train::runner`].

pub mod contrastive;
pub mod example;
pub mod gradcache;
pub mod objective;
pub mod warmup;

use burn::optim::GradientsParams;
use data::{DataState, FromBatch, Prefetch, PrefetchConfig, ShardSet, Stream, StreamConfig};
use model::hf::NamedParam;
use model::{CausalLm, TextTokenizer};

use crate::recipe::StageKind;
use crate::stages::example::Example;
use crate::stages::objective::{LossParts, Objective, micro_batch_loss};

/// A stage's stream of prepared examples: rows of type `R` from `shards` (resumed at `state` when given),
/// turned into [`Example`]s by `prepare` on the prefetch workers.
pub fn example_stream<R, F>(
    shards: &ShardSet,
    config: StreamConfig,
    state: Option<&DataState>,
    prefetch: PrefetchConfig,
    prepare: F,
) -> anyhow::Result<Prefetch<Example>>
where
    R: FromBatch,
    F: Fn(R) -> anyhow::Result<Example> + Send + Sync + 'static,
{
    let stream = match state {
        Some(s) => Stream::<R>::restore(shards, config, s)?,
        None => Stream::<R>::new(shards, config)?,
    };
    Ok(Prefetch::new(stream, prefetch, move |row| {
        prepare(row).map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e.into() })
    })?)
}

/// Gradients of one micro-batch in a single graph (the default path of both stages).
pub fn single_graph_grads(
    model: &CausalLm,
    tokenizer: &TextTokenizer,
    objective: &Objective,
    examples: &[Example],
    sft_normaliser: f64,
    micro_batches: usize,
) -> anyhow::Result<(GradientsParams, LossParts, f64)> {
    let (loss, parts) = micro_batch_loss(model, tokenizer, objective, examples, sft_normaliser, micro_batches)?;
    let value = loss.clone().into_scalar::<f32>() as f64;
    Ok((GradientsParams::from_grads(loss.backward(), model), parts, value))
}

/// Which of a stage's per-micro-batch computations to run.
#[allow(clippy::too_many_arguments)]
pub fn micro_batch_grads(
    kind: StageKind,
    model: &CausalLm,
    tokenizer: &TextTokenizer,
    objective: &Objective,
    examples: &[Example],
    sft_normaliser: f64,
    micro_batches: usize,
    params: &[NamedParam],
) -> anyhow::Result<(GradientsParams, LossParts, f64)> {
    match kind {
        StageKind::Warmup => single_graph_grads(model, tokenizer, objective, examples, sft_normaliser, micro_batches),
        StageKind::Contrastive => {
            contrastive::micro_batch_grads(model, tokenizer, objective, examples, sft_normaliser, micro_batches, params)
        }
    }
}
