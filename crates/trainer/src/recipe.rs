//! Recipes: a whole run described as data (TOML → typed structs). Every field has a documented default;
//! unknown keys, wrong types and impossible values are errors naming the file, the key path and what is
//! allowed — all checked before any model is loaded. `recipes/README.md` is checked against these structs.

use std::path::{Path, PathBuf};

use model::TextFormat;

use crate::eval::evaluator::QueryMode;
use serde::{Deserialize, Serialize};

/// A complete run: model, text formats, shared data and the stages to run in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Recipe {
    /// Run-wide settings.
    pub run: RunConfig,
    /// Where the model comes from.
    pub model: ModelSpec,
    /// Document and query templates and the embedding token.
    pub format: TextFormat,
    /// Data shared by all stages (corpus, evaluation sets, column names).
    pub data: DataSpec,
    /// The stages, run in order; each starts from the previous one's final weights.
    pub stage: Vec<StageSpec>,
    /// Evaluation sets, run at the end of every stage (and every `stage.eval_every` steps).
    pub eval: Vec<EvalSetSpec>,
    /// How each stage's HF model folder (`<stage>/final/`) is written.
    pub export: ExportSpec,
}

impl Default for Recipe {
    fn default() -> Self {
        Self {
            run: RunConfig::default(),
            model: ModelSpec::default(),
            format: TextFormat::default(),
            data: DataSpec::default(),
            stage: vec![StageSpec::default()],
            eval: Vec::new(),
            export: ExportSpec::default(),
        }
    }
}

/// The HF export written at the end of every stage (checkpoints stay f32, whole: they resume training).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExportSpec {
    /// Weight type: `f32` (exactly as trained) or `bf16` (half the size, as most released checkpoints are).
    /// Default `f32`.
    pub dtype: model::WeightDtype,
    /// Largest weight file in MB (10⁶ bytes); a larger model is sharded with a `model.safetensors.index.json`,
    /// as `save_pretrained` does. 0: one file. Default 5000 (5 GB).
    pub max_shard_mb: u64,
    /// Keep the best model by this dev metric, `<eval set>/<ndcg@10|recall@10|mrr>` (HF's
    /// `load_best_model_at_end`): every evaluation that beats the best so far exports to `<run>/best/` and
    /// records it in `<run>/best.json`. Default: unset (no best model).
    pub best_metric: Option<String>,
    /// The model card's `license` (a Hub licence id such as `apache-2.0`; it follows the base model's). Default:
    /// unset (the card says none).
    pub license: Option<String>,
    /// The model card's `datasets`: Hub ids of the training data, when it is published. Default none.
    pub datasets: Vec<String>,
}

impl Default for ExportSpec {
    fn default() -> Self {
        Self {
            dtype: model::WeightDtype::F32,
            max_shard_mb: 5000,
            best_metric: None,
            license: None,
            datasets: Vec::new(),
        }
    }
}

impl ExportSpec {
    /// The weight layout this asks for.
    pub fn layout(&self) -> model::WeightLayout {
        model::WeightLayout { dtype: self.dtype, max_shard_bytes: self.max_shard_mb.saturating_mul(1_000_000) }
    }
}

/// Run-wide settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// Name of the run (the output folder's name). Default `"run"`.
    pub name: String,
    /// Output folder (checkpoints, metrics, exports). Default `checkpoints/<name>`.
    pub output: Option<PathBuf>,
    /// Base seed; every random stream is derived from (seed, stage, step, example position), never from the rank,
    /// so a data-parallel job samples what one process would. Default 0.
    pub seed: u64,
    /// Backend: `cpu`, `wgpu[:N]` or `cuda[:N]`; `wgpu:auto` / `cuda:auto` pick GPU N = the process's local rank
    /// in a data-parallel job (0 for a single process). Default `cpu`.
    pub device: String,
    /// Write metrics every N optimizer steps. Default 1.
    pub log_every: usize,
    /// Save a checkpoint every N optimizer steps (0: only at the end of each stage). Default 50.
    pub checkpoint_every: usize,
    /// Keep the newest K step checkpoints (stage-final ones are always kept). Default 2.
    pub keep_last: usize,
    /// Stop after this many consecutive steps with a NaN/Inf loss or gradient (each is skipped). Default 5.
    pub max_bad_steps: usize,
    /// Number of data-parallel processes the job must have, checked at start; unset accepts any. Rank and world
    /// size come from the launcher (`mpirun -np N`, `srun`), never from the recipe. Default: unset.
    pub world_size: Option<usize>,
    /// Seconds one collective (gradient all-reduce, gather) may wait for the other ranks before the watchdog ends
    /// the job: a hung rank must not hang it forever. Default 600.
    pub collective_timeout_s: u64,
    /// Seconds the other ranks wait while rank 0 alone saves a checkpoint, exports or evaluates. Default 21600.
    pub rank0_work_timeout_s: u64,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            name: "run".into(),
            output: None,
            seed: 0,
            device: "cpu".into(),
            log_every: 1,
            checkpoint_every: 50,
            keep_last: 2,
            max_bad_steps: 5,
            world_size: None,
            collective_timeout_s: 600,
            rank0_work_timeout_s: 21600,
        }
    }
}

