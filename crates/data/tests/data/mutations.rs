//! Property test: mutated real shards (bytes flipped, zeroed, truncated) never panic the reader — each is read or
//! rejected with an error. Deterministic: the mutations come from a seeded generator; a failure names its seed.

use std::path::Path;

use data::{BadRowPolicy, GrpoRow, ShardSet, Stream, StreamConfig, WarmupRow};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::common::{crate_dir, tmp};

/// One mutation of `bytes`: flip a few bytes, zero a range, or cut the file.
fn mutate(bytes: &[u8], rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut out = bytes.to_vec();
    match rng.random_range(0..3) {
        0 => {
            for _ in 0..rng.random_range(1..9) {
                let i = rng.random_range(0..out.len());
                out[i] ^= 1 << rng.random_range(0..8);
            }
        }
        1 => {
            let start = rng.random_range(0..out.len());
            let end = (start + rng.random_range(1..256)).min(out.len());
            out[start..end].fill(0);
        }
        _ => out.truncate(rng.random_range(0..out.len())),
    }
    out
}

/// Reads every row of `path` as `R`; `Err` of any kind is fine, a panic is not.
fn read_all<R: data::FromBatch>(path: &Path) {
    let Ok(shards) = ShardSet::open(&[path.display().to_string()]) else { return };
    let config = StreamConfig { num_epochs: Some(1), bad_rows: BadRowPolicy::Skip, ..StreamConfig::default() };
    if let Ok(stream) = Stream::<R>::new(&shards, config) {
        for row in stream {
            if row.is_err() {
                break;
            }
        }
    }
}

fn never_panics<R: data::FromBatch>(shard: &str, cases: u64) {
    let original = std::fs::read(crate_dir().join("../../data").join(shard)).unwrap();
    let dir = tmp();
    for seed in 0..cases {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let path = dir.path().join(format!("mutated-{seed}.parquet"));
        std::fs::write(&path, mutate(&original, &mut rng)).unwrap();
        let result = std::panic::catch_unwind(|| read_all::<R>(&path));
        assert!(result.is_ok(), "{shard}: mutation seed {seed} panicked the reader");
        std::fs::remove_file(&path).unwrap();
    }
}

#[test]
fn mutated_warmup_shards_never_panic() {
    never_panics::<WarmupRow>("train_warmup.parquet", 150);
}

#[test]
fn mutated_grpo_shards_never_panic() {
    never_panics::<GrpoRow>("train_grpo.parquet", 150);
}
