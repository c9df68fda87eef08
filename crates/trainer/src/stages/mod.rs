//! The curriculum's stages. Each file reads as the method it implements; all run on the shared loop in
//! [`crate::train::runner`] through the [`StageMethod`] interface: "give me the gradients of optimizer step k at
//! these weights, and tell me what to save so that a resumed run continues exactly".

pub mod contrastive;
pub mod example;
pub mod gather;
pub mod gradcache;
pub mod grpo;
pub mod objective;
pub mod warmup;

use serde::{Deserialize, Serialize};

use burn::optim::GradientsParams;
use data::{DataState, FromBatch, Prefetch, PrefetchConfig, ShardSet, Stream, StreamConfig};
use model::hf::NamedParam;
use model::{CausalLm, TextTokenizer};

use crate::recipe::StageKind;
use crate::stages::example::Example;
use crate::stages::gradcache::gradcache_grads;
use crate::stages::objective::{LossParts, Objective, micro_batch_loss};
use crate::train::collective::Collective;
use crate::train::fault;

/// What one optimizer step of a stage produced.
pub struct StepOutput {
    /// Parameter gradients summed over the step's micro-batches (the runner clips and applies them).
    pub grads: GradientsParams,
    /// The step's loss (as optimised).
    pub loss: f64,
    /// Further metrics (`train/...` names).
    pub metrics: Vec<(String, f64)>,
    /// Tokens processed (for throughput).
    pub tokens: usize,
    /// Texts for TensorBoard's Text tab, (tag, markdown), from rank 0 (GRPO's sampled completions).
    pub texts: Vec<(String, String)>,
}

/// What a stage must save to continue exactly after its last completed step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResumeState {
    /// The data cursor after the last consumed example.
    pub data: Option<DataState>,
    /// Stage 3's generation batch not yet used by all `num_iterations` updates.
    pub buffer: Option<grpo::GenerationBuffer>,
}

/// One stage's method on the shared loop.
pub trait StageMethod {
    /// The gradients of optimizer step `step` (0-based) at `model`'s weights, for this rank's share of the step;
    /// `comm` makes step-wide counts global (every rank calls the same collectives in the same order).
    fn step(
        &mut self,
        model: &CausalLm,
        step: usize,
        params: &[NamedParam],
        comm: &dyn Collective,
    ) -> anyhow::Result<StepOutput>;
    /// The data cursor after the last consumed example.
    fn data_state(&self) -> Option<&DataState>;
    /// The state to checkpoint after the last step (built only when a checkpoint is written).
    fn resume_state(&self) -> ResumeState;
}

/// Stages 1 and 2: batches of examples from the data stream, the weighted objective per micro-batch.
pub struct SupervisedMethod {
    /// Prepared examples.
    pub examples: Prefetch<Example>,
    /// Loss weights.
    pub objective: Objective,
    /// Stage 1 or 2.
    pub kind: StageKind,
    /// Queries per micro-batch.
    pub batch_size: usize,
    /// Micro-batches per optimizer step.
    pub grad_accum: usize,
    /// The tokenizer.
    pub tokenizer: TextTokenizer,
    /// Cursor after the last consumed example.
    pub data: Option<DataState>,
}

impl StageMethod for SupervisedMethod {
    fn step(
        &mut self,
        model: &CausalLm,
        _step: usize,
        params: &[NamedParam],
        comm: &dyn Collective,
    ) -> anyhow::Result<StepOutput> {
        let mut batch: Vec<Example> = Vec::with_capacity(self.batch_size * self.grad_accum);
        for _ in 0..self.batch_size * self.grad_accum {
            let prepared = self.examples.next().ok_or_else(|| anyhow::anyhow!("the training stream ended"))??;
            self.data = Some(prepared.state);
            batch.push(prepared.item);
        }
        let tokens = batch.iter().map(|e| e.prompt.len() + e.reasoning.len() + 1).sum();
        let sft_normaliser = step_normaliser(comm, objective::target_tokens(&batch), "SFT target tokens");
        let mut grads: Option<GradientsParams> = None;
        let mut parts = LossParts::default();
        let mut loss = 0.0;
        // GradCache applies to stage 2's embedding terms (the recipe rejects it together with the SFT term).
        let chunk = if self.kind == StageKind::Contrastive { self.objective.config.gradcache_chunk } else { 0 };
        for micro in batch.chunks(self.batch_size) {
            let (g, p, value) = if chunk > 0 {
                gradcache_grads(model, &self.tokenizer, &self.objective, micro, self.grad_accum, params, comm)?
            } else {
                let objective = &self.objective;
                single_graph_grads(model, &self.tokenizer, objective, micro, sft_normaliser, self.grad_accum, comm)?
            };
            grads = Some(crate::train::grads::accumulate(grads, g, params));
            loss += value;
            parts.sft += p.sft;
            parts.infonce += p.infonce / self.grad_accum as f64;
            parts.triplet += p.triplet / self.grad_accum as f64;
        }
        let mut metrics = Vec::new();
        for (on, name, value) in [
            (self.objective.sft > 0.0, "train/sft", parts.sft),
            (self.objective.infonce > 0.0, "train/infonce", parts.infonce),
            (self.objective.triplet > 0.0, "train/triplet", parts.triplet),
        ] {
            if on {
                metrics.push((name.to_string(), value));
            }
        }
        Ok(StepOutput {
            grads: grads.ok_or_else(|| anyhow::anyhow!("empty step"))?,
            loss,
            metrics,
            tokens,
            texts: Vec::new(),
        })
    }

    fn data_state(&self) -> Option<&DataState> {
        self.data.as_ref()
    }

    fn resume_state(&self) -> ResumeState {
        ResumeState { data: self.data.clone(), buffer: None }
    }
}

/// A stage's stream of prepared examples: rows of type `R` from `shards` (resumed at `state` when given),
/// turned into [`Example`]s by `prepare` on the prefetch workers.
pub fn example_stream<R, T, F>(
    shards: &ShardSet,
    config: StreamConfig,
    state: Option<&DataState>,
    prefetch: PrefetchConfig,
    prepare: F,
) -> anyhow::Result<Prefetch<T>>
where
    R: FromBatch,
    T: Send + 'static,
    F: Fn(R) -> anyhow::Result<T> + Send + Sync + 'static,
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
    comm: &dyn Collective,
) -> anyhow::Result<(GradientsParams, LossParts, f64)> {
    let (loss, parts, value) =
        micro_batch_loss(model, tokenizer, objective, examples, sft_normaliser, micro_batches, comm)?;
    Ok((GradientsParams::from_grads(loss.backward(), model), parts, value))
}

/// The normaliser of a token-weighted step loss: the step's token count over all ranks divided by their number
/// (at least 1), so that W ranks whose gradients are averaged equal one process with the whole batch.
pub fn step_normaliser(comm: &dyn Collective, local_tokens: usize, what: &str) -> f64 {
    if fault::faults().local_normaliser {
        return local_tokens.max(1) as f64;
    }
    let total = comm.sum_count(what, local_tokens);
    (total as f64 / comm.world_size() as f64).max(1.0)
}