/// The starting model: a HF directory, or a built-in preset with a tokenizer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelSpec {
    /// A HF model directory (`config.json`, safetensors, `tokenizer.json`), a llama.cpp `.gguf` file (dequantised
    /// to f32 at load), or a hub id (`Qwen/Qwen3-0.6B`, `org/name@revision`) already in the local HF cache
    /// (`$HF_HUB_CACHE`, `$HF_HOME/hub` or `~/.cache/huggingface/hub`; never downloaded); when set, `preset` and
    /// `tokenizer` are ignored. Default: none.
    pub path: Option<PathBuf>,
    /// Built-in shape used when `path` is not set: `tiny`, `small` or `smollm2-135m`. Default `tiny`.
    pub preset: String,
    /// Tokenizer for a preset model. Default `data/tokenizer.json` (the embedded dataset's).
    pub tokenizer: PathBuf,
    /// Initialisation seed of a preset model. Default 0.
    pub init_seed: u64,
}

impl Default for ModelSpec {
    fn default() -> Self {
        Self { path: None, preset: "tiny".into(), tokenizer: PathBuf::from("data/tokenizer.json"), init_seed: 0 }
    }
}

/// Data shared by the stages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataSpec {
    /// Corpus shards (files or globs) that `positive_ids`/`negative_ids` refer to. Default
    /// `["data/corpus.parquet"]`.
    pub corpus: Vec<String>,
    /// Rows of the corpus/evaluation readers to skip instead of failing on: `error` or `skip`. Default `error`.
    pub bad_rows: data::BadRowPolicy,
    /// Row groups per shuffle window (the bounded shuffle buffer). Default 4.
    pub shuffle_window: usize,
    /// Worker threads preparing batches in the background. Default 1.
    pub workers: usize,
    /// Prepared examples queued ahead of the trainer. Default 64.
    pub prefetch: usize,
    /// Column names of every schema, e.g. `[data.columns] text = "content"` (fields `doc_id`, `text`, `title`,
    /// `query_id`, `query`, `reasoning`, `positive_ids`, `negative_ids`, `positives`, `negatives`, `excluded_ids`,
    /// `task`, `relevance`). Default: those names.
    pub columns: data::ColumnNames,
}

impl Default for DataSpec {
    fn default() -> Self {
        Self {
            corpus: vec!["data/corpus.parquet".into()],
            bad_rows: data::BadRowPolicy::Error,
            shuffle_window: 4,
            workers: 1,
            prefetch: 64,
            columns: data::ColumnNames::default(),
        }
    }
}

/// Which method a stage runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StageKind {
    /// Stage 1: next-token loss on reasoning + embedding token (plus optional contrastive terms).
    Warmup,
    /// Stage 2: InfoNCE between (query + reasoning) and documents.
    Contrastive,
    /// Stage 3: GRPO on reasoning rollouts rewarded by the rank their embedding gives the positives.
    Grpo,
}

/// One stage of the curriculum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StageSpec {
    /// Name (checkpoint folder and metric prefix; `--set stage.NAME.key=value` addresses the stage by it). Default
    /// `"warmup"`.
    pub name: String,
    /// Whether the stage runs. A disabled stage is skipped without changing the others' seeds or names (the next
    /// stage starts from the weights the previous enabled one ended with) — for ablations. Default true.
    pub enabled: bool,
    /// Method: `warmup`, `contrastive` or `grpo`. Default `warmup`.
    pub kind: StageKind,
    /// Training shards (files or globs) with the stage's schema. Default `["data/train_warmup.parquet"]`.
    pub train: Vec<String>,
    /// Optimizer steps. Default 100.
    pub steps: usize,
    /// Queries per micro-batch. Default 16.
    pub batch_size: usize,
    /// Micro-batches per optimizer step. Default 1.
    pub grad_accum: usize,
    /// Optimizer and schedule.
    pub optim: OptimConfig,
    /// Token limits per field (truncation).
    pub limits: TokenLimits,
    /// Loss terms and their weights.
    pub loss: LossConfig,
    /// Evaluate every N steps (0: only at the end of the stage). Default 0.
    pub eval_every: usize,
    /// Stage-3 settings (used when `kind = "grpo"`).
    pub grpo: GrpoConfig,
}

impl Default for StageSpec {
    fn default() -> Self {
        Self {
            name: "warmup".into(),
            enabled: true,
            kind: StageKind::Warmup,
            train: vec!["data/train_warmup.parquet".into()],
            steps: 100,
            batch_size: 16,
            grad_accum: 1,
            optim: OptimConfig::default(),
            limits: TokenLimits::default(),
            loss: LossConfig::default(),
            eval_every: 0,
            grpo: GrpoConfig::default(),
        }
    }
}

