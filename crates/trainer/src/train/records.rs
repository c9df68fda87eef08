//! Run records: what a run folder says about its run, for people and for tools (sweeps, external tuners) that read
//! results instead of parsing logs. Written by rank 0, each file atomically:
//!
//! - `recipe.toml` when the run starts: the resolved recipe;
//! - `stages/<name>.json` when a stage ends: its [`StageSummary`];
//! - `summary.json` when the run ends: [`RunSummary`] — the recipe's SHA-256, every enabled stage's record and the
//!   final metrics (the evaluations after the last enabled stage) as `"<set>/<measure>"`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use model::hf::write_atomic;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::recipe::Recipe;

/// What a finished stage reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageSummary {
    /// Stage name.
    pub name: String,
    /// Optimizer steps of the stage.
    pub steps: usize,
    /// Mean of the last (up to) 10 `train/loss` values the stage logged.
    pub final_loss: f64,
    /// Tokens processed.
    pub tokens: u64,
    /// Wall time in seconds (of this process, after any resume).
    pub seconds: f64,
    /// The exported HF model folder.
    pub export: PathBuf,
    /// Final evaluations: (set, nDCG@10, Recall@10, MRR).
    pub evals: Vec<(String, f64, f64, f64)>,
}

/// `summary.json`: a finished run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Always `"done"`: the file exists only for finished runs.
    pub status: String,
    /// SHA-256 of the resolved recipe (`recipe.toml`).
    pub recipe_sha256: String,
    /// Sum of the stages' wall times.
    pub seconds: f64,
    /// Every enabled stage's record, in recipe order.
    pub stages: Vec<StageSummary>,
    /// The evaluations after the last enabled stage: `"<set>/ndcg@10"`, `"<set>/recall@10"`, `"<set>/mrr"`.
    pub metrics: BTreeMap<String, f64>,
}

/// SHA-256 of `text`, hex.
pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes the resolved recipe as `<out>/recipe.toml`.
pub fn write_recipe(out: &Path, recipe_toml: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    Ok(write_atomic(&out.join("recipe.toml"), recipe_toml.as_bytes())?)
}

fn stage_file(out: &Path, name: &str) -> PathBuf {
    out.join("stages").join(format!("{name}.json"))
}

/// Whether stage `name` of the run in `out` has its record (its export and evaluations are complete).
pub fn has_stage(out: &Path, name: &str) -> bool {
    stage_file(out, name).is_file()
}

/// Writes a finished stage's record.
pub fn write_stage(out: &Path, summary: &StageSummary) -> anyhow::Result<()> {
    let path = stage_file(out, &summary.name);
    std::fs::create_dir_all(path.parent().expect("stages/")).with_context(|| format!("creating {}", path.display()))?;
    Ok(write_atomic(&path, serde_json::to_string_pretty(summary)?.as_bytes())?)
}

/// Writes `summary.json` from the records of every enabled stage (a resumed run's earlier stages included).
pub fn write_summary(out: &Path, recipe: &Recipe, recipe_toml: &str) -> anyhow::Result<RunSummary> {
    let mut stages = Vec::new();
    for stage in recipe.stage.iter().filter(|s| s.enabled) {
        let path = stage_file(out, &stage.name);
        let text = std::fs::read_to_string(&path).with_context(|| format!("{}: the stage's record", path.display()))?;
        stages.push(serde_json::from_str::<StageSummary>(&text).with_context(|| format!("{}", path.display()))?);
    }
    let mut metrics = BTreeMap::new();
    for (set, ndcg, recall, mrr) in stages.last().map(|s| s.evals.clone()).unwrap_or_default() {
        metrics.insert(format!("{set}/ndcg@10"), ndcg);
        metrics.insert(format!("{set}/recall@10"), recall);
        metrics.insert(format!("{set}/mrr"), mrr);
    }
    let summary = RunSummary {
        status: "done".into(),
        recipe_sha256: sha256_hex(recipe_toml),
        seconds: stages.iter().map(|s| s.seconds).sum(),
        stages,
        metrics,
    };
    write_atomic(&out.join("summary.json"), serde_json::to_string_pretty(&summary)?.as_bytes())?;
    Ok(summary)
}

/// The run's `summary.json`, when it finished.
pub fn read_summary(out: &Path) -> Option<RunSummary> {
    serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).ok()?).ok()
}
