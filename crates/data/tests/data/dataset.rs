//! The repository's default dataset (`data/`, written by pyarrow) reads cleanly end to end.

use crate::common::crate_dir;
use data::{
    BadRowPolicy, ColumnNames, ContrastiveRow, Corpus, EvalSet, FromBatch, GrpoRow, ShardSet, Stream, StreamConfig,
    WarmupRow, validate_doc_refs,
};

fn file(name: &str) -> ShardSet {
    let path = crate_dir().join("../../data").join(name);
    ShardSet::open(&[path.display().to_string()]).unwrap()
}

fn all_rows<R: FromBatch>(shards: &ShardSet) -> usize {
    let mut stream = Stream::<R>::new(shards, StreamConfig::default()).unwrap();
    let n = stream.by_ref().inspect(|r| assert!(r.is_ok(), "{:?}", r.as_ref().err())).count();
    assert_eq!(stream.skipped().total(), 0);
    n
}

#[test]
fn committed_dataset_reads_cleanly() {
    let names = ColumnNames::default();
    let corpus_shards = file("corpus.parquet");
    let corpus = Corpus::load(&corpus_shards, &names, BadRowPolicy::Error).unwrap();
    assert_eq!(corpus.len() as u64, corpus_shards.total_rows());

    for (name, rows) in [
        ("train_warmup.parquet", all_rows::<WarmupRow> as fn(&ShardSet) -> usize),
        ("train_contrastive.parquet", all_rows::<ContrastiveRow>),
        ("train_grpo.parquet", all_rows::<GrpoRow>),
    ] {
        let shards = file(name);
        assert_eq!(rows(&shards) as u64, shards.total_rows(), "{name}");
    }
    validate_doc_refs::<ContrastiveRow>(&file("train_contrastive.parquet"), &names, BadRowPolicy::Error, &corpus)
        .unwrap();
    validate_doc_refs::<GrpoRow>(&file("train_grpo.parquet"), &names, BadRowPolicy::Error, &corpus).unwrap();

    for split in ["dev", "test"] {
        let queries = file(&format!("{split}_queries.parquet"));
        let set =
            EvalSet::load(&queries, &file(&format!("{split}_qrels.parquet")), &names, BadRowPolicy::Error).unwrap();
        assert_eq!(set.queries.len() as u64, queries.total_rows());
        assert!(set.queries_without_qrels().is_empty(), "{split}");
        set.validate_against(&corpus).unwrap();
    }
}
