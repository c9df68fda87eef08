//! Running a sweep's runs: one `trainer` process per run, state read from the run folders (no database), so
//! re-running the same command skips finished runs, resumes killed ones from their checkpoints and retries failed
//! ones only when asked — and several sweep processes sharing a folder never run one run twice (a lock per run).
//!
//! A run folder is **done** (`summary.json`, and a `recipe.toml` of the same run), **running** (its `.lock` is held),
//! **failed** (`failed.json`: exit status and the log's tail), **resumable** (a valid checkpoint), **changed** (made
//! by another recipe: the sweep file was edited; refused unless `--rerun-changed`) or **pending**.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use model::hf::write_atomic;

use super::manifest::pin;
use super::plan::{RunSpec, Sweep, run_identity};
use super::report::metric_value;
use crate::train::checkpoint;
use crate::train::records::{RunSummary, read_summary};

/// Where a run stands.
#[derive(Debug, Clone, PartialEq)]
pub enum RunState {
    /// Finished, with its summary.
    Done(Box<RunSummary>),
    /// Another process holds its lock.
    Running,
    /// The last attempt failed.
    Failed,
    /// Killed after a checkpoint: resume it.
    Resumable,
    /// Its folder was made by a different recipe (why).
    Changed(String),
    /// Not started (or killed before its first checkpoint).
    Pending,
}

/// How `trainer sweep` runs.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Runs at once on this machine (CPU: the cores are split between them).
    pub parallel: usize,
    /// One run per listed device (`--device`), overriding `parallel`.
    pub devices: Vec<String>,
    /// Run failed runs again.
    pub retry_failed: bool,
    /// Run again, from scratch, runs whose folder was made by another recipe.
    pub rerun_changed: bool,
}

/// The state of `run` from its folder.
pub fn state(sweep: &Sweep, run: &RunSpec) -> anyhow::Result<RunState> {
    let dir = sweep.run_dir(&run.id);
    let identity = run_identity(&dir);
    if identity.as_ref().is_some_and(|id| id != &run.recipe_sha256) {
        return Ok(RunState::Changed("its recipe.toml differs from what the sweep file now gives".into()));
    }
    if let Some(summary) = read_summary(&dir) {
        return Ok(RunState::Done(Box::new(summary)));
    }
    if dir.join(".lock").exists() {
        let file = File::open(dir.join(".lock"))?;
        if let Err(TryLockError::WouldBlock) = file.try_lock() {
            return Ok(RunState::Running);
        }
    }
    if dir.join("failed.json").exists() {
        return Ok(RunState::Failed);
    }
    if checkpoint::latest(&dir.join("checkpoints"))?.is_some() {
        return Ok(RunState::Resumable);
    }
    Ok(RunState::Pending)
}

/// A started run: its process and the lock it holds.
struct Started {
    /// Position in the sweep (0-based, manifest order).
    index: usize,
    run: RunSpec,
    child: Child,
    _lock: File,
    since: Instant,
    slot: usize,
}

/// Starts `run` (resuming when `resume`), its output appended to `runs/<id>/log.txt`; `None` when another
/// process holds its lock.
fn launch(
    sweep: &Sweep,
    run: &RunSpec,
    resume: bool,
    device: Option<&str>,
    threads: Option<usize>,
) -> anyhow::Result<Option<(Child, File)>> {
    let dir = sweep.run_dir(&run.id);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let lock = OpenOptions::new().create(true).truncate(false).write(true).open(dir.join(".lock"))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Ok(None),
        Err(TryLockError::Error(e)) => return Err(e).context(format!("locking {}", dir.display())),
    }
    let _ = std::fs::remove_file(dir.join("failed.json"));
    let log = OpenOptions::new().create(true).append(true).open(dir.join("log.txt"))?;
    let mut cmd = Command::new(std::env::current_exe().context("locating the trainer binary")?);
    cmd.arg("--recipe").arg(&sweep.recipe);
    for o in &run.overrides {
        cmd.arg("--set").arg(o);
    }
    cmd.arg(if resume { "--resume" } else { "--overwrite" });
    if let Some(d) = device {
        cmd.args(["--device", d]);
    }
    if let Some(t) = threads {
        cmd.env("RAYON_NUM_THREADS", t.to_string());
    }
    cmd.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
    let child = cmd.spawn().with_context(|| format!("starting run {}", run.id))?;
    Ok(Some((child, lock)))
}

