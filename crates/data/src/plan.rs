//! The unit order and windows of one epoch, and per-rank row counts from metadata alone.

use crate::seed;
use crate::shards::ShardSet;

/// The order in which an epoch visits units, grouped into shuffle windows.
///
/// A pure function of (shards, seed, shuffle, window size, epoch).
#[derive(Clone, Debug)]
pub struct EpochPlan {
    shards: ShardSet,
    units: Vec<usize>,
    window: usize,
}

impl EpochPlan {
    /// The plan of `epoch`: units shuffled with the epoch seed when `shuffle` is set, else in
    /// natural order, then cut into windows of `window` units (the last may be shorter).
    pub fn new(shards: &ShardSet, seed: u64, shuffle: bool, window: usize, epoch: u64) -> Self {
        let mut units: Vec<usize> = (0..shards.units().len()).collect();
        if shuffle {
            seed::shuffle(&mut units, &mut seed::rng(seed::epoch_seed(seed, epoch)));
        }
        Self { shards: shards.clone(), units, window: window.max(1) }
    }

    /// Number of windows.
    pub fn num_windows(&self) -> usize {
        self.units.len().div_ceil(self.window)
    }

    /// Indices (into [`ShardSet::units`]) of the units of window `w`, in read order.
    pub fn window_units(&self, w: usize) -> &[usize] {
        let start = (w * self.window).min(self.units.len());
        let end = (start + self.window).min(self.units.len());
        &self.units[start..end]
    }

    /// Rows of window `w` according to the metadata (before any bad row is skipped).
    pub fn window_rows(&self, w: usize) -> u64 {
        let units = self.shards.units();
        self.window_units(w).iter().map(|&u| units[u].rows).sum()
    }

    /// Rows rank `rank` of `world_size` receives this epoch, from metadata: in each window of
    /// `n` rows it gets the positions `p < n` with `p % world_size == rank`.
    pub fn rows_for_rank(&self, rank: usize, world_size: usize) -> u64 {
        let (rank, world) = (rank as u64, world_size.max(1) as u64);
        (0..self.num_windows())
            .map(|w| self.window_rows(w))
            .map(|n| if n > rank { (n - rank).div_ceil(world) } else { 0 })
            .sum()
    }

    /// The fewest rows any rank receives this epoch (that of the last rank), from metadata.
    ///
    /// Trainers that need every rank to take the same number of steps cap an epoch at this.
    /// With [`BadRowPolicy::Skip`](crate::BadRowPolicy::Skip) the actual count can be lower.
    pub fn min_rows_per_rank(&self, world_size: usize) -> u64 {
        self.rows_for_rank(world_size.max(1) - 1, world_size)
    }
}
