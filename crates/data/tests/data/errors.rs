//! Every bad-input case names the file and, where it applies, the column; Skip counts.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, LargeListBuilder, LargeStringArray, StringBuilder};
use data::{
    BadRowPolicy, ColumnNames, Corpus, CorpusDoc, DataError, GrpoRow, Prefetch, PrefetchConfig, Qrel, ShardSet,
    SkipReason, Stream, StreamConfig, TokenBudget, TokenBudgetBatcher, validate_doc_refs,
};

use crate::common::{corpus, glob_of, grpo_shards, lists, strs, tmp, write};

fn open(path: &std::path::Path) -> data::Result<ShardSet> {
    ShardSet::open(&[path.display().to_string()])
}

fn first_error<R: data::FromBatch>(shards: &ShardSet, policy: BadRowPolicy) -> DataError {
    let cfg = StreamConfig { bad_rows: policy, shuffle: false, ..StreamConfig::default() };
    match Stream::<R>::new(shards, cfg) {
        Err(e) => e,
        Ok(stream) => stream.filter_map(Result::err).next().expect("an error"),
    }
}

fn assert_names(err: &DataError, needles: &[&str]) {
    let msg = err.to_string();
    for n in needles {
        assert!(msg.contains(n), "`{msg}` lacks `{n}`");
    }
}

#[test]
fn missing_column() {
    let dir = tmp();
    let p = write(
        &dir.path().join("nocol.parquet"),
        vec![("doc_id", strs(&[Some("d1")])), ("body", strs(&[Some("x")]))],
        10,
    );
    let err = first_error::<CorpusDoc>(&open(&p).unwrap(), BadRowPolicy::Error);
    assert!(matches!(err, DataError::MissingColumn { .. }));
    assert_names(&err, &["nocol.parquet", "`text`", "corpus", "doc_id, body"]);
}

#[test]
fn wrong_arrow_type() {
    let dir = tmp();
    let ints: ArrayRef = Arc::new(Int64Array::from(vec![1]));
    let p = write(&dir.path().join("types.parquet"), vec![("doc_id", strs(&[Some("d1")])), ("text", ints)], 10);
    let err = first_error::<CorpusDoc>(&open(&p).unwrap(), BadRowPolicy::Error);
    assert!(matches!(err, DataError::ColumnType { .. }));
    assert_names(&err, &["types.parquet", "`text`", "Int64", "expected string"]);
}

#[test]
fn large_string_and_large_list_are_accepted() {
    let dir = tmp();
    let ids: ArrayRef = Arc::new(LargeStringArray::from(vec!["q1", "q2"]));
    let qs: ArrayRef = Arc::new(LargeStringArray::from(vec!["a", "b"]));
    let mut pos = LargeListBuilder::new(StringBuilder::new());
    pos.values().append_value("d1");
    pos.append(true);
    pos.values().append_value("d2");
    pos.append(true);
    let pos: ArrayRef = Arc::new(pos.finish());
    let p = write(&dir.path().join("large.parquet"), vec![("query_id", ids), ("query", qs), ("positive_ids", pos)], 10);
    let rows: Vec<GrpoRow> =
        Stream::new(&open(&p).unwrap(), StreamConfig::default()).unwrap().collect::<data::Result<_>>().unwrap();
    assert_eq!(rows.len(), 2);
}

#[test]
fn truncated_file() {
    let dir = tmp();
    let p = corpus(dir.path(), 50);
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let err = open(&p).unwrap_err();
    assert!(matches!(err, DataError::CorruptParquet { .. }), "{err}");
    assert_names(&err, &["corpus.parquet", "truncated"]);
}

#[test]
fn corrupt_data_page() {
    let dir = tmp();
    let texts: Vec<String> = (0..200).map(|i| format!("document text number {i} ").repeat(8)).collect();
    let ids: Vec<String> = (0..200).map(|i| format!("d{i}")).collect();
    let p = write(
        &dir.path().join("pages.parquet"),
        vec![("doc_id", crate::common::owned(&ids)), ("text", crate::common::owned(&texts))],
        1000,
    );
    let mut bytes = std::fs::read(&p).unwrap();
    // The text column's pages make up most of the file; clobber a stretch in the middle.
    let mid = bytes.len() / 2;
    bytes[mid - 2000..mid + 2000].fill(0xFF);
    std::fs::write(&p, &bytes).unwrap();
    let err = first_error::<CorpusDoc>(&open(&p).unwrap(), BadRowPolicy::Error);
    assert!(matches!(err, DataError::Read { .. }), "{err}");
    assert_names(&err, &["pages.parquet", "row group 0", "column `text`"]);
}