/// Records a failed attempt: exit status and the last 50 log lines.
fn record_failure(dir: &Path, status: &str) -> anyhow::Result<String> {
    let log = std::fs::read_to_string(dir.join("log.txt")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    let tail = lines[lines.len().saturating_sub(50)..].join("\n");
    let record = serde_json::json!({ "status": status, "log_tail": tail });
    write_atomic(&dir.join("failed.json"), serde_json::to_string_pretty(&record)?.as_bytes())?;
    Ok(lines.last().unwrap_or(&"").to_string())
}

fn elapsed(since: Instant) -> String {
    let s = since.elapsed().as_secs();
    if s >= 60 { format!("{}m{:02}s", s / 60, s % 60) } else { format!("{s}s") }
}

/// Runs every run that is not done, `options.parallel` (or one per device) at a time. `Ok(true)` when every run
/// ended done.
pub fn run_all(sweep: &Sweep, options: &RunOptions) -> anyhow::Result<bool> {
    let runs = pin(sweep)?;
    let total = runs.len();
    let mut queue: Vec<(usize, RunSpec, bool)> = Vec::new();
    let mut changed = Vec::new();
    let mut failed_before = 0;
    // Runs are numbered by their position in this sweep (manifest order), 1..=total.
    for (index, (_, run)) in runs.into_iter().enumerate() {
        match state(sweep, &run)? {
            RunState::Done(_) => eprintln!("[{}/{total}] {}: done earlier, skipped", index + 1, run.id),
            RunState::Running => eprintln!("[{}/{total}] {}: running elsewhere, skipped", index + 1, run.id),
            RunState::Failed if !options.retry_failed => {
                failed_before += 1;
                eprintln!(
                    "[{}/{total}] {}: failed earlier (see {}), skipped; --retry-failed runs it again",
                    index + 1,
                    run.id,
                    sweep.run_dir(&run.id).join("failed.json").display()
                );
            }
            RunState::Changed(why) if !options.rerun_changed => changed.push(format!("{} ({why})", run.id)),
            RunState::Resumable => queue.push((index, run, true)),
            _ => queue.push((index, run, false)),
        }
    }
    if !changed.is_empty() {
        bail!(
            "{}: the sweep file changed for run(s) {}: rename the variant to keep both, or pass --rerun-changed to \
             train them again from scratch",
            sweep.file.display(),
            changed.join(", ")
        );
    }
    let slots = if options.devices.is_empty() { options.parallel.max(1) } else { options.devices.len() };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = (options.devices.is_empty() && slots > 1).then(|| (cores / slots).max(1));
    let mut free: Vec<usize> = (0..slots).rev().collect();
    let mut running: Vec<Started> = Vec::new();
    let mut failures = failed_before;
    let mut ended = total - queue.len();
    queue.reverse();
    while !queue.is_empty() || !running.is_empty() {
        while let Some(&slot) = free.last() {
            let Some((index, run, resume)) = queue.pop() else { break };
            let device = options.devices.get(slot).map(String::as_str);
            match launch(sweep, &run, resume, device, threads)? {
                Some((child, lock)) => {
                    free.pop();
                    let how = if resume { "resumed" } else { "started" };
                    eprintln!(
                        "[{}/{total}] {}: {how} (log: {})",
                        index + 1,
                        run.id,
                        sweep.run_dir(&run.id).join("log.txt").display()
                    );
                    running.push(Started { index, run, child, _lock: lock, since: Instant::now(), slot });
                }
                None => eprintln!("[{}/{total}] {}: running elsewhere, skipped", index + 1, run.id),
            }
        }
        std::thread::sleep(Duration::from_millis(200));
        let mut i = 0;
        while i < running.len() {
            let Some(status) = running[i].child.try_wait()? else {
                i += 1;
                continue;
            };
            let done = running.swap_remove(i);
            free.push(done.slot);
            ended += 1;
            let sweep_line = format!("sweep: {ended}/{total} ended, {} running, {} queued", running.len(), queue.len());
            let dir = sweep.run_dir(&done.run.id);
            let (n, id, took) = (done.index + 1, &done.run.id, elapsed(done.since));
            let same = run_identity(&dir).as_ref() == Some(&done.run.recipe_sha256);
            match read_summary(&dir).filter(|_| status.success() && same) {
                Some(summary) => {
                    let metric = &sweep.spec.sweep.metric;
                    let value = metric_value(&summary, metric).map_or("n/a".into(), |v| format!("{v:.4}"));
                    eprintln!("[{n}/{total}] {id}: done in {took}, {metric} {value} ({sweep_line})");
                }
                None => {
                    failures += 1;
                    let last = record_failure(&dir, &status.to_string())?;
                    eprintln!(
                        "[{n}/{total}] {id}: FAILED after {took} ({status}): {last} ({sweep_line})\n    log: {}",
                        dir.join("log.txt").display()
                    );
                }
            }
        }
    }
    Ok(failures == 0)
}

/// Runs the run pinned at `index` (a Slurm array task), under the same state rules. `Ok(true)` when it is done.
pub fn run_one(sweep: &Sweep, index: usize, options: &RunOptions) -> anyhow::Result<bool> {
    let runs = pin(sweep)?;
    let Some((_, run)) = runs.into_iter().find(|(i, _)| *i == index) else {
        bail!("{}: no run with index {index} in this sweep's manifest", sweep.file.display());
    };
    let resume = match state(sweep, &run)? {
        RunState::Done(_) => return Ok(true),
        RunState::Running => bail!("run {} is running elsewhere", run.id),
        RunState::Failed if !options.retry_failed => bail!("run {} failed earlier; pass --retry-failed", run.id),
        RunState::Changed(why) if !options.rerun_changed => bail!("run {}: {why}; pass --rerun-changed", run.id),
        RunState::Resumable => true,
        _ => false,
    };
    let Some((mut child, _lock)) = launch(sweep, &run, resume, options.devices.first().map(String::as_str), None)?
    else {
        bail!("run {} is running elsewhere", run.id);
    };
    let status = child.wait()?;
    let dir = sweep.run_dir(&run.id);
    if status.success() && read_summary(&dir).is_some() {
        return Ok(true);
    }
    record_failure(&dir, &status.to_string())?;
    Ok(false)
}
