//! The best model of a run by a dev metric (HF's `load_best_model_at_end`): with `export.best_metric =
//! "<eval set>/<measure>"`, every evaluation — every `stage.eval_every` steps and at each stage's end — that beats
//! the best value so far exports the model to `<run>/best/` (whole, with its model card) and records it in
//! `<run>/best.json` (metric, value, stage, steps). Higher is better (nDCG, recall, MRR).
//!
//! The best value so far is read back from `metrics.jsonl`, which a resume has already cut back to its
//! checkpoint: the evaluations the resumed run repeats compare against what came before them, so a killed run
//! ends with the same `best/` as an uninterrupted one.

use std::path::{Path, PathBuf};

use model::CausalLm;
use serde_json::{Value, json};

/// The best-so-far of one run.
pub struct BestModel {
    /// `eval/<set>/<measure>`, as in `metrics.jsonl`.
    key: String,
    /// `<set>/<measure>`, as in the recipe.
    metric: String,
    best: Option<f64>,
    out: PathBuf,
}

/// What one evaluation produced for the best-model check.
pub struct Candidate<'a> {
    /// The evaluations just logged: (set, nDCG@10, Recall@10, MRR).
    pub evals: &'a [(String, f64, f64, f64)],
    /// The stage being trained.
    pub stage: &'a str,
    /// Its step.
    pub stage_step: usize,
    /// The run's step.
    pub global_step: u64,
}

impl BestModel {
    /// The tracker of `metric` (`<set>/<measure>`) for the run in `out`, or `None` when the recipe sets none.
    pub fn open(out: &Path, metric: Option<&str>) -> Option<Self> {
        let metric = metric?;
        let key = format!("eval/{metric}");
        let text = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap_or_default();
        let best = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok()?.get(&key)?.as_f64())
            .fold(None, |b: Option<f64>, v| Some(b.map_or(v, |b| b.max(v))));
        Some(Self { key, metric: metric.to_string(), best, out: out.to_path_buf() })
    }

    /// The value of the tracked metric among `evals`, if its set was evaluated.
    fn value(&self, evals: &[(String, f64, f64, f64)]) -> Option<f64> {
        let (set, measure) = self.metric.split_once('/')?;
        let (_, ndcg, recall, mrr) = evals.iter().find(|(name, ..)| name == set)?;
        match measure {
            "ndcg@10" => Some(*ndcg),
            "recall@10" => Some(*recall),
            "mrr" => Some(*mrr),
            _ => None,
        }
    }

    /// Exports `model` (through `export`, which writes a complete HF folder into the folder it is given) when
    /// `candidate` beats the best so far.
    pub fn offer(
        &mut self,
        model: &CausalLm,
        candidate: &Candidate,
        export: impl FnOnce(&CausalLm, &Path) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let Some(value) = self.value(candidate.evals) else { return Ok(()) };
        if self.best.is_some_and(|b| value <= b) {
            return Ok(());
        }
        let dest = self.out.join("best");
        let staging = crate::train::publish::staging(&dest)?;
        export(model, &staging)?;
        crate::train::publish::publish(&staging, &dest)?;
        let record = json!({
            "metric": self.metric,
            "value": value,
            "stage": candidate.stage,
            "stage_step": candidate.stage_step,
            "global_step": candidate.global_step,
        });
        model::hf::write_atomic(&self.out.join("best.json"), serde_json::to_string_pretty(&record)?.as_bytes())?;
        eprintln!(
            "[{}] new best {} {value:.4} at step {}: exported to {}",
            candidate.stage,
            self.key,
            candidate.stage_step,
            dest.display()
        );
        self.best = Some(value);
        Ok(())
    }
}
