//! The one training loop every stage runs on, readable top to bottom:
//!
//! ```text
//! for each stage (resuming where a checkpoint says):
//!     open the stage's example stream (restored to the checkpoint's data cursor)
//!     for each optimizer step:
//!         take batch_size × grad_accum prepared examples
//!         for each micro-batch: loss → backward → gradients, summed
//!         gradients averaged over ranks (one all-reduce) → NaN/Inf guard → global-norm clip → AdamW step
//!         at the scheduled learning rate
//!         log metrics; every N steps: checkpoint; every M steps: evaluate
//!     stage-final checkpoint + HF export
//! ```
//!
//! Every random choice is derived from (seed, stage) and the data order from the data crate's cursor, so a run is
//! fully described by its resolved recipe and a resumed run repeats the uninterrupted one step for step.
//!
//! A data-parallel job runs this loop on every rank ([`crate::train::collective`]): each rank takes its share of
//! every batch, the stages make their step-wide counts global, gradients are averaged once per step, and rank 0
//! alone writes files, logs and evaluates while the others wait at a barrier.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use burn::module::Module;
use burn::optim::{AdamWConfig, ModuleOptimizer};
use data::{Corpus, PrefetchConfig, ShardSet, StreamConfig};
use model::rng::derive_seed;
use model::{CausalLm, TextFormat, TextTokenizer, named_params};
use serde_json::Value;

use crate::eval::evaluator::{EvalOptions, evaluate};
use crate::grpo::completions::CompletionsLog;
use crate::recipe::{Recipe, StageKind, StageSpec};
use crate::stages::example::ExampleEncoder;
use crate::stages::grpo::{self, GrpoMethod};
use crate::stages::objective::Objective;
use crate::stages::{StageMethod, SupervisedMethod, contrastive, warmup};
use crate::train::best::{BestModel, Candidate};
use crate::train::checkpoint::{self, TrainState};
use crate::train::collective::{self, Collective};
use crate::train::fault::{self, KillPoint};
use crate::train::grads::{all_reduce_mean, clip_global_norm};
use crate::train::guard::check_step;
use crate::train::metrics::MetricsLog;
use crate::train::progress::StageProgress;
use crate::train::records::StageSummary;
use crate::train::schedule::learning_rate;
use crate::train::{preflight, publish, recipe_change, records, replicas, run_dir};
use crate::{model_card, model_source};

/// Where a run starts.
#[derive(Debug, Clone, PartialEq)]
pub enum Resume {
    /// From the recipe's model, into a folder that holds no earlier run.
    Fresh,
    /// From the recipe's model, after removing an earlier run's files from the folder.
    Overwrite,
    /// From the newest valid checkpoint in the run folder, or fresh when there is none.
    Auto,
    /// From this checkpoint folder.
    From(PathBuf),
}

