//! `manifest.json`: the index of every run ever expanded from a sweep file, pinned at first sight, so that editing
//! the file later (adding a variant, a seed) appends indices instead of renumbering — Slurm array task i always
//! means the same run.

use std::path::Path;

use anyhow::Context;
use model::hf::write_atomic;
use serde::{Deserialize, Serialize};

use super::plan::{RunSpec, Sweep};

#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    /// Run ids; the position is the index.
    runs: Vec<String>,
}

/// The sweep's runs with their pinned indices (manifest order), writing `manifest.json` when new runs appeared.
/// Runs the file no longer expands keep their index but are not returned.
pub fn pin(sweep: &Sweep) -> anyhow::Result<Vec<(usize, RunSpec)>> {
    let path = sweep.out.join("manifest.json");
    let mut manifest: Manifest = match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).with_context(|| format!("{}: corrupt manifest", path.display()))?,
        Err(_) => Manifest::default(),
    };
    let before = manifest.runs.len();
    for run in &sweep.runs {
        if !manifest.runs.contains(&run.id) {
            manifest.runs.push(run.id.clone());
        }
    }
    if manifest.runs.len() != before || !path.exists() {
        write_manifest(&path, &manifest)?;
    }
    let mut out: Vec<(usize, RunSpec)> = sweep
        .runs
        .iter()
        .map(|r| (manifest.runs.iter().position(|id| id == &r.id).expect("pinned above"), r.clone()))
        .collect();
    out.sort_by_key(|(i, _)| *i);
    Ok(out)
}

fn write_manifest(path: &Path, manifest: &Manifest) -> anyhow::Result<()> {
    std::fs::create_dir_all(path.parent().expect("the sweep folder"))?;
    Ok(write_atomic(path, serde_json::to_string_pretty(manifest)?.as_bytes())?)
}
