//! Order, rank sharding and exact resume of `Stream`.

use std::collections::HashSet;

use data::{DataError, DataState, GrpoRow, ShardSet, Stream, StreamConfig};

use crate::common::{glob_of, grpo_shards, tmp};

fn config(seed: u64, rank: usize, world: usize, epochs: Option<u64>) -> StreamConfig {
    StreamConfig {
        seed,
        rank,
        world_size: world,
        num_epochs: epochs,
        shuffle_window: 3,
        read_batch_rows: 5,
        ..StreamConfig::default()
    }
}

/// 3 shards × 40 rows in row groups of 7 (6 row groups per shard, the last short).
fn fixture() -> (tempfile::TempDir, ShardSet) {
    let dir = tmp();
    grpo_shards(dir.path(), 3, 40, 7);
    let shards = ShardSet::open(&[glob_of(dir.path())]).unwrap();
    (dir, shards)
}

fn ids(stream: impl Iterator<Item = data::Result<GrpoRow>>) -> Vec<String> {
    stream.map(|r| r.unwrap().query_id).collect()
}

#[test]
fn resume_is_exact_at_every_kind_of_cut() {
    let (_dir, shards) = fixture();
    for world in [1, 3] {
        for rank in 0..world {
            let cfg = config(11, rank, world, Some(2));
            let full = ids(Stream::<GrpoRow>::new(&shards, cfg.clone()).unwrap());
            let probe = Stream::<GrpoRow>::new(&shards, cfg.clone()).unwrap();
            let epoch_len = probe.plan_of(0).rows_for_rank(rank, world) as usize;
            let second = probe.plan_of(1).rows_for_rank(rank, world) as usize;
            assert_eq!(full.len(), epoch_len + second);
            // Pseudo-random cuts plus both ends and both sides of the epoch boundary.
            let mut cuts = vec![0, 1, epoch_len - 1, epoch_len, epoch_len + 1, full.len()];
            let mut x = 0x2545_F491_4F6C_DD1Du64 ^ (world * 10 + rank) as u64;
            for _ in 0..8 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                cuts.push((x % full.len() as u64) as usize);
            }
            for cut in cuts {
                let mut first = Stream::<GrpoRow>::new(&shards, cfg.clone()).unwrap();
                let before = ids(first.by_ref().take(cut));
                // Through JSON, as a checkpoint would.
                let json = serde_json::to_string(&first.state()).unwrap();
                let state: DataState = serde_json::from_str(&json).unwrap();
                let resumed = Stream::<GrpoRow>::restore(&shards, cfg.clone(), &state).unwrap();
                assert_eq!(resumed.state(), state, "restored state differs");
                let after = ids(resumed);
                assert_eq!([before, after].concat(), full, "world {world} rank {rank} cut {cut}");
            }
        }
    }
}

#[test]
fn ranks_are_disjoint_and_cover_the_epoch() {
    let (_dir, shards) = fixture();
    let world = 3;
    let per_rank: Vec<Vec<String>> =
        (0..world).map(|r| ids(Stream::<GrpoRow>::new(&shards, config(5, r, world, Some(1))).unwrap())).collect();
    let mut seen = HashSet::new();
    for rows in &per_rank {
        for id in rows {
            assert!(seen.insert(id.clone()), "{id} on two ranks");
        }
    }
    let all: HashSet<String> =
        ids(Stream::<GrpoRow>::new(&shards, config(5, 0, 1, Some(1))).unwrap()).into_iter().collect();
    assert_eq!(all.len(), 120);
    assert_eq!(seen, all);
    let min = per_rank.iter().map(Vec::len).min().unwrap() as u64;
    let stream = Stream::<GrpoRow>::new(&shards, config(5, 1, world, Some(1))).unwrap();
    assert_eq!(stream.rows_per_rank_per_epoch(0), min);
    let plan = stream.plan_of(0);
    for (r, rows) in per_rank.iter().enumerate() {
        assert_eq!(plan.rows_for_rank(r, world), rows.len() as u64);
    }
}