/// Runs every stage of `recipe` from `resume`; `recipe_toml` is the resolved recipe saved with checkpoints.
pub fn train(recipe: &Recipe, recipe_toml: &str, resume: Resume) -> anyhow::Result<Vec<StageSummary>> {
    let comm = collective::connect(Duration::from_secs(recipe.run.collective_timeout_s))?;
    let comm = comm.as_ref();
    if let Some(want) = recipe.run.world_size
        && want != comm.world_size()
    {
        bail!("run.world_size = {want}, but the job has {} process(es)", comm.world_size());
    }
    comm.agree("the resolved recipe (pass every rank the same recipe and --set values)", recipe_toml)?;
    let out = recipe.output_dir();
    let device_spec = collective::device_for_rank(&recipe.run.device, comm.local_rank());
    let device = model::parse_device(&device_spec)?.autodiff();
    let ckpt_root = out.join("checkpoints");
    let _lock = if comm.is_rank0() { Some(run_dir::lock(&out)?) } else { None };
    let stage_names: Vec<&str> = recipe.stage.iter().map(|s| s.name.as_str()).collect();
    // Rank 0 decides where the run starts; the others follow its choice.
    let explicit = matches!(resume, Resume::From(_));
    let choice = if comm.is_rank0() {
        match resume {
            Resume::Fresh | Resume::Overwrite => {
                run_dir::claim_fresh(&out, &stage_names, resume == Resume::Overwrite)?;
                records::write_recipe(&out, recipe_toml)?;
                None
            }
            Resume::Auto => {
                let found = checkpoint::latest(&ckpt_root)?.map(|(dir, _)| dir);
                if found.is_none() {
                    // Nothing to resume: what the folder holds is an attempt killed before its first checkpoint.
                    run_dir::restart_unsaved(&out, &stage_names, recipe_toml)?;
                    records::write_recipe(&out, recipe_toml)?;
                }
                found
            }
            Resume::From(dir) => Some(dir),
        }
    } else {
        None
    };
    let choice = comm.all_gather_json("the checkpoint to resume from", &choice)?.swap_remove(0);
    let resume_from = match choice {
        Some(dir) => {
            let state = checkpoint::verify(&dir)?;
            state.check_world_size(comm.world_size())?;
            let saved = std::fs::read_to_string(dir.join("recipe.toml"))?;
            recipe_change::check(&saved, recipe_toml, &dir.display().to_string())?;
            // Only once the resume is accepted: the newer checkpoints of the abandoned future move aside.
            if explicit && comm.is_rank0() {
                checkpoint::set_aside_newer(&ckpt_root, &state)?;
            }
            Some((dir, state))
        }
        None => None,
    };
    let loaded = model_source::open(&recipe.model, &recipe.format, &device)?;
    let tokenizer = loaded.tokenizer.clone();
    if let Some((dir, _)) = &resume_from {
        checkpoint::check_tokenizer(dir, &tokenizer)?;
    }
    if comm.is_rank0() {
        // Staging and set-aside folders of a killed process (never a finished checkpoint or export).
        let parents =
            [ckpt_root.clone(), out.clone()].into_iter().chain(recipe.stage.iter().map(|s| out.join(&s.name)));
        for parent in parents {
            publish::remove_leftovers(&parent)?;
        }
        // A run killed between publishing a checkpoint and pruning the older ones prunes them now.
        if ckpt_root.is_dir() {
            checkpoint::prune(&ckpt_root, recipe.run.keep_last)?;
        }
    }
    let format = recipe.format.resolve(tokenizer.chat_template.as_ref()).context("format.chat_template")?;
    if recipe.format.chat_template {
        eprintln!("query template from the model's chat template: {:?}", format.query_template);
    }
    let mut model = loaded.model;
    let (first_stage, mut start) = match &resume_from {
        Some((dir, state)) => {
            eprintln!("resuming from {} (stage {}, step {})", dir.display(), state.stage_name, state.step);
            model = checkpoint::load_model(dir, &device)?;
            if state.stage_done() {
                (state.stage_index + 1, None)
            } else {
                (state.stage_index, Some((dir.clone(), state.clone())))
            }
        }
        None => (0, None),
    };
    let policy = recipe.data.bad_rows;
    let corpus = Arc::new(Corpus::load(&ShardSet::open(&recipe.data.corpus)?, &recipe.data.columns, policy)?);
    preflight::check_data(recipe, &corpus, first_stage)?;
    replicas::check(comm, &model, "the starting weights")?;
    // A stage-final checkpoint whose stage has no record: the export or the evaluations were interrupted.
    let unfinished =
        resume_from.as_ref().map(|(_, s)| s).filter(|s| s.stage_done() && !records::has_stage(&out, &s.stage_name));
    let restart = resume_from.as_ref().map(|(_, s)| (s.global_step, unfinished.is_some()));
    let mut metrics = MetricsLog::open(&out, comm.rank(), restart)?;
    metrics.hparams(recipe_toml)?;
    // After the log is cut back to the checkpoint: the best value so far is read from it.
    let best =
        RefCell::new(if comm.is_rank0() { BestModel::open(&out, recipe.export.best_metric.as_deref()) } else { None });
    let mut global_step = resume_from.as_ref().map_or(0, |(_, s)| s.global_step);
    let mut summaries = Vec::new();
    if let Some(state) = unfinished {
        let ctx = StageContext {
            recipe,
            recipe_toml,
            index: state.stage_index,
            stage: &recipe.stage[state.stage_index],
            tokenizer: &tokenizer,
            format: &format,
            corpus: corpus.clone(),
            out: &out,
            comm,
            best: &best,
        };
        eprintln!("[{}] completing the stage's export and evaluation, which were interrupted", state.stage_name);
        summaries.push(finish_stage(&ctx, &model, state, Instant::now(), &mut metrics)?);
    }
    for (index, stage) in recipe.stage.iter().enumerate().skip(first_stage).filter(|(_, s)| s.enabled) {
        let ctx = StageContext {
            recipe,
            recipe_toml,
            index,
            stage,
            tokenizer: &tokenizer,
            format: &format,
            corpus: corpus.clone(),
            out: &out,
            comm,
            best: &best,
        };
        let (trained, summary) = run_stage(&ctx, model, start.take(), &mut global_step, &mut metrics)?;
        model = trained;
        summaries.push(summary);
    }
    if comm.is_rank0() {
        records::write_summary(&out, recipe, recipe_toml)?;
        if summaries.iter().any(|s| !s.evals.is_empty()) {
            eprintln!("\n{}", eval_table(&summaries));
        }
    }
    Ok(summaries)
}

