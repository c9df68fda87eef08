//! Where metrics go: one JSON object per line in `metrics.jsonl` and TensorBoard scalars in `tensorboard/`, with
//! W&B-friendly names (`train/loss`, `train/lr`, `eval/ndcg@10`, ...). Only rank 0 writes.
//!
//! Each line goes out in one write, so a kill leaves at most one torn last line. A resumed run first cuts the log
//! back to its checkpoint's step (dropping lines of steps it will repeat, and a torn line) and marks the restart in
//! TensorBoard, so every step is logged once.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use serde_json::{Map, Value};

use crate::train::tensorboard::{EventWriter, HParam};

/// The metric sinks of a run.
pub struct MetricsLog {
    jsonl: Option<File>,
    events: Option<EventWriter>,
}

impl MetricsLog {
    /// Opens (appending) the sinks in `run_dir`; a rank other than 0 gets a log that writes nothing. `resumed_at`
    /// is the global step of the checkpoint a resumed run starts from (later lines are removed first) and whether
    /// the evaluations logged at that step are to be redone (then they are removed too).
    pub fn open(run_dir: &Path, rank: usize, resumed_at: Option<(u64, bool)>) -> anyhow::Result<Self> {
        if rank != 0 {
            return Ok(Self { jsonl: None, events: None });
        }
        std::fs::create_dir_all(run_dir).with_context(|| format!("creating {}", run_dir.display()))?;
        let path = run_dir.join("metrics.jsonl");
        if let Some((step, redo_evals)) = resumed_at {
            truncate_after(&path, step, redo_evals)?;
        }
        let jsonl =
            OpenOptions::new().create(true).append(true).open(&path).with_context(|| format!("{}", path.display()))?;
        let mut events = EventWriter::create(&run_dir.join("tensorboard"))?;
        if let Some((step, _)) = resumed_at {
            events.restart_at(step + 1)?;
        }
        Ok(Self { jsonl: Some(jsonl), events: Some(events) })
    }

    /// Writes the resolved recipe's values (`stage.0.optim.lr`, ...; lists as text) as the TensorBoard run's
    /// hyperparameters, for the HParams dashboard.
    pub fn hparams(&mut self, recipe_toml: &str) -> anyhow::Result<()> {
        let Some(events) = self.events.as_mut() else { return Ok(()) };
        let table: toml::Table = toml::from_str(recipe_toml).context("the resolved recipe")?;
        let mut values = Vec::new();
        flatten("", &toml::Value::Table(table), &mut values);
        Ok(events.hparams(&values)?)
    }

    /// Records `values` at global step `step`, with `extra` fields (strings, counters) in the JSON line only.
    pub fn log(&mut self, step: u64, values: &[(String, f64)], extra: &[(&str, Value)]) -> anyhow::Result<()> {
        if let Some(f) = self.jsonl.as_mut() {
            let mut obj = Map::new();
            obj.insert("step".into(), Value::from(step));
            for (k, v) in extra {
                obj.insert(k.to_string(), v.clone());
            }
            for (k, v) in values {
                obj.insert(k.clone(), serde_json::Number::from_f64(*v).map_or(Value::Null, Value::Number));
            }
            f.write_all(format!("{}\n", Value::Object(obj)).as_bytes())?;
        }
        if let Some(e) = self.events.as_mut() {
            let finite: Vec<(String, f64)> = values.iter().filter(|(_, v)| v.is_finite()).cloned().collect();
            e.scalars(step, &finite)?;
        }
        Ok(())
    }
}

impl MetricsLog {
    /// Records a text (markdown) at global step `step` under `tag`, for TensorBoard's Text tab.
    pub fn text(&mut self, step: u64, tag: &str, markdown: &str) -> anyhow::Result<()> {
        match self.events.as_mut() {
            Some(e) => Ok(e.text(step, tag, markdown)?),
            None => Ok(()),
        }
    }
}

/// The scalar leaves of `value` under dotted `path` (tables by key, arrays of tables by index, other arrays as
/// their TOML text).
fn flatten(path: &str, value: &toml::Value, out: &mut Vec<(String, HParam)>) {
    let key = |k: &str| if path.is_empty() { k.to_string() } else { format!("{path}.{k}") };
    match value {
        toml::Value::Table(t) => t.iter().for_each(|(k, v)| flatten(&key(k), v, out)),
        toml::Value::Array(a) if a.iter().all(toml::Value::is_table) => {
            a.iter().enumerate().for_each(|(i, v)| flatten(&key(&i.to_string()), v, out))
        }
        toml::Value::Integer(i) => out.push((path.to_string(), HParam::Number(*i as f64))),
        toml::Value::Float(f) => out.push((path.to_string(), HParam::Number(*f))),
        toml::Value::Boolean(b) => out.push((path.to_string(), HParam::Bool(*b))),
        toml::Value::String(s) => out.push((path.to_string(), HParam::Text(s.clone()))),
        other => out.push((path.to_string(), HParam::Text(other.to_string()))),
    }
}

/// Keeps the lines of `path` whose step is at most `step` (without evaluation lines at `step` when `drop_evals`),
/// and drops unparsable ones (a line torn by a kill).
fn truncate_after(path: &Path, step: u64, drop_evals: bool) -> anyhow::Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else { return Ok(()) };
    let keep = |v: &Value| {
        let Some(s) = v["step"].as_u64() else { return false };
        let is_eval = v.as_object().is_some_and(|o| o.keys().any(|k| k.starts_with("eval/")));
        s < step || (s == step && !(drop_evals && is_eval))
    };
    let kept: String = text
        .lines()
        .filter(|line| serde_json::from_str::<Value>(line).is_ok_and(|v| keep(&v)))
        .map(|line| format!("{line}\n"))
        .collect();
    if kept.len() != text.len() {
        model::hf::write_atomic(path, kept.as_bytes()).with_context(|| format!("{}", path.display()))?;
    }
    Ok(())
}

/// The mean of the last (up to) 10 `train/loss` values stage `stage` logged in `run_dir` (0 when none).
pub fn recent_loss(run_dir: &Path, stage: &str) -> f64 {
    let text = std::fs::read_to_string(run_dir.join("metrics.jsonl")).unwrap_or_default();
    let losses: Vec<f64> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["stage"].as_str() == Some(stage))
        .filter_map(|v| v["train/loss"].as_f64())
        .collect();
    let tail = &losses[losses.len().saturating_sub(10)..];
    if tail.is_empty() { 0.0 } else { tail.iter().sum::<f64>() / tail.len() as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resumed_log_keeps_only_the_steps_before_its_checkpoint() {
        let dir = std::env::temp_dir().join(format!("metrics-truncate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("metrics.jsonl");
        let lines = "{\"step\":1,\"train/loss\":3}\n{\"step\":2,\"train/loss\":2}\n{\"step\":3,\"train/loss\":1}\n{\"step\":4,\"tr";
        std::fs::write(&path, lines).unwrap();
        let mut log = MetricsLog::open(&dir, 0, Some((2, false))).unwrap();
        log.log(3, &[("train/loss".into(), 1.5)], &[]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let steps: Vec<u64> =
            text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["step"].as_u64().unwrap()).collect();
        assert_eq!(steps, vec![1, 2, 3], "{text}");
        assert!(text.contains("1.5"), "step 3 is the resumed run's: {text}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