#[test]
fn order_depends_on_seed_only() {
    let (_dir, shards) = fixture();
    let run = |seed| ids(Stream::<GrpoRow>::new(&shards, config(seed, 0, 1, Some(1))).unwrap());
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
    let mut sorted = run(1);
    sorted.sort();
    let mut other = run(2);
    other.sort();
    assert_eq!(sorted, other, "same rows, different order");
}

#[test]
fn windows_are_bounded_shuffle_buffers() {
    let (_dir, shards) = fixture();
    let stream = Stream::<GrpoRow>::new(&shards, config(4, 0, 1, Some(1))).unwrap();
    let plan = stream.plan_of(0);
    let rows = ids(stream);
    let mut start = 0;
    let mut shuffled_windows = 0;
    for w in 0..plan.num_windows() {
        // Natural order of the window's units: shard s, row group g holds rows 7g.. of s.
        let natural: Vec<String> = plan
            .window_units(w)
            .iter()
            .flat_map(|&u| {
                let unit = shards.units()[u];
                let first = unit.row_group * 7;
                (first..first + unit.rows as usize).map(move |r| format!("s{}-r{r}", unit.shard))
            })
            .collect();
        let got = &rows[start..start + natural.len()];
        let (mut a, mut b) = (got.to_vec(), natural.clone());
        a.sort();
        b.sort();
        assert_eq!(a, b, "window {w} holds exactly its units' rows");
        shuffled_windows += usize::from(got != natural.as_slice());
        start += natural.len();
    }
    assert_eq!(start, rows.len());
    assert!(shuffled_windows >= plan.num_windows() - 1, "rows are permuted inside windows");
}

#[test]
fn epochs_are_reshuffled_permutations() {
    let (_dir, shards) = fixture();
    let rows = ids(Stream::<GrpoRow>::new(&shards, config(3, 0, 1, Some(2))).unwrap());
    let (a, b) = rows.split_at(120);
    assert_ne!(a, b);
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort();
    b.sort();
    assert_eq!(a, b);
}

#[test]
fn shuffle_off_is_natural_order() {
    let (_dir, shards) = fixture();
    let cfg = StreamConfig { shuffle: false, ..config(3, 0, 1, Some(1)) };
    let rows = ids(Stream::<GrpoRow>::new(&shards, cfg).unwrap());
    let natural: Vec<String> = (0..3).flat_map(|s| (0..40).map(move |r| format!("s{s}-r{r}"))).collect();
    assert_eq!(rows, natural);
}

#[test]
fn unlimited_epochs_keep_going() {
    let (_dir, shards) = fixture();
    let mut stream = Stream::<GrpoRow>::new(&shards, config(3, 0, 1, None)).unwrap();
    let rows = ids(stream.by_ref().take(300));
    assert_eq!(rows.len(), 300);
    assert_eq!(stream.state().epoch, 2);
}

#[test]
fn restore_rejects_other_world_size_or_shards() {
    let (dir, shards) = fixture();
    let mut stream = Stream::<GrpoRow>::new(&shards, config(3, 0, 3, Some(1))).unwrap();
    stream.next();
    let state = stream.state();
    let err = Stream::<GrpoRow>::restore(&shards, config(3, 0, 2, Some(1)), &state).err().unwrap();
    assert!(matches!(err, DataError::StateMismatch { what: "world size", .. }), "{err}");
    assert!(err.to_string().contains("world size was 3"), "{err}");

    // Same file names, one shard with different row groups.
    grpo_shards(dir.path(), 1, 41, 7);
    let changed = ShardSet::open(&[glob_of(dir.path())]).unwrap();
    let err = Stream::<GrpoRow>::restore(&changed, config(3, 0, 3, Some(1)), &state).err().unwrap();
    assert!(err.to_string().contains("total rows"), "{err}");
}

#[test]
fn shard_set_sorts_and_deduplicates() {
    let (dir, _) = fixture();
    let a = dir.path().join("shard-2.parquet");
    let inputs = vec![a.display().to_string(), glob_of(dir.path()), dir.path().display().to_string()];
    let shards = ShardSet::open(&inputs).unwrap();
    let names: Vec<_> =
        shards.shards().iter().map(|s| s.path().file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["shard-0.parquet", "shard-1.parquet", "shard-2.parquet"]);
    assert_eq!(shards.units().len(), 18);
    assert_eq!(shards.total_rows(), 120);
}
