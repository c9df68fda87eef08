//! The epoch/window/rank streaming iterator with exact resume.

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Origin, Result};
use crate::plan::EpochPlan;
use crate::policy::{BadRowPolicy, SkipStats};
use crate::reader::UnitReader;
use crate::schema::{ColumnNames, FromBatch};
use crate::seed;
use crate::shards::ShardSet;
use crate::state::{DataState, Fingerprint, STATE_VERSION};

/// How a [`Stream`] orders, shards and decodes rows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamConfig {
    /// Seed of every shuffle. Default 0.
    pub seed: u64,
    /// Shuffle units per epoch and rows per window. Default `true`.
    pub shuffle: bool,
    /// Units (row groups) per shuffle window; memory is about one window. Default 4.
    pub shuffle_window: usize,
    /// This rank. Default 0.
    pub rank: usize,
    /// Number of ranks. Default 1.
    pub world_size: usize,
    /// Epochs to stream; `None` streams until stopped. Default `Some(1)`.
    pub num_epochs: Option<u64>,
    /// What to do with bad rows. Default [`BadRowPolicy::Error`].
    pub bad_rows: BadRowPolicy,
    /// Column names. Default [`ColumnNames::default`].
    pub columns: ColumnNames,
    /// Rows per Arrow batch when decoding a row group (does not affect order). Default 8192.
    pub read_batch_rows: usize,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            shuffle: true,
            shuffle_window: 4,
            rank: 0,
            world_size: 1,
            num_epochs: Some(1),
            bad_rows: BadRowPolicy::Error,
            columns: ColumnNames::default(),
            read_batch_rows: 8192,
        }
    }
}

impl StreamConfig {
    /// Checks the values that have to be positive or in range.
    pub fn validate(&self) -> Result<()> {
        let fail = |m: String| Err(DataError::Config(m));
        if self.world_size == 0 {
            return fail("world_size must be at least 1".into());
        }
        if self.rank >= self.world_size {
            return fail(format!("rank {} is not below world_size {}", self.rank, self.world_size));
        }
        if self.shuffle_window == 0 {
            return fail("shuffle_window must be at least 1".into());
        }
        if self.read_batch_rows == 0 {
            return fail("read_batch_rows must be at least 1".into());
        }
        Ok(())
    }

    fn epochs_done(&self, epoch: u64) -> bool {
        self.num_epochs.is_some_and(|n| epoch >= n)
    }
}

/// Streams typed rows of a [`ShardSet`] for one rank: epoch after epoch, window after window.
///
/// Yields `Result<R>`; after an error the stream ends. See the crate docs for the order.
pub struct Stream<R: FromBatch> {
    shards: ShardSet,
    config: StreamConfig,
    reader: UnitReader<R>,
    fingerprint: Fingerprint,
    plan: EpochPlan,
    epoch: u64,
    window: usize,
    offset: u64,
    buffer: std::vec::IntoIter<(R, Origin)>,
    loaded: bool,
    rows_in_epoch: u64,
    skipped: SkipStats,
    done: bool,
}

impl<R: FromBatch> Stream<R> {
    /// A stream at the start of epoch 0. Checks every shard's schema first.
    pub fn new(shards: &ShardSet, config: StreamConfig) -> Result<Self> {
        config.validate()?;
        let reader = UnitReader::new(config.columns.clone(), config.bad_rows, config.read_batch_rows);
        reader.check_schemas(shards)?;
        let fingerprint = Fingerprint::new(
            shards,
            config.seed,
            config.shuffle,
            config.shuffle_window,
            config.rank,
            config.world_size,
        );
        let plan = EpochPlan::new(shards, config.seed, config.shuffle, config.shuffle_window, 0);
        Ok(Self {
            shards: shards.clone(),
            done: config.epochs_done(0),
            config,
            reader,
            fingerprint,
            plan,
            epoch: 0,
            window: 0,
            offset: 0,
            buffer: Vec::new().into_iter(),
            loaded: false,
            rows_in_epoch: 0,
            skipped: SkipStats::default(),
        })
    }