/// One evaluation set: queries and qrels (and the shared corpus).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalSetSpec {
    /// Name used in metric tags (`eval/<name>/ndcg@10`). Default `dev`.
    pub name: String,
    /// Query shards (`query_id`, `query`, optional `task`, `excluded_ids`). Default `["data/dev_queries.parquet"]`.
    pub queries: Vec<String>,
    /// Qrels shards (`query_id`, `doc_id`, `relevance`). Default `["data/dev_qrels.parquet"]`.
    pub qrels: Vec<String>,
    /// `plain` (query only) or `generate` (greedy reasoning first, as T1 does). Default `generate`.
    pub mode: QueryMode,
    /// Texts per forward pass. Default 32.
    pub batch_size: usize,
    /// Reasoning length cap in `generate` mode. Default 48.
    pub max_new_tokens: usize,
    /// Sampling temperature of the reasoning in `generate` mode (0: greedy). Default 0.
    pub temperature: f32,
    /// Drop retrieved documents whose id equals the query id (BEIR's rule). Default false.
    pub drop_query_id_docs: bool,
}

impl Default for EvalSetSpec {
    fn default() -> Self {
        Self {
            name: "dev".into(),
            queries: vec!["data/dev_queries.parquet".into()],
            qrels: vec!["data/dev_qrels.parquet".into()],
            mode: QueryMode::Generate,
            batch_size: 32,
            max_new_tokens: 48,
            temperature: 0.0,
            drop_query_id_docs: false,
        }
    }
}

impl EvalSetSpec {
    /// Reads the queries and qrels with the recipe's column names.
    pub fn load(&self, names: &data::ColumnNames) -> anyhow::Result<data::EvalSet> {
        Ok(data::EvalSet::load(
            &data::ShardSet::open(&self.queries)?,
            &data::ShardSet::open(&self.qrels)?,
            names,
            data::BadRowPolicy::Error,
        )?)
    }
}

/// Stage 3 (GRPO). Names and defaults follow TRL's `GRPOConfig` where the knob exists there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpoConfig {
    /// Rollouts per query, G (TRL `num_generations`; ≥ 2). Default 4.
    pub group_size: usize,
    /// Sampling of the reasoning: temperature, top_k, top_p, max_new_tokens, stop_at_eos. Default temperature 1.0,
    /// no top-k/top-p, 32 new tokens.
    pub sampling: model::SamplingParams,
    /// Aggregation: `grpo`, `bnpo`, `dr_grpo` or `dapo` (TRL's default; Yu et al. 2025). Default `dapo`.
    pub loss_type: crate::grpo::loss::LossType,
    /// Ratio per `token`, or per `sequence` (GSPO, Zheng et al. 2025). Default `token`.
    pub importance: crate::grpo::loss::ImportanceLevel,
    /// Lower clip ε_low (TRL `epsilon`). Default 0.2.
    pub epsilon_low: f64,
    /// Upper clip ε_high ("clip-higher", DAPO recommends 0.28). Default 0.28.
    pub epsilon_high: f64,
    /// Weight β of the k3 KL to the stage's starting model (0 keeps no reference model). Default 0.0.
    pub beta: f64,
    /// Optimizer steps per generation batch (TRL `num_iterations`, μ). Default 1.
    pub num_iterations: usize,
    /// Advantage scaling: `group`, `batch` or `none` (Dr. GRPO, Liu et al. 2025). Default `group`.
    pub scale_rewards: crate::grpo::advantages::RewardScale,
    /// ε added to the standard deviation of the advantages (TRL: 1e-4). Default 1e-4.
    pub advantage_eps: f64,
    /// DAPO's dynamic sampling (Yu et al. 2025): groups whose rewards are all equal carry no signal, so fresh
    /// queries are sampled in further rounds until the batch holds `batch_size` informative groups (on every rank)
    /// or `max_generation_rounds` rounds are spent; constant groups that still fill the batch stay out of the loss.
    /// Default false.
    pub dynamic_sampling: bool,
    /// Most sampling rounds per generation batch with `dynamic_sampling` (DAPO's `max_num_gen_batches`); each round
    /// costs a generation of `batch_size` queries and consumes them from the stream. Default 4.
    pub max_generation_rounds: usize,
    /// Keep truncated rollouts (cut at `sampling.max_new_tokens`) out of the loss (DAPO, TRL's
    /// `mask_truncated_completions`; an EOS ending is not a truncation). Default false.
    pub mask_truncated: bool,
    /// Retrieval reward: `reciprocal_rank`, `ndcg` (binary gain, at `reward_k`), `hit` (at `reward_k`) or
    /// `margin` (best positive similarity − best negative similarity). Default `reciprocal_rank`.
    pub reward: crate::grpo::reward::RewardKind,
    /// Cut-off of `ndcg` and `hit`. Default 10.
    pub reward_k: usize,
    /// Added when the rollout wrote `<embtoken>` itself. Default 0.0.
    pub format_weight: f64,
    /// Subtracted × (generated tokens / max_new_tokens). Default 0.0.
    pub length_penalty: f64,
    /// Candidate pool: `batch` (the batch's positives and hard negatives, re-embedded every generation: cost
    /// ∝ batch documents) or `corpus` (the whole corpus, re-embedded every `corpus_refresh_every` generations: cost
    /// ∝ corpus size, stale in between). Default `batch`.
    pub pool: crate::grpo::reward::CandidatePool,
    /// Generations between corpus re-encodings when `pool = "corpus"`. The corpus embeddings are not saved in
    /// checkpoints: a resumed run re-encodes at its first generation, so it matches the uninterrupted run exactly
    /// only when it resumes at a refresh boundary. Default 10.
    pub corpus_refresh_every: usize,
    /// Weight of the embedding anchor: stage 2's InfoNCE on the in-loss rollouts' embeddings (each against its
    /// query's hash-picked positive, the micro-batch's other positives and hard negatives, same-query positives
    /// masked, at `loss.temperature`), so the embedding space keeps fitting the text the policy writes. Default 0.0.
    pub contrastive_weight: f64,
    /// Write every rollout (query, reasoning, finish, reward and its parts, advantage, in-loss) of every N-th
    /// generation batch to `<run>/completions.jsonl` (TRL's `log_completions`); 0 = off. Default 0.
    pub log_completions_every: usize,
    /// Every N-th generation batch also scores, against the same pool and reward, each query's greedy rollout (the
    /// policy as the evaluator decodes it: `train/reward_greedy`) and its gold reasoning when the data has a
    /// `reasoning` column (teacher-forced: `train/reward_gold`, the level the reward path must reach beyond
    /// `train/reward_chance`). Costs one greedy generation of `batch_size` rows and one embedding pass; 0 = off.
    /// Default 1.
    pub diagnostics_every: usize,
}

