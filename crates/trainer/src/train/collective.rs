//! The process group of a data-parallel job, behind one small interface.
//!
//! A job is W processes ("ranks"), one per device, each running the same loop on its own share of every batch.
//! They meet only through the few operations of [`Collective`]: element-wise sums (gradients, token counts,
//! metrics), gathers (embeddings for in-batch negatives, resume states) and a barrier after work only rank 0 does
//! (checkpoints, exports, evaluation). Every rank reaches every collective in the same order — the loop issues
//! them on paths that do not depend on the rank — and each one is watched by a deadline ([`super::watchdog`]), so
//! a rank that stops answering ends the job instead of hanging it.
//!
//! [`connect`] picks the implementation: [`Single`] for a plain process, MPI (feature `mpi`) when the launcher
//! (`mpirun`, `mpiexec`, `srun --mpi=pmix`) started several. A later NCCL implementation for CUDA slots in here.

#[cfg(feature = "mpi")]
mod mpi;

use std::time::Duration;

use anyhow::bail;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// How values from every rank are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReduceOp {
    /// Element-wise sum.
    Sum,
    /// Element-wise maximum.
    Max,
}

/// The operations ranks use to meet. `what` names the operation in the watchdog's message when it never completes.
pub trait Collective {
    /// This process's rank, `0..world_size`.
    fn rank(&self) -> usize;
    /// Number of ranks in the job.
    fn world_size(&self) -> usize;
    /// This process's rank among those on its machine (picks the GPU for `wgpu:auto` / `cuda:auto`).
    fn local_rank(&self) -> usize;
    /// Combines `values` element-wise over all ranks, in place (every rank passes the same length).
    fn all_reduce_f32(&self, what: &str, values: &mut [f32], op: ReduceOp);
    /// As [`Collective::all_reduce_f32`], for `f64`.
    fn all_reduce_f64(&self, what: &str, values: &mut [f64], op: ReduceOp);
    /// Every rank's `values` (lengths may differ), in rank order.
    fn all_gather_f32(&self, what: &str, values: &[f32]) -> Vec<Vec<f32>>;
    /// Every rank's `bytes` (lengths may differ), in rank order.
    fn all_gather_bytes(&self, what: &str, bytes: &[u8]) -> Vec<Vec<u8>>;
    /// Waits until every rank arrives, allowing `deadline` (used after work only rank 0 does).
    fn barrier(&self, what: &str, deadline: Duration);
}

impl dyn Collective + '_ {
    /// Whether this process writes the job's files and logs.
    pub fn is_rank0(&self) -> bool {
        self.rank() == 0
    }

    /// The sum of one count over all ranks.
    pub fn sum_count(&self, what: &str, count: usize) -> usize {
        if self.world_size() == 1 {
            return count;
        }
        let mut v = [count as f64];
        self.all_reduce_f64(what, &mut v, ReduceOp::Sum);
        v[0].round() as usize
    }

    /// The mean of one value over all ranks.
    pub fn mean(&self, what: &str, value: f64) -> f64 {
        if self.world_size() == 1 {
            return value;
        }
        let mut v = [value];
        self.all_reduce_f64(what, &mut v, ReduceOp::Sum);
        v[0] / self.world_size() as f64
    }

    /// Step metrics made job-wide, in place: names ending in `_max` take the maximum over ranks, the others (means
    /// over equal-sized per-rank shares) the mean. Every rank passes the same names in the same order.
    pub fn mean_metrics(&self, what: &str, metrics: &mut [(String, f64)]) {
        let world = self.world_size();
        if world == 1 {
            return;
        }
        let is_max = |name: &str| name.ends_with("_max");
        let mut sums: Vec<f64> = metrics.iter().map(|(n, v)| if is_max(n) { 0.0 } else { *v }).collect();
        let mut maxima: Vec<f64> = metrics.iter().map(|(n, v)| if is_max(n) { *v } else { f64::MIN }).collect();
        self.all_reduce_f64(what, &mut sums, ReduceOp::Sum);
        self.all_reduce_f64(what, &mut maxima, ReduceOp::Max);
        for (i, (name, value)) in metrics.iter_mut().enumerate() {
            *value = if is_max(name) { maxima[i] } else { sums[i] / world as f64 };
        }
    }

    /// Every rank's `value`, serialised as JSON, in rank order.
    pub fn all_gather_json<T: Serialize + DeserializeOwned>(&self, what: &str, value: &T) -> anyhow::Result<Vec<T>> {
        let bytes = serde_json::to_vec(value)?;
        let gathered = if self.world_size() == 1 { vec![bytes] } else { self.all_gather_bytes(what, &bytes) };
        gathered.iter().map(|b| Ok(serde_json::from_slice(b)?)).collect()
    }

    /// Checks that every rank holds the same `value` (a recipe, a checkpoint path, a weight checksum); the error,
    /// raised on every rank alike, lists who differs.
    pub fn agree(&self, what: &str, value: &str) -> anyhow::Result<()> {
        if self.world_size() == 1 {
            return Ok(());
        }
        let all = self.all_gather_bytes(what, value.as_bytes());
        let differing: Vec<usize> = (0..all.len()).filter(|&r| all[r] != all[0]).collect();
        if !differing.is_empty() {
            bail!("ranks disagree on {what}: rank(s) {differing:?} differ from rank 0");
        }
        Ok(())
    }
}

