//! `Prefetch` keeps stream order and carries the right states.

use std::time::Duration;

use data::{DataError, GrpoRow, Prefetch, PrefetchConfig, ShardSet, Stream, StreamConfig};

use crate::common::{glob_of, grpo_shards, tmp};

fn fixture() -> (tempfile::TempDir, ShardSet, StreamConfig) {
    let dir = tmp();
    grpo_shards(dir.path(), 2, 30, 8);
    let shards = ShardSet::open(&[glob_of(dir.path())]).unwrap();
    let cfg = StreamConfig { seed: 9, shuffle_window: 2, num_epochs: Some(2), ..StreamConfig::default() };
    (dir, shards, cfg)
}

/// A jittery "tokenizer": sleeps a row-dependent time so workers finish out of order.
fn slow_len(row: GrpoRow) -> Result<(String, usize), std::convert::Infallible> {
    let jitter = row.query_id.bytes().map(u64::from).sum::<u64>() % 3;
    std::thread::sleep(Duration::from_micros(200 * jitter));
    Ok((row.query_id, row.query.len()))
}

#[test]
fn preserves_order_and_states_with_1_and_3_workers() {
    let (_dir, shards, cfg) = fixture();
    let mut expected = Vec::new();
    let mut stream = Stream::<GrpoRow>::new(&shards, cfg.clone()).unwrap();
    while let Some(row) = stream.next() {
        expected.push((row.unwrap().query_id, stream.state()));
    }
    for workers in [1, 3] {
        let config = PrefetchConfig { workers, capacity: 5 };
        let stream = Stream::<GrpoRow>::new(&shards, cfg.clone()).unwrap();
        let got: Vec<_> = Prefetch::new(stream, config, slow_len)
            .unwrap()
            .map(|p| {
                let p = p.unwrap();
                (p.item.0, p.state)
            })
            .collect();
        assert_eq!(got, expected, "{workers} workers");
    }
}

#[test]
fn item_state_resumes_after_that_item() {
    let (_dir, shards, cfg) = fixture();
    let all: Vec<String> = Stream::<GrpoRow>::new(&shards, cfg.clone()).unwrap().map(|r| r.unwrap().query_id).collect();
    let stream = Stream::<GrpoRow>::new(&shards, cfg.clone()).unwrap();
    let mut prefetch = Prefetch::new(stream, PrefetchConfig::default(), slow_len).unwrap();
    let consumed: Vec<_> = prefetch.by_ref().take(37).map(|p| p.unwrap()).collect();
    drop(prefetch); // stops the threads although rows are still queued
    let state = &consumed.last().unwrap().state;
    let rest: Vec<String> =
        Stream::<GrpoRow>::restore(&shards, cfg, state).unwrap().map(|r| r.unwrap().query_id).collect();
    let mut resumed: Vec<String> = consumed.into_iter().map(|p| p.item.0).collect();
    resumed.extend(rest);
    assert_eq!(resumed, all);
}

#[test]
fn worker_errors_and_panics_become_errors_in_order() {
    let (_dir, shards, cfg) = fixture();
    let fail_on = |bad: &'static str| {
        let stream = Stream::<GrpoRow>::new(&shards, cfg.clone()).unwrap();
        let config = PrefetchConfig { workers: 3, capacity: 8 };
        Prefetch::new(stream, config, move |row: GrpoRow| {
            if row.query_id == bad {
                return Err(format!("cannot tokenize {bad}"));
            }
            Ok(row.query_id)
        })
        .unwrap()
    };
    let all: Vec<String> = Stream::<GrpoRow>::new(&shards, cfg.clone()).unwrap().map(|r| r.unwrap().query_id).collect();
    let bad = all[10].clone().leak();
    let results: Vec<_> = fail_on(bad).collect();
    assert_eq!(results.len(), 11, "ends after the error");
    assert!(results[..10].iter().all(Result::is_ok));
    let err = results[10].as_ref().unwrap_err();
    assert!(matches!(err, DataError::Prepare { .. }));
    let msg = err.to_string();
    assert!(msg.contains("shard-") && msg.contains("row group"), "{msg}");
    assert!(msg.contains(&format!("cannot tokenize {bad}")), "{msg}");

    let stream = Stream::<GrpoRow>::new(&shards, cfg.clone()).unwrap();
    let mut panicking = Prefetch::new(stream, PrefetchConfig::default(), |row: GrpoRow| {
        if row.query_id.ends_with("-r3") {
            panic!("boom on {}", row.query_id);
        }
        Ok::<_, std::convert::Infallible>(())
    })
    .unwrap();
    let err = panicking.find_map(Result::err).unwrap();
    assert!(matches!(err, DataError::PreparePanicked { .. }));
    assert!(err.to_string().contains("boom on"), "{err}");
}

#[test]
fn rejects_zero_workers() {
    let (_dir, shards, cfg) = fixture();
    let stream = Stream::<GrpoRow>::new(&shards, cfg).unwrap();
    let config = PrefetchConfig { workers: 0, capacity: 4 };
    assert!(Prefetch::new(stream, config, slow_len).is_err());
}