impl Default for GrpoConfig {
    fn default() -> Self {
        Self {
            group_size: 4,
            sampling: model::SamplingParams { max_new_tokens: 32, ..model::SamplingParams::default() },
            loss_type: crate::grpo::loss::LossType::Dapo,
            importance: crate::grpo::loss::ImportanceLevel::Token,
            epsilon_low: 0.2,
            epsilon_high: 0.28,
            beta: 0.0,
            num_iterations: 1,
            scale_rewards: crate::grpo::advantages::RewardScale::Group,
            advantage_eps: 1e-4,
            dynamic_sampling: false,
            max_generation_rounds: 4,
            mask_truncated: false,
            reward: crate::grpo::reward::RewardKind::ReciprocalRank,
            reward_k: 10,
            format_weight: 0.0,
            length_penalty: 0.0,
            pool: crate::grpo::reward::CandidatePool::Batch,
            corpus_refresh_every: 10,
            contrastive_weight: 0.0,
            log_completions_every: 0,
            diagnostics_every: 1,
        }
    }
}

/// AdamW with linear warm-up then cosine decay, and global-norm clipping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimConfig {
    /// Peak learning rate. Default 1e-3.
    pub lr: f64,
    /// Linear warm-up steps from `lr / warmup_steps` to `lr`. Default 10.
    pub warmup_steps: usize,
    /// Final learning rate of the cosine decay, as a fraction of `lr`. Default 0.1.
    pub min_lr_ratio: f64,
    /// AdamW β₁. Default 0.9.
    pub beta1: f32,
    /// AdamW β₂. Default 0.999.
    pub beta2: f32,
    /// AdamW ε (PyTorch's default; burn's is 1e-5). Default 1e-8.
    pub eps: f32,
    /// Decoupled weight decay (PyTorch's default; burn's is 1e-4). Default 0.01.
    pub weight_decay: f32,
    /// Clip the global gradient norm to this value (0 disables). Default 1.0.
    pub max_grad_norm: f32,
}

impl Default for OptimConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            warmup_steps: 10,
            min_lr_ratio: 0.1,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
            max_grad_norm: 1.0,
        }
    }
}

/// Truncation limits in tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenLimits {
    /// Query prompt (instruction + query). Default 64.
    pub query: usize,
    /// Reasoning trace. Default 64.
    pub reasoning: usize,
    /// Document (instruction + text). Default 128.
    pub document: usize,
}

impl Default for TokenLimits {
    fn default() -> Self {
        Self { query: 64, reasoning: 64, document: 128 }
    }
}

