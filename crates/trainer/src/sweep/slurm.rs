//! `trainer sweep FILE --slurm`: a job-array script whose task i runs the run pinned at index i of the manifest.
//! Resubmitting it after preemption or a time limit is safe: done tasks exit at once, killed ones resume.

use std::path::Path;

use super::plan::Sweep;

/// The `sbatch` script for `sweep`, calling `exe` from `workdir`.
pub fn script(sweep: &Sweep, runs: usize, exe: &Path, workdir: &Path) -> String {
    let s = &sweep.spec.slurm;
    let q = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', "'\\''"));
    let mut out = String::from("#!/bin/bash\n");
    out.push_str(&format!("# Made by `trainer sweep {} --slurm`; submit with `sbatch`.\n", sweep.file.display()));
    out.push_str(&format!("#SBATCH --job-name={}\n", sweep.spec.sweep.name.replace(char::is_whitespace, "-")));
    out.push_str(&format!("#SBATCH --array=0-{}%{}\n", runs.saturating_sub(1), s.max_parallel.max(1)));
    out.push_str("#SBATCH --requeue\n#SBATCH --open-mode=append\n");
    out.push_str(&format!("#SBATCH --output={}/slurm/%A_%a.log\n", sweep.out.display()));
    out.push_str(&format!("#SBATCH --cpus-per-task={}\n#SBATCH --time={}\n", s.cpus_per_task, s.time));
    if let Some(p) = &s.partition {
        out.push_str(&format!("#SBATCH --partition={p}\n"));
    }
    if let Some(g) = &s.gres {
        out.push_str(&format!("#SBATCH --gres={g}\n"));
    }
    out.push_str("set -euo pipefail\n");
    out.push_str(&format!("cd {}\n", q(workdir)));
    for line in &s.setup {
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(&format!("exec {} sweep {} --run-one \"$SLURM_ARRAY_TASK_ID\"\n", q(exe), q(&sweep.file)));
    out
}
