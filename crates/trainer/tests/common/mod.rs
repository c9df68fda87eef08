//! Helpers shared by the trainer's integration tests (each test binary uses a part of them).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The repository root (absolute).
pub fn root() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run under cargo"))
        .join("../..")
        .canonicalize()
        .expect("the repository root")
}

/// A fresh, empty scratch folder `trainer-<tag>-<pid>` in the temp dir.
pub fn scratch_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("trainer-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating a scratch folder");
    dir
}

/// The last `train/loss` logged at each step of the run in `run` (its `metrics.jsonl`).
pub fn losses(run: &Path) -> BTreeMap<u64, f64> {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap_or_default();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).expect("a metrics line");
        if let Some(loss) = v.get("train/loss").and_then(Value::as_f64) {
            out.insert(v["step"].as_u64().expect("a step"), loss);
        }
    }
    out
}

/// The Python of the reference stack (`T1_PYTHON`, default `.venv/bin/python`) when it can import `modules`
/// (comma-separated), or why not.
pub fn python_with(modules: &str) -> Result<PathBuf, String> {
    let python = std::env::var_os("T1_PYTHON").map(PathBuf::from).unwrap_or_else(|| root().join(".venv/bin/python"));
    let ok = std::process::Command::new(&python)
        .args(["-c", &format!("import {modules}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        Ok(python)
    } else {
        Err(format!(
            "{} cannot import {modules} (install tests/fixtures/requirements-ci.txt there, or set T1_PYTHON)",
            python.display()
        ))
    }
}