/// Loss terms. Stage 1 defaults to SFT only, stage 2 to InfoNCE only (set by the stage kind when left at 0).
/// The seed team's SFT checkpoint used `sft = 1, infonce = 1, triplet = 2`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LossConfig {
    /// Weight of next-token cross-entropy on reasoning + embedding token. Default: 1 in `warmup`, 0 in
    /// `contrastive`.
    pub sft: Option<f64>,
    /// Weight of InfoNCE (query → documents). Default: 0 in `warmup`, 1 in `contrastive`.
    pub infonce: Option<f64>,
    /// Weight of the triplet margin term. Default 0. (A `grpo` stage takes none of these three: setting one is
    /// an error; its embedding term is `grpo.contrastive_weight`.)
    pub triplet: f64,
    /// InfoNCE temperature τ (similarities are cosines divided by τ). Default 0.05.
    pub temperature: f64,
    /// Add the document → query InfoNCE term (sentence-transformers' symmetric MNRL). Default false.
    pub symmetric: bool,
    /// Hard negatives per query taken from `negative_ids`/`negatives`. Default 3.
    pub hard_negatives: usize,
    /// Drop in-batch documents that are also positives of the query from its denominator. Default true.
    pub mask_false_negatives: bool,
    /// Triplet margin on cosine distance: `max(0, d(q,p) − d(q,n) + margin)`. Default 0.1.
    pub triplet_margin: f64,
    /// GradCache chunk size (texts per re-encoded chunk; 0 = no caching, one graph for the whole batch).
    /// Default 0.
    pub gradcache_chunk: usize,
    /// In a data-parallel job, gather every rank's query and document embeddings so each query sees the whole
    /// job's batch as in-batch negatives (Tevatron, sentence-transformers' gathered losses); each rank
    /// back-propagates its own rows. Off: each rank's loss sees its own share only. Default true.
    pub gather_across_ranks: bool,
}

impl Default for LossConfig {
    fn default() -> Self {
        Self {
            sft: None,
            infonce: None,
            triplet: 0.0,
            temperature: 0.05,
            symmetric: false,
            hard_negatives: 3,
            mask_false_negatives: true,
            triplet_margin: 0.1,
            gradcache_chunk: 0,
            gather_across_ranks: true,
        }
    }
}

impl LossConfig {
    /// The SFT weight with the stage's default applied.
    pub fn sft_weight(&self, kind: StageKind) -> f64 {
        self.sft.unwrap_or(if kind == StageKind::Warmup { 1.0 } else { 0.0 })
    }

    /// The InfoNCE weight with the stage's default applied.
    pub fn infonce_weight(&self, kind: StageKind) -> f64 {
        self.infonce.unwrap_or(if kind == StageKind::Contrastive { 1.0 } else { 0.0 })
    }
}

/// A recipe problem: the file, the key path and what is allowed.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {key}: {message}")]
pub struct RecipeError {
    /// The recipe file.
    pub file: String,
    /// Dotted key path (`stage[1].optim.lr`).
    pub key: String,
    /// What was wrong and what is allowed.
    pub message: String,
}

impl Recipe {
    /// Reads `path` (a bare name is also looked up in `recipes/`), applies `--set key.path=value` overrides,
    /// and validates the result.
    pub fn load(path: &Path, overrides: &[String]) -> Result<(Self, PathBuf), RecipeError> {
        let resolved = resolve_path(path);
        let file = resolved.display().to_string();
        let text = std::fs::read_to_string(&resolved).map_err(|e| RecipeError {
            file: file.clone(),
            key: "<file>".into(),
            message: format!("cannot read: {e} (bare names are also looked up in recipes/)"),
        })?;
        let recipe = Self::parse(&text, &file, overrides)?;
        Ok((recipe, resolved))
    }