    /// A stream that yields exactly what the stream that produced `state` would have yielded
    /// next. Re-reads only the current window; fails if `state` was taken against other
    /// shards, seed, shuffle settings, rank or world size.
    pub fn restore(shards: &ShardSet, config: StreamConfig, state: &DataState) -> Result<Self> {
        let mut stream = Self::new(shards, config)?;
        if state.version != STATE_VERSION {
            return Err(DataError::StateMismatch {
                what: "state version",
                saved: state.version.to_string(),
                current: STATE_VERSION.to_string(),
            });
        }
        state.fingerprint.check(&stream.fingerprint)?;
        stream.epoch = state.epoch;
        stream.window = usize::try_from(state.window).unwrap_or(usize::MAX);
        stream.skipped = state.skipped;
        // Earlier windows of this epoch may have yielded rows; never treat it as empty.
        stream.rows_in_epoch = u64::from(state.window > 0 || state.offset > 0);
        stream.done = stream.config.epochs_done(state.epoch);
        if stream.done {
            return Ok(stream);
        }
        stream.plan = stream.plan_of(state.epoch);
        let windows = stream.plan.num_windows();
        if stream.window > windows || (stream.window == windows && state.offset > 0) {
            return Err(DataError::StateMismatch {
                what: "window index",
                saved: format!("{} (offset {})", state.window, state.offset),
                current: format!("{windows} windows in epoch {}", state.epoch),
            });
        }
        if stream.window < windows {
            stream.load_window(false)?;
            for consumed in 0..state.offset {
                if stream.buffer.next().is_none() {
                    return Err(DataError::StateMismatch {
                        what: "rows of this rank in the current window",
                        saved: format!("at least {}", state.offset),
                        current: consumed.to_string(),
                    });
                }
            }
            stream.offset = state.offset;
        }
        Ok(stream)
    }

    /// The position after the last row returned; pass it to [`Stream::restore`].
    pub fn state(&self) -> DataState {
        DataState {
            version: STATE_VERSION,
            epoch: self.epoch,
            window: self.window as u64,
            offset: self.offset,
            skipped: self.skipped,
            fingerprint: self.fingerprint,
        }
    }

    /// Rows skipped so far under [`BadRowPolicy::Skip`], per reason.
    pub fn skipped(&self) -> SkipStats {
        self.skipped
    }

    /// The configuration.
    pub fn config(&self) -> &StreamConfig {
        &self.config
    }

    /// The shards.
    pub fn shards(&self) -> &ShardSet {
        &self.shards
    }

    /// The unit/window plan of `epoch`.
    pub fn plan_of(&self, epoch: u64) -> EpochPlan {
        EpochPlan::new(&self.shards, self.config.seed, self.config.shuffle, self.config.shuffle_window, epoch)
    }

    /// The fewest rows any rank gets in `epoch`, from metadata; cap steps to this to keep
    /// ranks in lock-step (see [`EpochPlan::min_rows_per_rank`]).
    pub fn rows_per_rank_per_epoch(&self, epoch: u64) -> u64 {
        self.plan_of(epoch).min_rows_per_rank(self.config.world_size)
    }

    /// The next row with the file, row group and row it came from.
    pub fn next_with_origin(&mut self) -> Option<Result<(R, Origin)>> {
        loop {
            if self.done {
                return None;
            }
            if self.loaded {
                if let Some(item) = self.buffer.next() {
                    self.offset += 1;
                    self.rows_in_epoch += 1;
                    return Some(Ok(item));
                }
                self.loaded = false;
                self.window += 1;
                self.offset = 0;
            }
            if self.window >= self.plan.num_windows() {
                let empty = self.rows_in_epoch == 0;
                self.epoch += 1;
                self.window = 0;
                self.rows_in_epoch = 0;
                // An epoch that gave this rank nothing would give nothing forever.
                if empty || self.config.epochs_done(self.epoch) {
                    self.done = true;
                    return None;
                }
                self.plan = self.plan_of(self.epoch);
                continue;
            }
            if let Err(e) = self.load_window(true) {
                self.done = true;
                return Some(Err(e));
            }
        }
    }

    /// Reads, decodes and permutes the current window, keeping this rank's rows.
    fn load_window(&mut self, count_skips: bool) -> Result<()> {
        let mut rows = Vec::new();
        let mut skipped = SkipStats::default();
        for &u in self.plan.window_units(self.window) {
            let unit = &self.shards.units()[u];
            self.reader.read(&self.shards, unit, &mut rows, &mut skipped)?;
        }
        if self.config.shuffle {
            let seed = seed::window_seed(self.config.seed, self.epoch, self.window as u64);
            seed::shuffle(&mut rows, &mut seed::rng(seed));
        }
        let (rank, world) = (self.config.rank, self.config.world_size);
        let mine: Vec<_> =
            rows.into_iter().enumerate().filter(|(p, _)| p % world == rank).map(|(_, row)| row).collect();
        if count_skips {
            self.skipped.merge(&skipped);
        }
        self.buffer = mine.into_iter();
        self.loaded = true;
        Ok(())
    }
}

impl<R: FromBatch> Iterator for Stream<R> {
    type Item = Result<R>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_with_origin().map(|r| r.map(|(row, _)| row))
    }
}