#[test]
fn non_parquet_file_in_glob_and_empty_glob() {
    let dir = tmp();
    corpus(dir.path(), 3);
    std::fs::write(dir.path().join("notes.txt"), "not parquet").unwrap();
    let err = ShardSet::open(&[format!("{}/*", dir.path().display())]).unwrap_err();
    assert!(matches!(err, DataError::NotParquet { .. }));
    assert_names(&err, &["notes.txt", "not a Parquet file"]);
    let err = ShardSet::open(&[format!("{}/*.nothing", dir.path().display())]).unwrap_err();
    assert!(matches!(err, DataError::NoMatch { .. }));
    assert_names(&err, &["*.nothing"]);
}

fn bad_corpus(dir: &std::path::Path) -> ShardSet {
    let p = write(
        &dir.join("bad.parquet"),
        vec![
            ("doc_id", strs(&[Some("d0"), Some("d1"), Some("d2"), Some("d3"), Some("d4")])),
            ("text", strs(&[Some("ok"), None, Some("fine"), Some("  "), Some("good")])),
        ],
        3,
    );
    open(&p).unwrap()
}

#[test]
fn null_and_empty_text() {
    let dir = tmp();
    let shards = bad_corpus(dir.path());
    let err = first_error::<CorpusDoc>(&shards, BadRowPolicy::Error);
    assert!(matches!(err, DataError::BadRow { reason: SkipReason::NullValue, .. }));
    assert_names(&err, &["bad.parquet", "row group 0", "row 1", "column `text`", "is null"]);

    // A file whose only text is empty.
    let p =
        write(&dir.path().join("blank.parquet"), vec![("doc_id", strs(&[Some("d0")])), ("text", strs(&[Some("")]))], 3);
    let err = first_error::<CorpusDoc>(&open(&p).unwrap(), BadRowPolicy::Error);
    assert!(matches!(err, DataError::BadRow { reason: SkipReason::EmptyValue, .. }));
    assert_names(&err, &["blank.parquet", "row 0", "column `text`", "is empty"]);
}

#[test]
fn skip_policy_counts_and_survives_restore() {
    let dir = tmp();
    let shards = bad_corpus(dir.path());
    let cfg =
        StreamConfig { bad_rows: BadRowPolicy::Skip, shuffle: false, shuffle_window: 1, ..StreamConfig::default() };
    let mut stream = Stream::<CorpusDoc>::new(&shards, cfg.clone()).unwrap();
    let first = stream.next().unwrap().unwrap();
    assert_eq!(first.doc_id, "d0");
    assert_eq!(stream.skipped().get(SkipReason::NullValue), 1);
    let state = stream.state();
    let rest: Vec<String> = stream.map(|d| d.unwrap().doc_id).collect();
    assert_eq!(rest, ["d2", "d4"]);
    let mut resumed = Stream::<CorpusDoc>::restore(&shards, cfg, &state).unwrap();
    let again: Vec<String> = resumed.by_ref().map(|d| d.unwrap().doc_id).collect();
    assert_eq!(again, rest);
    let skipped = resumed.skipped();
    assert_eq!(skipped.get(SkipReason::NullValue), 1, "not double-counted");
    assert_eq!(skipped.get(SkipReason::EmptyValue), 1);
    assert_eq!(skipped.total(), 2);
}

#[test]
fn empty_positive_list() {
    let dir = tmp();
    let p = write(
        &dir.path().join("grpo.parquet"),
        vec![
            ("query_id", strs(&[Some("q1"), Some("q2"), Some("q3")])),
            ("query", strs(&[Some("a"), Some("b"), Some("c")])),
            ("positive_ids", lists(&[Some(vec!["d1"]), Some(vec![]), None])),
        ],
        10,
    );
    let shards = open(&p).unwrap();
    let err = first_error::<GrpoRow>(&shards, BadRowPolicy::Error);
    assert!(matches!(err, DataError::BadRow { reason: SkipReason::EmptyList, .. }));
    assert_names(&err, &["grpo.parquet", "row 1", "column `positive_ids`", "empty list"]);

    let cfg = StreamConfig { bad_rows: BadRowPolicy::Skip, ..StreamConfig::default() };
    let mut stream = Stream::<GrpoRow>::new(&shards, cfg).unwrap();
    assert_eq!(stream.by_ref().count(), 1);
    assert_eq!(stream.skipped().get(SkipReason::EmptyList), 1);
    assert_eq!(stream.skipped().get(SkipReason::NullValue), 1);
}