    /// Parses recipe text (`file` names it in errors) with overrides applied, then validates.
    pub fn parse(text: &str, file: &str, overrides: &[String]) -> Result<Self, RecipeError> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| RecipeError {
            file: file.into(),
            key: "<toml>".into(),
            message: e.to_string(),
        })?;
        for o in overrides {
            apply_override(&mut table, o).map_err(|message| RecipeError {
                file: file.into(),
                key: format!("--set {o}"),
                message,
            })?;
        }
        let mut recipe: Recipe = Recipe::deserialize(toml::Value::Table(table)).map_err(|e| RecipeError {
            file: file.into(),
            key: "<schema>".into(),
            message: e.to_string().trim().to_string(),
        })?;
        // A hub id found in the local HF cache becomes its snapshot folder (the resolved recipe records which).
        recipe.model.path = recipe.model.path.as_deref().map(model::hub_cache::resolve);
        recipe.validate(file)?;
        Ok(recipe)
    }

    /// The folder this run writes to.
    pub fn output_dir(&self) -> PathBuf {
        self.run.output.clone().unwrap_or_else(|| PathBuf::from("checkpoints").join(&self.run.name))
    }

    /// Checks values that parse but cannot work.
    pub fn validate(&self, file: &str) -> Result<(), RecipeError> {
        let err = |key: String, message: String| RecipeError { file: file.into(), key, message };
        let positive = |key: &str, v: usize| {
            if v == 0 { Err(err(key.into(), "must be at least 1".into())) } else { Ok(()) }
        };
        plain_name("run.name", &self.run.name).map_err(|m| err("run.name".into(), m))?;
        for (i, st) in self.stage.iter().enumerate() {
            plain_name("a stage name", &st.name).map_err(|m| err(format!("stage[{i}].name"), m))?;
        }
        for (i, e) in self.eval.iter().enumerate() {
            plain_name("an eval set name", &e.name).map_err(|m| err(format!("eval[{i}].name"), m))?;
        }
        positive("run.world_size", self.run.world_size.unwrap_or(1))?;
        positive("run.collective_timeout_s", self.run.collective_timeout_s as usize)?;
        positive("run.rank0_work_timeout_s", self.run.rank0_work_timeout_s as usize)?;
        positive("run.log_every", self.run.log_every)?;
        positive("run.keep_last", self.run.keep_last)?;
        positive("run.max_bad_steps", self.run.max_bad_steps)?;
        model::parse_device(&crate::train::collective::device_for_rank(&self.run.device, 0))
            .map_err(|e| err("run.device".into(), e.to_string()))?;
        positive("data.shuffle_window", self.data.shuffle_window)?;
        positive("data.workers", self.data.workers)?;
        positive("data.prefetch", self.data.prefetch)?;
        // One thread per worker, and every prefetch slot allocated up front: bounded so a typo cannot exhaust the OS.
        if self.data.workers > 256 || self.data.prefetch > 65_536 {
            return Err(err(
                "data".into(),
                format!(
                    "workers must be at most 256 and prefetch at most 65536, got {} and {}",
                    self.data.workers, self.data.prefetch
                ),
            ));
        }
        match &self.model.path {
            Some(p) if model::gguf::is_gguf(p) && !p.is_file() => {
                return Err(err("model.path".into(), format!("{}: no such GGUF file", p.display())));
            }
            Some(p) if !model::gguf::is_gguf(p) && !p.join("config.json").is_file() => {
                let hint = if p.exists() {
                    "it has no config.json, so it is not a HF model directory".to_string()
                } else if let Some((id, _)) = model::hub_cache::hub_id(p) {
                    format!(
                        "neither a folder nor a model in the local Hugging Face cache ({}): nothing is downloaded at \
                         run time; fetch it first (`hf download {id}`) or give the model's folder",
                        model::hub_cache::cache_dir().display()
                    )
                } else if let Some(found) = same_stage_export(p) {
                    format!(
                        "it does not exist, but another run exported the same stage at {}: start from it with \
                         --set 'model.path=\"{}\"'",
                        found.display(),
                        found.display()
                    )
                } else {
                    "it does not exist; if it is an earlier stage's export (`checkpoints/<run>/<stage>/final`), make \
                     it first: `cargo run -p trainer -- --recipe stage1_warmup.toml`, then `--recipe \
                     stage2_contrastive.toml` (stage 3 starts from stage 2) — or run all stages with `--recipe \
                     curriculum.toml`"
                        .to_string()
                };
                return Err(err("model.path".into(), format!("{}: {hint}", p.display())));
            }
            Some(_) => {}
            None => {
                if !model::config::PRESETS.contains(&self.model.preset.as_str()) {
                    return Err(err(
                        "model.preset".into(),
                        format!("one of {:?}, got {:?}", model::config::PRESETS, self.model.preset),
                    ));
                }
                if !self.model.tokenizer.is_file() {
                    return Err(err(
                        "model.tokenizer".into(),
                        format!("{} does not exist", self.model.tokenizer.display()),
                    ));
                }
            }
        }
        self.format.validate().map_err(|e| err("format".into(), e.to_string()))?;
        check_paths(&self.data.corpus, "data.corpus", &err)?;
        for (i, e) in self.eval.iter().enumerate() {
            check_paths(&e.queries, &format!("eval[{i}].queries"), &err)?;
            check_paths(&e.qrels, &format!("eval[{i}].qrels"), &err)?;
            positive(&format!("eval[{i}].batch_size"), e.batch_size)?;
        }
        if let Some(metric) = &self.export.best_metric {
            let known = metric.split_once('/').is_some_and(|(set, measure)| {
                self.eval.iter().any(|e| e.name == set) && ["ndcg@10", "recall@10", "mrr"].contains(&measure)
            });
            if !known {
                let sets: Vec<&str> = self.eval.iter().map(|e| e.name.as_str()).collect();
                return Err(err(
                    "export.best_metric".into(),
                    format!(
                        "`<eval set>/<ndcg@10|recall@10|mrr>` with a set of this recipe ({sets:?}), got {metric:?}"
                    ),
                ));
            }
        }
        if self.stage.is_empty() {
            return Err(err("stage".into(), "at least one [[stage]] is required".into()));
        }
        if !self.stage.iter().any(|s| s.enabled) {
            return Err(err("stage".into(), "every stage is disabled (`enabled = false`): nothing would run".into()));
        }
        for (i, s) in self.stage.iter().enumerate() {
            let key = |k: &str| format!("stage[{i}].{k}");
            positive(&key("steps"), s.steps)?;
            positive(&key("batch_size"), s.batch_size)?;
            positive(&key("grad_accum"), s.grad_accum)?;
            if s.train.is_empty() {
                return Err(err(key("train"), "at least one training shard is required".into()));
            }
            check_paths(&s.train, &key("train"), &err)?;
            if !(s.optim.lr > 0.0 && s.optim.lr < 1.0) {
                return Err(err(key("optim.lr"), format!("must be in (0, 1), got {}", s.optim.lr)));
            }
            if !(0.0..=1.0).contains(&s.optim.min_lr_ratio) {
                return Err(err(key("optim.min_lr_ratio"), "must be in [0, 1]".into()));
            }
            if s.optim.eps.is_nan() || s.optim.eps <= 0.0 {
                return Err(err(key("optim.eps"), "must be positive".into()));
            }
            if !(s.optim.max_grad_norm >= 0.0 && s.optim.weight_decay >= 0.0 && s.optim.weight_decay.is_finite()) {
                return Err(err(key("optim"), "max_grad_norm and weight_decay must be non-negative".into()));
            }
            if !((0.0..1.0).contains(&s.optim.beta1) && s.optim.beta2 > 0.0 && s.optim.beta2 < 1.0) {
                return Err(err(
                    key("optim"),
                    format!("AdamW needs 0 ≤ beta1 < 1 and 0 < beta2 < 1, got {} and {}", s.optim.beta1, s.optim.beta2),
                ));
            }
            if s.loss.temperature.is_nan() || s.loss.temperature <= 0.0 {
                return Err(err(key("loss.temperature"), format!("must be positive, got {}", s.loss.temperature)));
            }
            let (sft, nce) = (s.loss.sft_weight(s.kind), s.loss.infonce_weight(s.kind));
            if (s.kind != StageKind::Grpo && sft + nce + s.loss.triplet <= 0.0)
                || ![sft, nce, s.loss.triplet].iter().all(|w| w.is_finite())
                || sft < 0.0
                || nce < 0.0
                || s.loss.triplet < 0.0
            {
                return Err(err(key("loss"), "weights must be non-negative with at least one positive".into()));
            }
            if s.kind == StageKind::Grpo {
                let g = &s.grpo;
                if g.group_size < 2 {
                    return Err(err(
                        key("grpo.group_size"),
                        format!("must be at least 2 (a group of {} has no relative advantage)", g.group_size),
                    ));
                }
                if g.num_iterations == 0
                    || g.max_generation_rounds == 0
                    || g.sampling.max_new_tokens == 0
                    || g.reward_k == 0
                    || g.corpus_refresh_every == 0
                {
                    return Err(err(
                        key("grpo"),
                        "num_iterations, max_generation_rounds, sampling.max_new_tokens, reward_k and corpus_refresh_every must be ≥ 1".into(),
                    ));
                }
                if g.epsilon_low < 0.0 || g.epsilon_high < 0.0 || g.beta < 0.0 || g.advantage_eps < 0.0 {
                    return Err(err(
                        key("grpo"),
                        "epsilon_low, epsilon_high, beta and advantage_eps must be non-negative".into(),
                    ));
                }
                // Greedy rollouts make every group constant: no advantage, no learning, silently.
                if g.sampling.temperature.is_nan()
                    || g.sampling.temperature <= 0.0
                    || !(0.0..=1.0).contains(&g.sampling.top_p)
                    || g.sampling.top_p == 0.0
                {
                    return Err(err(
                        key("grpo.sampling"),
                        "temperature > 0 (greedy rollouts of a group are identical, so nothing is learned) and \
                         0 < top_p ≤ 1"
                            .into(),
                    ));
                }
                if s.loss.sft.is_some() || s.loss.infonce.is_some() || s.loss.triplet > 0.0 {
                    return Err(err(
                        key("loss"),
                        "a grpo stage does not use loss.sft, loss.infonce or loss.triplet; its embedding term is \
                         grpo.contrastive_weight"
                            .into(),
                    ));
                }
            }
            if s.kind == StageKind::Contrastive && sft > 0.0 && s.loss.gradcache_chunk > 0 {
                return Err(err(
                    key("loss.gradcache_chunk"),
                    "GradCache covers the embedding losses only; set sft = 0 or gradcache_chunk = 0".into(),
                ));
            }
            for (k, v) in [("limits.query", s.limits.query), ("limits.document", s.limits.document)] {
                positive(&key(k), v)?;
            }
        }
        Ok(())
    }
}

