//! The resumable cursor of a stream and the fingerprint that guards it.

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::policy::SkipStats;
use crate::seed::{mix, splitmix64};
use crate::shards::ShardSet;

/// Version of the [`DataState`] layout.
pub const STATE_VERSION: u32 = 1;

/// What a [`DataState`] was taken against; restoring against anything else is an error.
///
/// The shard digest covers each shard's file name (not its folder, so a moved dataset still
/// restores) and its row-group row counts, in order: `h = mix(0, [])`, then for each shard
/// `h = splitmix64(h ^ fnv1a64(file name))` and for each row group `h = splitmix64(h ^ rows)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// Stream seed.
    pub seed: u64,
    /// Whether shuffling was on.
    pub shuffle: bool,
    /// Units per shuffle window.
    pub shuffle_window: u64,
    /// Number of ranks.
    pub world_size: u64,
    /// This rank.
    pub rank: u64,
    /// Number of shards.
    pub num_shards: u64,
    /// Rows in all shards.
    pub total_rows: u64,
    /// Digest of shard names and row-group sizes.
    pub shards_digest: u64,
}

impl Fingerprint {
    /// The fingerprint of a stream configuration over `shards`.
    pub(crate) fn new(
        shards: &ShardSet,
        seed: u64,
        shuffle: bool,
        shuffle_window: usize,
        rank: usize,
        world_size: usize,
    ) -> Self {
        Self {
            seed,
            shuffle,
            shuffle_window: shuffle_window as u64,
            world_size: world_size as u64,
            rank: rank as u64,
            num_shards: shards.shards().len() as u64,
            total_rows: shards.total_rows(),
            shards_digest: digest(shards),
        }
    }

    /// Fails, naming the first differing field, unless `current` equals `self`.
    pub(crate) fn check(&self, current: &Fingerprint) -> Result<()> {
        let fields: [(&'static str, String, String); 8] = [
            ("world size", self.world_size.to_string(), current.world_size.to_string()),
            ("rank", self.rank.to_string(), current.rank.to_string()),
            ("seed", self.seed.to_string(), current.seed.to_string()),
            ("shuffle", self.shuffle.to_string(), current.shuffle.to_string()),
            ("shuffle window", self.shuffle_window.to_string(), current.shuffle_window.to_string()),
            ("number of shards", self.num_shards.to_string(), current.num_shards.to_string()),
            ("total rows", self.total_rows.to_string(), current.total_rows.to_string()),
            (
                "shard digest (file names and row-group sizes)",
                format!("{:016x}", self.shards_digest),
                format!("{:016x}", current.shards_digest),
            ),
        ];
        match fields.into_iter().find(|(_, a, b)| a != b) {
            Some((what, saved, current)) => Err(DataError::StateMismatch { what, saved, current }),
            None => Ok(()),
        }
    }
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

fn digest(shards: &ShardSet) -> u64 {
    shards.shards().iter().fold(mix(0, &[]), |h, shard| {
        let name = shard.path().file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let h = splitmix64(h ^ fnv1a64(name.as_bytes()));
        shard.row_groups().iter().fold(h, |h, &rows| splitmix64(h ^ rows))
    })
}

/// The position of a stream after the last row it returned, small and serialisable.
///
/// Restoring re-reads only window `window` of epoch `epoch` and skips the `offset` rows this
/// rank already consumed from it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataState {
    /// Layout version ([`STATE_VERSION`]).
    pub version: u32,
    /// Current epoch (0-based).
    pub epoch: u64,
    /// Current window inside the epoch.
    pub window: u64,
    /// Rows of this rank already returned from the current window.
    pub offset: u64,
    /// Rows skipped so far (cumulative, all ranks' rows of the windows read).
    pub skipped: SkipStats,
    /// What the state was taken against.
    pub fingerprint: Fingerprint,
}
