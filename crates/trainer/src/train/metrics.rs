//! Where metrics go: one JSON object per line in `metrics.jsonl` and TensorBoard scalars in `tensorboard/`, with
//! W&B-friendly names (`train/loss`, `train/lr`, `eval/ndcg@10`, ...). Only rank 0 writes.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use serde_json::{Map, Value};

use crate::train::tensorboard::EventWriter;

/// The metric sinks of a run.
pub struct MetricsLog {
    jsonl: Option<File>,
    events: Option<EventWriter>,
}

impl MetricsLog {
    /// Opens (appending) the sinks in `run_dir`; a rank other than 0 gets a log that writes nothing.
    pub fn open(run_dir: &Path, rank: usize) -> anyhow::Result<Self> {
        if rank != 0 {
            return Ok(Self { jsonl: None, events: None });
        }
        std::fs::create_dir_all(run_dir).with_context(|| format!("creating {}", run_dir.display()))?;
        let path = run_dir.join("metrics.jsonl");
        let jsonl =
            OpenOptions::new().create(true).append(true).open(&path).with_context(|| format!("{}", path.display()))?;
        let events = EventWriter::create(&run_dir.join("tensorboard"))?;
        Ok(Self { jsonl: Some(jsonl), events: Some(events) })
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
            writeln!(f, "{}", Value::Object(obj))?;
            f.flush()?;
        }
        if let Some(e) = self.events.as_mut() {
            let finite: Vec<(String, f64)> = values.iter().filter(|(_, v)| v.is_finite()).cloned().collect();
            e.scalars(step, &finite)?;
        }
        Ok(())
    }
}