/// For a missing stage export `<root>/<run>/<stage>/final`, an existing export of the same stage by another run
/// under `<root>` (e.g. the curriculum's `checkpoints/curriculum/contrastive/final` for stage 3's default
/// `checkpoints/stage2_contrastive/contrastive/final`).
fn same_stage_export(path: &Path) -> Option<PathBuf> {
    let (final_dir, stage) = (path.file_name()?, path.parent()?.file_name()?);
    let root = path.parent()?.parent()?.parent()?;
    if final_dir != "final" {
        return None;
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(root)
        .ok()?
        .flatten()
        .map(|run| run.path().join(stage).join(final_dir))
        .filter(|p| p.join("config.json").is_file())
        .collect();
    found.sort();
    found.into_iter().next()
}

/// `name` becomes a folder or file name under the run folder: it must be one plain, visible name (no `/`, `..` or
/// leading `.`), so nothing is written — or removed — outside the run folder.
fn plain_name(what: &str, name: &str) -> Result<(), String> {
    let bad = name.is_empty() || name.starts_with('.') || name.contains(['/', '\\', '\0']);
    if bad {
        return Err(format!(
            "{what} must be a plain name (letters, digits, `-`, `_`; no `/`, `..` or leading `.`), got {name:?}"
        ));
    }
    Ok(())
}

/// Each entry of `patterns` must exist unless it is a glob (globs are checked when the data is opened).
fn check_paths(patterns: &[String], key: &str, err: &dyn Fn(String, String) -> RecipeError) -> Result<(), RecipeError> {
    for p in patterns {
        let is_glob = p.contains(['*', '?', '[']);
        if !is_glob && !Path::new(p).exists() {
            return Err(err(key.into(), format!("{p} does not exist")));
        }
    }
    Ok(())
}

/// `recipes/NAME` when `path` does not exist as given and has no directory part.
fn resolve_path(path: &Path) -> PathBuf {
    if path.exists() || path.components().count() > 1 {
        return path.to_path_buf();
    }
    let candidate = Path::new("recipes").join(path);
    if candidate.exists() { candidate } else { path.to_path_buf() }
}

/// Sets `key.path=value` in `table`. The value is parsed as TOML (`3`, `1e-4`, `true`, `"x"`, `[1, 2]`), and
/// taken as a plain string when that fails. `stage.N.key` addresses the N-th `[[stage]]`, `stage.NAME.key` the one
/// named NAME (likewise `eval.NAME.key`).
fn apply_override(table: &mut toml::Table, assignment: &str) -> Result<(), String> {
    let (path, raw) = assignment.split_once('=').ok_or("expected key.path=value")?;
    let value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let parts: Vec<&str> = path.trim().split('.').collect();
    set_path(table, &parts, value)
}

fn set_path(table: &mut toml::Table, parts: &[&str], value: toml::Value) -> Result<(), String> {
    let (first, rest) = parts.split_first().ok_or("empty key")?;
    if rest.is_empty() {
        table.insert(first.to_string(), value);
        return Ok(());
    }
    match table.entry(first.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new())) {
        toml::Value::Table(t) => set_path(t, rest, value),
        toml::Value::Array(items) => {
            let named = |item: &toml::Value| item.get("name").and_then(toml::Value::as_str) == Some(rest[0]);
            let index: usize = match rest[0].parse() {
                Ok(i) => i,
                Err(_) => items.iter().position(named).ok_or_else(|| {
                    let names: Vec<&str> =
                        items.iter().filter_map(|i| i.get("name").and_then(toml::Value::as_str)).collect();
                    format!("`{first}` has no entry named `{}` (names: {names:?}; or use an index)", rest[0])
                })?,
            };
            let len = items.len();
            match items.get_mut(index) {
                Some(toml::Value::Table(t)) if rest.len() > 1 => set_path(t, &rest[1..], value),
                Some(_) => Err(format!("`{first}.{index}` must be followed by a key")),
                None => Err(format!("`{first}` has {len} entries, no index {index}")),
            }
        }
        _ => Err(format!("`{first}` is not a table")),
    }
}