/// The group of a job that is one process.
#[derive(Debug, Default)]
pub struct Single;

impl Collective for Single {
    fn rank(&self) -> usize {
        0
    }
    fn world_size(&self) -> usize {
        1
    }
    fn local_rank(&self) -> usize {
        0
    }
    fn all_reduce_f32(&self, _what: &str, _values: &mut [f32], _op: ReduceOp) {}
    fn all_reduce_f64(&self, _what: &str, _values: &mut [f64], _op: ReduceOp) {}
    fn all_gather_f32(&self, _what: &str, values: &[f32]) -> Vec<Vec<f32>> {
        vec![values.to_vec()]
    }
    fn all_gather_bytes(&self, _what: &str, bytes: &[u8]) -> Vec<Vec<u8>> {
        vec![bytes.to_vec()]
    }
    fn barrier(&self, _what: &str, _deadline: Duration) {}
}

/// Environment variables by which launchers announce the number of tasks.
const LAUNCHER_SIZES: [&str; 4] = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_NTASKS", "WORLD_SIZE"];

/// The largest task count a launcher announced, with the variable that said it.
fn announced_tasks() -> Option<(&'static str, usize)> {
    LAUNCHER_SIZES
        .iter()
        .filter_map(|&k| std::env::var(k).ok().and_then(|v| v.trim().parse::<usize>().ok()).map(|n| (k, n)))
        .max_by_key(|&(_, n)| n)
}

/// Joins the job's process group: [`Single`] when no launcher announced several tasks, else MPI. `timeout` is the
/// watchdog's deadline for one collective. Errors name the right command when the launch cannot work (a binary
/// without MPI support under `mpirun`, or several tasks that MPI does not see as one job).
pub fn connect(timeout: Duration) -> anyhow::Result<Box<dyn Collective>> {
    let Some((var, tasks)) = announced_tasks().filter(|&(_, n)| n > 1) else {
        return Ok(Box::new(Single));
    };
    connect_mpi(var, tasks, timeout)
}

#[cfg(feature = "mpi")]
fn connect_mpi(var: &str, tasks: usize, timeout: Duration) -> anyhow::Result<Box<dyn Collective>> {
    let group = mpi::MpiGroup::init(timeout)?;
    if group.world_size() == 1 {
        bail!(
            "{var}={tasks} says this is one of {tasks} tasks, but MPI sees a job of one process: the tasks would \
             train independently and overwrite each other's files. Launch through MPI: `mpirun -np {tasks} trainer \
             --recipe …` on one machine, or `srun --mpi=pmix …` under Slurm (torchrun-style launchers cannot start an \
             MPI job)"
        );
    }
    Ok(Box::new(group))
}

#[cfg(not(feature = "mpi"))]
fn connect_mpi(var: &str, tasks: usize, _timeout: Duration) -> anyhow::Result<Box<dyn Collective>> {
    bail!(
        "{var}={tasks} says this is one of {tasks} tasks, but this trainer was built without MPI support, so the \
         tasks would train independently and overwrite each other's files. Rebuild with `cargo build --release -p \
         trainer --features mpi` (needs an MPI installation and libclang) and launch with `mpirun -np {tasks} \
         target/release/trainer --recipe …`"
    )
}

/// `run.device` with `:auto` replaced by this process's local rank (`wgpu:auto` → `wgpu:1` on local rank 1).
pub fn device_for_rank(spec: &str, local_rank: usize) -> String {
    match spec.strip_suffix(":auto") {
        Some(kind) => format!("{kind}:{local_rank}"),
        None => spec.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_devices_follow_the_local_rank() {
        assert_eq!(device_for_rank("wgpu:auto", 3), "wgpu:3");
        assert_eq!(device_for_rank("cuda:auto", 0), "cuda:0");
        assert_eq!(device_for_rank("cpu", 2), "cpu");
        assert_eq!(device_for_rank("wgpu:1", 2), "wgpu:1");
    }

    #[test]
    fn a_single_process_group_is_the_identity() {
        let single: Box<dyn Collective> = Box::new(Single);
        assert_eq!((single.rank(), single.world_size(), single.sum_count("n", 7)), (0, 1, 7));
        assert_eq!(single.all_gather_json("state", &vec![1u32, 2]).unwrap(), vec![vec![1u32, 2]]);
        single.agree("the recipe", "x").unwrap();
    }
}