#[test]
fn relevance_out_of_range() {
    let dir = tmp();
    let rel: ArrayRef = Arc::new(Int64Array::from(vec![1, i64::from(i32::MAX) + 1]));
    let p = write(
        &dir.path().join("qrels.parquet"),
        vec![
            ("query_id", strs(&[Some("q1"), Some("q1")])),
            ("doc_id", strs(&[Some("d1"), Some("d2")])),
            ("relevance", rel),
        ],
        10,
    );
    let err = first_error::<Qrel>(&open(&p).unwrap(), BadRowPolicy::Error);
    assert_names(&err, &["qrels.parquet", "row 1", "column `relevance`", "int32"]);
}

#[test]
fn unknown_positive_id() {
    let dir = tmp();
    let corpus_dir = dir.path().join("corpus");
    std::fs::create_dir(&corpus_dir).unwrap();
    let corpus = Corpus::load(
        &open(&crate::common::corpus(&corpus_dir, 3)).unwrap(),
        &ColumnNames::default(),
        BadRowPolicy::Error,
    )
    .unwrap();
    let p = write(
        &dir.path().join("train.parquet"),
        vec![
            ("query_id", strs(&[Some("q1"), Some("q2")])),
            ("query", strs(&[Some("a"), Some("b")])),
            ("positive_ids", lists(&[Some(vec!["d1"]), Some(vec!["d2", "d9"])])),
            ("negative_ids", lists(&[Some(vec!["d7"]), None])),
        ],
        10,
    );
    let err = validate_doc_refs::<GrpoRow>(&open(&p).unwrap(), &ColumnNames::default(), BadRowPolicy::Error, &corpus)
        .unwrap_err();
    assert!(matches!(err, DataError::UnknownDocIds { missing: 2, .. }));
    assert_names(
        &err,
        &[
            "train.parquet",
            "query `q1` -> doc `d7` (column `negative_ids`",
            "query `q2` -> doc `d9` (column `positive_ids`",
        ],
    );
}

#[test]
fn duplicate_doc_id_names_both_places() {
    let dir = tmp();
    let p = write(
        &dir.path().join("dup.parquet"),
        vec![
            ("doc_id", strs(&[Some("a"), Some("b"), Some("c"), Some("a")])),
            ("text", strs(&[Some("1"), Some("2"), Some("3"), Some("4")])),
        ],
        2,
    );
    let err = Corpus::load(&open(&p).unwrap(), &ColumnNames::default(), BadRowPolicy::Error).unwrap_err();
    assert_names(&err, &["dup.parquet, row group 1, row 1", "`doc_id`", "`a`", "row group 0, row 0"]);
}

#[test]
fn item_over_token_budget() {
    let dir = tmp();
    grpo_shards(dir.path(), 1, 6, 3);
    let shards = ShardSet::open(&[glob_of(dir.path())]).unwrap();
    let cfg = StreamConfig { shuffle: false, ..StreamConfig::default() };
    // "Tokenize": query length in bytes; the row s0-r4 gets a huge length.
    let tokenize = |row: GrpoRow| {
        let n = if row.query_id == "s0-r4" { 1000 } else { row.query.len() };
        Ok::<_, std::convert::Infallible>((row.query_id, n))
    };
    let batches = |policy| {
        let prefetch =
            Prefetch::new(Stream::<GrpoRow>::new(&shards, cfg.clone()).unwrap(), PrefetchConfig::default(), tokenize)
                .unwrap();
        let budget = TokenBudget { max_tokens: 64, max_items: None, oversized: policy };
        TokenBudgetBatcher::new(prefetch, budget, |p| p.item.1, |p| format!("`{}` ({})", p.item.0, p.origin)).unwrap()
    };
    let err = batches(BadRowPolicy::Error).find_map(Result::err).unwrap();
    assert!(matches!(err, DataError::OverBudget { tokens: 1000, budget: 64, .. }));
    assert_names(&err, &["`s0-r4`", "shard-0.parquet, row group 1, row 1"]);

    let mut skipping = batches(BadRowPolicy::Skip);
    let got: Vec<String> = skipping.by_ref().flat_map(|b| b.unwrap()).map(|p| p.item.0).collect();
    assert_eq!(got, ["s0-r0", "s0-r1", "s0-r2", "s0-r3", "s0-r5"]);
    assert_eq!(skipping.skipped().get(SkipReason::OverTokenBudget), 1);
}