/// A human-readable plan of the run: stages, steps, examples and an estimate of tokens.
pub fn plan(recipe: &Recipe) -> String {
    let mut out = format!("# plan: run `{}` → {}\n", recipe.run.name, recipe.output_dir().display());
    let model = match &recipe.model.path {
        Some(p) => format!("HF model {}", p.display()),
        None => format!("preset `{}` with tokenizer {}", recipe.model.preset, recipe.model.tokenizer.display()),
    };
    out.push_str(&format!("# model: {model}, device {}\n", recipe.run.device));
    for (i, s) in recipe.stage.iter().enumerate() {
        let examples = s.steps * s.batch_size * s.grad_accum;
        let max_tokens = examples * (s.limits.query + s.limits.reasoning + 1);
        out.push_str(&format!(
            "# stage {i} `{}` ({:?}): {} steps × {} queries ({} × {} micro-batches) = {examples} examples, ≤ {max_tokens} query tokens; lr {} (warm-up {}, cosine to {}×)\n",
            s.name, s.kind, s.steps, s.batch_size * s.grad_accum, s.batch_size, s.grad_accum, s.optim.lr, s.optim.warmup_steps, s.optim.min_lr_ratio
        ));
    }
    for e in &recipe.eval {
        out.push_str(&format!("# eval `{}` ({:?} queries) after every stage\n", e.name, e.mode));
    }
    out
}
