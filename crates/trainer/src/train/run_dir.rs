//! A run folder belongs to one run. A fresh run refuses a folder that already holds another run's files (its
//! metrics would be appended to, its checkpoints pruned and later resumed by mistake) unless told to overwrite
//! them; overwriting removes only what a run writes, never anything else the folder holds. `--resume` into a folder
//! with no checkpoint yet restarts the same run's attempt (same recipe) that was killed before its first one.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// What a run writes into its folder, besides one export folder per stage.
const RUN_FILES: &[&str] = &[
    "metrics.jsonl",
    "completions.jsonl",
    "checkpoints",
    "tensorboard",
    "recipe.toml",
    "stages",
    "summary.json",
    "best",
    "best.json",
];

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
    remove(&found, "--overwrite")?;
    eprintln!("--overwrite: removed the earlier run's files from {}", out.display());
    Ok(())
}

/// Makes `out` ready for `--resume` when it holds no checkpoint: files written by an attempt of the same run
/// (same resolved recipe) before its first checkpoint are removed (its metrics would otherwise be logged twice);
/// the files of another run, or of one whose recipe is unknown, are an error. The checkpoints folder stays (it
/// may hold checkpoints set aside by an earlier `--resume PATH`).
pub fn restart_unsaved(out: &Path, stages: &[&str], recipe_toml: &str) -> anyhow::Result<()> {
    let found: Vec<PathBuf> = earlier_run(out, stages).into_iter().filter(|p| !p.ends_with("checkpoints")).collect();
    if found.is_empty() {
        return Ok(());
    }
    let saved = out.join("recipe.toml");
    if std::fs::read_to_string(&saved).ok().as_deref() != Some(recipe_toml) {
        bail!(
            "{} holds no checkpoint to resume from, and its files ({}) are not from this recipe's run ({} is missing \
             or differs): run without --resume and with --overwrite to replace them, or choose another folder",
            out.display(),
            found.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
            saved.display()
        );
    }
    remove(&found, "--resume")?;
    eprintln!("--resume: no checkpoint yet in {}; restarting the run from its start", out.display());
    Ok(())
}

/// Takes the run folder `out` for this process: an exclusive lock on `<out>/run.lock`, held while the returned
/// file lives (the OS drops it when the process dies, however it dies). A second trainer on the same folder
/// would interleave its metrics with this one's and prune its checkpoints; it gets an error instead.
pub fn lock(out: &Path) -> anyhow::Result<std::fs::File> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let path = out.join("run.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "{}: another trainer process is running in this run folder; wait for it to end, or choose another \
             folder (--output, or run.name)",
            path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("locking {}", path.display())),
    }
}

fn remove(paths: &[PathBuf], why: &str) -> anyhow::Result<()> {
    for path in paths {
        let removed = if path.is_dir() { std::fs::remove_dir_all(path) } else { std::fs::remove_file(path) };
        removed.with_context(|| format!("{why}: removing {}", path.display()))?;
    }
    Ok(())
}
