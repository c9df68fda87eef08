//! A run folder belongs to one run. A fresh run refuses a folder that already holds another run's files (its
//! metrics would be appended to, its checkpoints pruned and later resumed by mistake) unless told to overwrite
//! them; overwriting removes only what a run writes, never anything else the folder holds.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// What a run writes into its folder, besides one export folder per stage.
const RUN_FILES: &[&str] = &["metrics.jsonl", "checkpoints", "tensorboard", "recipe.toml", "stages", "summary.json"];

/// The files of an earlier run in `out` (`stages`: the recipe's stage names, whose export folders count too).
pub fn earlier_run(out: &Path, stages: &[&str]) -> Vec<PathBuf> {
    RUN_FILES.iter().chain(stages).map(|name| out.join(name)).filter(|p| p.exists()).collect()
}

/// Makes `out` ready for a fresh run: an error naming the earlier run's files and the ways out, or — with
/// `overwrite` — those files removed.
pub fn claim_fresh(out: &Path, stages: &[&str], overwrite: bool) -> anyhow::Result<()> {
    let found = earlier_run(out, stages);
    if found.is_empty() {
        return Ok(());
    }
    if !overwrite {
        let names: Vec<String> = found.iter().map(|p| p.display().to_string()).collect();
        bail!(
            "{} already holds a run ({}): pass --resume to continue it, --overwrite to replace it, or choose another \
             folder (--output, or run.name)",
            out.display(),
            names.join(", ")
        );
    }
    for path in found {
        let removed = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
        removed.with_context(|| format!("--overwrite: removing {}", path.display()))?;
    }
    eprintln!("--overwrite: removed the earlier run's files from {}", out.display());
    Ok(())
}
