//! `trainer sweep FILE`: ablation sweeps — many variants × seeds of one base recipe from one file, run locally
//! (resumable, several at a time) or as a Slurm job array, summarised as `results.csv`, an `ablation.md` table with
//! seed spreads and paired differences, and plots.
//!
//! Layout: `checkpoints/sweeps/<name>/` holds `sweep.toml` (a copy of the file), `manifest.json` (pinned run
//! indices), `runs/<id>/` (one ordinary run folder each, with `log.txt`), `results.csv`, `ablation.md`, `plots/`,
//! and `sweep.sbatch` after `--slurm`. Each run is `trainer --recipe BASE --set …` in its own process, so a crash
//! stays in one run; other tools can drive runs the same way and read their `summary.json`.

pub mod execute;
pub mod manifest;
pub mod plan;
pub mod plot;
pub mod report;
pub mod slurm;

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use model::hf::write_atomic;

use execute::{RunOptions, RunState};
use plan::Sweep;

/// `trainer sweep` arguments.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// The sweep file (e.g. sweeps/curriculum_ablation.toml).
    pub file: PathBuf,
    /// Runs at once on this machine (the CPU cores are split between them).
    #[arg(long, default_value_t = 1)]
    pub parallel: usize,
    /// One run at a time per listed device, e.g. `--devices cuda:0,cuda:1`.
    #[arg(long, value_delimiter = ',')]
    pub devices: Vec<String>,
    /// Run again the runs that failed earlier.
    #[arg(long)]
    pub retry_failed: bool,
    /// Train again, from scratch, runs whose folder was made by a different recipe (the sweep file was edited).
    #[arg(long)]
    pub rerun_changed: bool,
    /// Expand and validate, list the runs with their state, then exit.
    #[arg(long)]
    pub plan: bool,
    /// Rebuild results.csv, ablation.md and the plots from the finished runs, then exit.
    #[arg(long)]
    pub report: bool,
    /// Write a Slurm job-array script (`<sweep folder>/sweep.sbatch`), then exit.
    #[arg(long)]
    pub slurm: bool,
    /// Run only the run pinned at this index (what each Slurm array task does).
    #[arg(long, value_name = "INDEX")]
    pub run_one: Option<usize>,
}

/// Runs `trainer sweep`. Exits non-zero when a run failed.
pub fn run(args: &SweepArgs) -> anyhow::Result<()> {
    let sweep = Sweep::load(&args.file)?;
    std::fs::create_dir_all(&sweep.out).with_context(|| format!("creating {}", sweep.out.display()))?;
    let text = std::fs::read_to_string(&args.file)?;
    write_atomic(&sweep.out.join("sweep.toml"), text.as_bytes())?;
    let options = RunOptions {
        parallel: args.parallel,
        devices: args.devices.clone(),
        retry_failed: args.retry_failed,
        rerun_changed: args.rerun_changed,
    };
    if args.plan {
        for (index, run) in manifest::pin(&sweep)? {
            let state = match execute::state(&sweep, &run)? {
                RunState::Done(_) => "done".to_string(),
                RunState::Changed(why) => format!("changed: {why}"),
                other => format!("{other:?}").to_lowercase(),
            };
            println!("{index:>4}  {:<48} {state:<10} {}", run.id, run.changes.join(" "));
        }
        println!("{} runs → {}", sweep.runs.len(), sweep.out.display());
        return Ok(());
    }
    if args.slurm {
        let runs = manifest::pin(&sweep)?.iter().map(|(i, _)| i + 1).max().unwrap_or(0);
        std::fs::create_dir_all(sweep.out.join("slurm"))?;
        let exe = std::env::current_exe()?;
        let script = slurm::script(&sweep, runs, &exe, &std::env::current_dir()?);
        let path = sweep.out.join("sweep.sbatch");
        write_atomic(&path, script.as_bytes())?;
        println!("wrote {} ({runs} array tasks): sbatch {}", path.display(), path.display());
        return Ok(());
    }
    if let Some(index) = args.run_one {
        if !execute::run_one(&sweep, index, &options)? {
            anyhow::bail!("run {index} of {} failed (see its failed.json)", args.file.display());
        }
        return Ok(());
    }
    let all_done = if args.report { true } else { execute::run_all(&sweep, &options)? };
    let table = report::write(&sweep)?;
    println!("{table}");
    eprintln!("results: {}", sweep.out.display());
    if !all_done {
        anyhow::bail!("some runs failed; their failed.json and log.txt say why (`--retry-failed` runs them again)");
    }
    Ok(())
}
