//! [`Collective`] over MPI (the `mpi` crate against the system's Open MPI or MPICH): one process per device,
//! started by `mpirun`/`mpiexec` or `srun --mpi=pmix`. Only the main thread calls MPI (`Threading::Funneled`).

use std::time::Duration;

use anyhow::Context;
use mpi::collective::SystemOperation;
use mpi::datatype::PartitionMut;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use mpi::{Count, Threading};

use super::{Collective, ReduceOp};
use crate::train::watchdog::Watchdog;

/// The world communicator of an MPI job, watched by a [`Watchdog`].
pub struct MpiGroup {
    world: SimpleCommunicator,
    rank: usize,
    size: usize,
    local_rank: usize,
    timeout: Duration,
    watchdog: Watchdog,
    /// Finalises MPI when dropped, so it is dropped last.
    _universe: Universe,
}

impl MpiGroup {
    /// Initialises MPI; `timeout` bounds every collective's wait.
    pub fn init(timeout: Duration) -> anyhow::Result<Self> {
        let (universe, _) = mpi::initialize_with_threading(Threading::Funneled)
            .context("MPI could not be initialised (was it already, in this process?)")?;
        let world = universe.world();
        let (rank, size) = (world.rank() as usize, world.size() as usize);
        let local_rank = world.split_shared(world.rank()).rank() as usize;
        Ok(Self { world, rank, size, local_rank, timeout, watchdog: Watchdog::start(rank), _universe: universe })
    }

    fn op(op: ReduceOp) -> SystemOperation {
        match op {
            ReduceOp::Sum => SystemOperation::sum(),
            ReduceOp::Max => SystemOperation::max(),
        }
    }

    /// Gathers variable-length slices: first every rank's length, then the data.
    fn gather_varcount<T: Equivalence + Default + Clone>(&self, what: &str, values: &[T]) -> Vec<Vec<T>> {
        self.watchdog.watch(what, self.timeout, || {
            let mut counts = vec![0 as Count; self.size];
            self.world.all_gather_into(&(values.len() as Count), &mut counts[..]);
            let displs: Vec<Count> = counts
                .iter()
                .scan(0, |acc, &c| {
                    let start = *acc;
                    *acc += c;
                    Some(start)
                })
                .collect();
            let mut all = vec![T::default(); counts.iter().map(|&c| c as usize).sum()];
            {
                let mut partition = PartitionMut::new(&mut all[..], &counts[..], &displs[..]);
                self.world.all_gather_varcount_into(values, &mut partition);
            }
            let mut out = Vec::with_capacity(self.size);
            for (&start, &count) in displs.iter().zip(&counts) {
                out.push(all[start as usize..(start + count) as usize].to_vec());
            }
            out
        })
    }
}

impl Collective for MpiGroup {
    fn rank(&self) -> usize {
        self.rank
    }
    fn world_size(&self) -> usize {
        self.size
    }
    fn local_rank(&self) -> usize {
        self.local_rank
    }
    fn all_reduce_f32(&self, what: &str, values: &mut [f32], op: ReduceOp) {
        let send = values.to_vec();
        self.watchdog.watch(what, self.timeout, || self.world.all_reduce_into(&send[..], values, Self::op(op)));
    }
    fn all_reduce_f64(&self, what: &str, values: &mut [f64], op: ReduceOp) {
        let send = values.to_vec();
        self.watchdog.watch(what, self.timeout, || self.world.all_reduce_into(&send[..], values, Self::op(op)));
    }
    fn all_gather_f32(&self, what: &str, values: &[f32]) -> Vec<Vec<f32>> {
        self.gather_varcount(what, values)
    }
    fn all_gather_bytes(&self, what: &str, bytes: &[u8]) -> Vec<Vec<u8>> {
        self.gather_varcount(what, bytes)
    }
    fn barrier(&self, what: &str, deadline: Duration) {
        self.watchdog.watch(what, deadline, || self.world.barrier());
    }
}