/// What one stage needs to know.
struct StageContext<'a> {
    recipe: &'a Recipe,
    recipe_toml: &'a str,
    index: usize,
    stage: &'a StageSpec,
    tokenizer: &'a TextTokenizer,
    /// The recipe's text format, with the chat template applied when it asks for one.
    format: &'a TextFormat,
    corpus: Arc<Corpus>,
    out: &'a Path,
    /// The job's process group.
    comm: &'a dyn Collective,
    /// The run's best model by `export.best_metric` (rank 0, when set).
    best: &'a RefCell<Option<BestModel>>,
}

impl StageContext<'_> {
    /// Waits for rank 0 to finish `what` (which only it does), under the long rank-0 deadline.
    fn after_rank0(&self, what: &str) {
        self.comm.barrier(what, Duration::from_secs(self.recipe.run.rank0_work_timeout_s));
    }
}

fn run_stage(
    ctx: &StageContext,
    mut model: CausalLm,
    resume: Option<(PathBuf, TrainState)>,
    global_step: &mut u64,
    metrics: &mut MetricsLog,
) -> anyhow::Result<(CausalLm, StageSummary)> {
    let (recipe, stage) = (ctx.recipe, ctx.stage);
    let seed = derive_seed(recipe.run.seed, &[ctx.index as u64]);
    let objective = Objective::new(stage.kind, &stage.loss);
    let encoder = Arc::new(ExampleEncoder {
        tokenizer: ctx.tokenizer.clone(),
        format: ctx.format.clone(),
        limits: stage.limits.clone(),
        corpus: ctx.corpus.clone(),
        hard_negatives: if objective.uses_documents() || stage.kind == StageKind::Grpo {
            stage.loss.hard_negatives
        } else {
            0
        },
        seed,
    });
    let shards = ShardSet::open(&stage.train).with_context(|| format!("stage `{}`: training shards", stage.name))?;
    let stream_config = StreamConfig {
        seed,
        shuffle: true,
        shuffle_window: recipe.data.shuffle_window,
        rank: ctx.comm.rank(),
        world_size: ctx.comm.world_size(),
        num_epochs: None,
        bad_rows: recipe.data.bad_rows,
        columns: recipe.data.columns.clone(),
        ..StreamConfig::default()
    };
    let prefetch = PrefetchConfig { workers: recipe.data.workers, capacity: recipe.data.prefetch };
    let comm = ctx.comm;
    let saved = resume.as_ref().map(|(_, s)| s.resume_of(comm.rank())).unwrap_or_default();
    let data_state = saved.data.as_ref();
    let mut method: Box<dyn StageMethod> = match stage.kind {
        StageKind::Warmup | StageKind::Contrastive => {
            let examples = match stage.kind {
                StageKind::Warmup => warmup::examples(&shards, stream_config, data_state, prefetch, encoder)?,
                _ => contrastive::examples(&shards, stream_config, data_state, prefetch, encoder)?,
            };
            Box::new(SupervisedMethod {
                examples,
                objective: objective.clone(),
                kind: stage.kind,
                batch_size: stage.batch_size,
                grad_accum: stage.grad_accum,
                tokenizer: ctx.tokenizer.clone(),
                data: saved.data.clone(),
            })
        }
        StageKind::Grpo => {
            let reference = if stage.grpo.beta > 0.0 { Some(stage_start_model(ctx, &model)?) } else { None };
            Box::new(GrpoMethod {
                examples: grpo::examples(&shards, stream_config, data_state, prefetch, encoder.clone())?,
                config: stage.grpo.clone(),
                batch_size: stage.batch_size,
                grad_accum: stage.grad_accum,
                tokenizer: ctx.tokenizer.clone(),
                reference,
                corpus: ctx.corpus.clone(),
                encoder,
                seed,
                data: saved.data.clone(),
                buffer: saved.buffer.clone(),
                corpus_pool: None,
                contrastive_temperature: stage.loss.temperature,
                completions: match stage.grpo.log_completions_every {
                    0 => None,
                    _ if !comm.is_rank0() => None,
                    every => Some(CompletionsLog::open(
                        ctx.out,
                        &stage.name,
                        every,
                        resume.as_ref().map_or(0, |(_, s)| s.step),
                    )?),
                },
            })
        }
    };

    let o = &stage.optim;
    let mut optimizer: ModuleOptimizer = AdamWConfig::new()
        .with_beta_1(o.beta1)
        .with_beta_2(o.beta2)
        .with_epsilon(o.eps)
        .with_weight_decay(o.weight_decay)
        .init();
    let mut state = TrainState {
        stage_index: ctx.index,
        stage_name: stage.name.clone(),
        step: 0,
        stage_steps: stage.steps,
        global_step: *global_step,
        resume: Default::default(),
        bad_steps_in_a_row: 0,
        bad_steps_total: 0,
        tokens: 0,
        world_size: comm.world_size(),
        ranks: Vec::new(),
    };
    if let Some((dir, saved)) = &resume {
        optimizer = checkpoint::load_optimizer(dir, optimizer)?;
        state = saved.clone();
    }
    let params = named_params(&model);
    let first_step = state.step;
    let started = Instant::now();
    let is_rank0 = comm.is_rank0();
    let dump = fault::faults().dump_grads.clone();
    let progress = StageProgress::new(&stage.name, stage.steps, first_step, recipe.run.log_every, is_rank0);

    for step in first_step..stage.steps {
        let step_start = Instant::now();
        fault::before_step(comm.rank(), step + 1);
        let mut out = method.step(&model, step, &params, comm)?;
        let reduce_start = Instant::now();
        let (grads, host) = all_reduce_mean(out.grads, &params, comm, dump.is_some())?;
        let reduce_s = reduce_start.elapsed().as_secs_f64();
        if let (Some(dir), Some(host), true) = (&dump, host, is_rank0) {
            crate::npy::write_f32_matrix(&dir.join(format!("step-{:05}.npy", *global_step + 1)), &host, 1, host.len())?;
        }
        let loss = comm.mean("the step loss", out.loss);
        let tokens = comm.sum_count("the step's tokens", out.tokens);
        comm.mean_metrics("the step metrics", &mut out.metrics);
        let skipped = comm.sum_count("skipped rows", method.data_state().map_or(0, |d| d.skipped.total() as usize));
        let (grads, grad_norm) = clip_global_norm(grads, &params, o.max_grad_norm);
        let lr = learning_rate(o, step, stage.steps);
        if check_step(&mut state, loss, grad_norm, recipe.run.max_bad_steps)? {
            model = optimizer.step(lr, model, grads);
        }
        state.step = step + 1;
        state.tokens += tokens as u64;
        *global_step += 1;
        state.global_step = *global_step;
        let tokens_per_s = tokens as f64 / step_start.elapsed().as_secs_f64().max(1e-9);
        progress.step(state.step, loss, lr, tokens_per_s, is_rank0);
        if is_rank0 && (state.step.is_multiple_of(recipe.run.log_every) || state.step == stage.steps) {
            let mut values = vec![
                ("train/loss".to_string(), loss),
                ("train/lr".to_string(), lr),
                ("train/grad_norm".to_string(), grad_norm),
                ("train/tokens_per_s".to_string(), tokens_per_s),
                ("train/bad_steps".to_string(), state.bad_steps_total as f64),
                ("data/skipped_rows".to_string(), skipped as f64),
            ];
            values.extend(out.metrics);
            values.push(("time/step_s".to_string(), step_start.elapsed().as_secs_f64()));
            if comm.world_size() > 1 {
                values.push(("time/allreduce_s".to_string(), reduce_s));
            }
            let extra = [("stage", Value::from(stage.name.clone())), ("stage_step", Value::from(state.step))];
            metrics.log(*global_step, &values, &extra)?;
        }
        for (tag, text) in &out.texts {
            metrics.text(*global_step, tag, text)?;
        }
        // Evaluate before checkpointing the same step: a kill in between then repeats both, so each evaluation is
        // logged exactly once.
        if stage.eval_every > 0 && state.step.is_multiple_of(stage.eval_every) && state.step < stage.steps {
            if is_rank0 {
                run_evals(ctx, &model, (state.step, *global_step), metrics)?;
            }
            ctx.after_rank0("the evaluation rank 0 runs");
        }
        let every = recipe.run.checkpoint_every;
        if every > 0 && state.step.is_multiple_of(every) && state.step < stage.steps {
            state.set_resume(comm.all_gather_json("the ranks' resume states", &method.resume_state())?);
            if is_rank0 {
                let root = ctx.out.join("checkpoints");
                let name = format!("step-{:08}", state.global_step);
                checkpoint::save(&root, &name, &model, ctx.tokenizer, &optimizer, &state, ctx.recipe_toml)?;
                checkpoint::prune(&root, recipe.run.keep_last)?;
            }
            ctx.after_rank0("the checkpoint rank 0 writes");
        }
    }
    progress.finish();
    drop(method);

    replicas::check(comm, &model, &format!("the weights after stage `{}`", stage.name))?;
    if is_rank0 {
        state.set_resume(vec![Default::default(); comm.world_size()]);
        let root = ctx.out.join("checkpoints");
        let name = format!("{}-final", stage.name);
        checkpoint::save(&root, &name, &model, ctx.tokenizer, &optimizer, &state, ctx.recipe_toml)?;
    }
    let summary = finish_stage(ctx, &model, &state, started, metrics)?;
    Ok((model, summary))
}

