//! The curriculum's stages. Each file reads as the method it implements; all run on the shared loop in
//! [`crate::train::runner`].

pub mod contrastive;
pub mod example;
pub mod gradcache;
pub mod objective;
pub mod warmup;

use burn::optim::GradientsParams;
use model::hf::NamedParam;
use model::{CausalLm, TextTokenizer};

use crate::stages::example::Example;
use crate::stages::objective::{LossParts, Objective, micro_batch_loss};

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
pub fn micro_batch_grads(
    kind: crate::recipe::StageKind,
    model: &CausalLm,
    tokenizer: &TextTokenizer,
    objective: &Objective,
    examples: &[Example],
    sft_normaliser: f64,
    micro_batches: usize,
    params: &[NamedParam],
) -> anyhow::Result<(GradientsParams, LossParts, f64)> {
    match kind {
        crate::recipe::StageKind::Warmup => {
            warmup::micro_batch_grads(model, tokenizer, objective, examples, sft_normaliser, micro_batches)
        }
        crate::recipe::StageKind::Contrastive => {
            contrastive::micro_batch_grads(model, tokenizer, objective, examples, sft_normaliser, micro_batches, params)
        }
    }
}