/// The end of a stage after its final checkpoint: the HF export, the evaluations, the export's model card (with
/// their results) and the export's publication (whole), then the stage's record (written last, so a run killed
/// before it completes them on resume). `started`: when this process started the stage.
fn finish_stage(
    ctx: &StageContext,
    model: &CausalLm,
    state: &TrainState,
    started: Instant,
    metrics: &mut MetricsLog,
) -> anyhow::Result<StageSummary> {
    let stage = ctx.stage;
    let export = ctx.out.join(&stage.name).join("final");
    let evals = if ctx.comm.is_rank0() {
        let staging = publish::staging(&export)?;
        export_model(ctx, model, &staging)?;
        fault::kill_point(KillPoint::Export);
        let evals = run_evals(ctx, model, (state.step, state.global_step), metrics)?;
        let card = model_card::render(ctx.recipe, ctx.recipe_toml, stage, &evals);
        model::hf::write_atomic(&staging.join("README.md"), card.as_bytes())?;
        publish::publish(&staging, &export)?;
        evals
    } else {
        Vec::new()
    };
    ctx.after_rank0("the stage-final checkpoint, export and evaluation rank 0 runs");
    let summary = StageSummary {
        name: stage.name.clone(),
        steps: state.step,
        final_loss: crate::train::metrics::recent_loss(ctx.out, &stage.name),
        tokens: state.tokens,
        seconds: started.elapsed().as_secs_f64(),
        export: export.clone(),
        evals,
    };
    if ctx.comm.is_rank0() {
        fault::kill_point(KillPoint::StageRecord);
        records::write_stage(ctx.out, &summary)?;
        eprintln!(
            "[{}] done: {} steps, {} tokens, {:.1}s, final loss {:.4}; model exported to {}",
            summary.name,
            summary.steps,
            summary.tokens,
            summary.seconds,
            summary.final_loss,
            export.display()
        );
    }
    Ok(summary)
}

/// Writes the HF export of `model` into `dir`. From a HF source folder, its `config.json` fields that the model
/// does not change (architectures, rope scaling, ...) and its `generation_config.json` are carried over.
fn export_model(ctx: &StageContext, model: &CausalLm, dir: &Path) -> anyhow::Result<()> {
    let source = ctx.recipe.model.path.as_deref().filter(|p| p.is_dir());
    let hf_config: Option<Value> = match source.map(|d| d.join("config.json")) {
        Some(path) => Some(
            serde_json::from_str(&std::fs::read_to_string(&path)?)
                .with_context(|| format!("{}: not valid JSON", path.display()))?,
        ),
        None => None,
    };
    model::export_dir(dir, model, ctx.tokenizer, hf_config.as_ref(), ctx.format, ctx.recipe.export.layout())?;
    if let Some(generation) = source.map(|d| d.join("generation_config.json")).filter(|p| p.is_file()) {
        let bytes = std::fs::read(&generation).with_context(|| format!("reading {}", generation.display()))?;
        model::hf::write_atomic(&dir.join("generation_config.json"), &bytes)?;
    }
    Ok(())
}

/// The weights the stage started from (its KL reference): the previous enabled stage's final checkpoint of this
/// run, or the recipe's model for the first enabled stage. Taken from disk so that a resumed stage gets the same
/// reference.
fn stage_start_model(ctx: &StageContext, current: &CausalLm) -> anyhow::Result<CausalLm> {
    let device = current.device();
    let Some(previous) = ctx.recipe.stage[..ctx.index].iter().rev().find(|s| s.enabled) else {
        return Ok(model_source::open(&ctx.recipe.model, &ctx.recipe.format, &device)?.model.valid());
    };
    let previous = &previous.name;
    let dir = ctx.out.join("checkpoints").join(format!("{previous}-final"));
    checkpoint::verify(&dir).with_context(|| format!("the KL reference of stage `{}`", ctx.stage.name))?;
    Ok(checkpoint::load_model(&dir, &device)?.valid())
}

/// Runs the recipe's evaluation sets at the current weights (at `(stage step, global step)`), logs
/// `eval/<set>/<metric>`, exports a new best model when one is tracked and beaten, and returns (set, nDCG@10,
/// Recall@10, MRR) per set.
fn run_evals(
    ctx: &StageContext,
    model: &CausalLm,
    (stage_step, step): (usize, u64),
    metrics: &mut MetricsLog,
) -> anyhow::Result<Vec<(String, f64, f64, f64)>> {
    let mut results = Vec::new();
    for set in &ctx.recipe.eval {
        let options = EvalOptions {
            mode: set.mode,
            batch_size: set.batch_size,
            max_new_tokens: set.max_new_tokens,
            temperature: set.temperature,
            max_doc_tokens: ctx.stage.limits.document,
            max_query_tokens: ctx.stage.limits.query,
            drop_query_id_docs: set.drop_query_id_docs,
        };
        let report =
            evaluate(model, ctx.tokenizer, ctx.format, &ctx.corpus, &set.load(&ctx.recipe.data.columns)?, &options)?;
        let m = report.mean;
        let tag = |k: &str| format!("eval/{}/{k}", set.name);
        let values = vec![(tag("ndcg@10"), m.ndcg_10), (tag("recall@10"), m.recall_10), (tag("mrr"), m.mrr)];
        eprintln!(
            "[{}] eval {} ({:?}): nDCG@10 {:.4} recall@10 {:.4}",
            ctx.stage.name, set.name, set.mode, m.ndcg_10, m.recall_10
        );
        metrics.log(step, &values, &[("stage", Value::from(ctx.stage.name.clone()))])?;
        fault::kill_point(KillPoint::Eval);
        results.push((set.name.clone(), m.ndcg_10, m.recall_10, m.mrr));
    }
    if let Some(best) = ctx.best.borrow_mut().as_mut() {
        let candidate = Candidate { evals: &results, stage: &ctx.stage.name, stage_step, global_step: step };
        best.offer(model, &candidate, |model, dir| {
            export_model(ctx, model, dir)?;
            let card = model_card::render(ctx.recipe, ctx.recipe_toml, ctx.stage, &results);
            Ok(model::hf::write_atomic(&dir.join("README.md"), card.as_bytes())?)
        })?;
    }
    Ok(results)
}

/// The end-of-run table: every evaluation set after every stage.
fn eval_table(summaries: &[StageSummary]) -> String {
    let mut out =
        String::from("| after stage | eval set | nDCG@10 | Recall@10 | MRR |\n| --- | --- | --- | --- | --- |\n");
    for s in summaries {
        for (set, ndcg, recall, mrr) in &s.evals {
            out.push_str(&format!("| {} | {set} | {ndcg:.4} | {recall:.4} | {mrr:.4} |\n", s.name));
        }
    }
    out
}
