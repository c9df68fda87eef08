//! `Corpus`, `EvalSet` and the contrastive row forms.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array};
use data::{BadRowPolicy, ColumnNames, ContrastiveRow, Corpus, EvalSet, Passages, ShardSet, Stream, StreamConfig};

use crate::common::{lists, strs, tmp, write};

fn open(path: &std::path::Path) -> ShardSet {
    ShardSet::open(&[path.display().to_string()]).unwrap()
}

#[test]
fn corpus_loads_and_resolves() {
    let dir = tmp();
    let p = write(
        &dir.path().join("c.parquet"),
        vec![
            ("doc_id", strs(&[Some("b"), Some("a")])),
            ("title", strs(&[Some("T"), None])),
            ("text", strs(&[Some("bee"), Some("ay")])),
        ],
        1,
    );
    let corpus = Corpus::load(&open(&p), &ColumnNames::default(), BadRowPolicy::Error).unwrap();
    assert_eq!(corpus.ids().collect::<Vec<_>>(), ["b", "a"]);
    assert_eq!(corpus.get("b").unwrap().joined(": "), "T: bee");
    assert_eq!(corpus.get("a").unwrap().joined(": "), "ay");
    let docs = corpus.resolve(&["a", "b"]).unwrap();
    assert_eq!(docs[0].text, "ay");
    let err = corpus.resolve(&["a", "zz"]).unwrap_err().to_string();
    assert!(err.contains("`zz`"), "{err}");
}

#[test]
fn renamed_columns() {
    let dir = tmp();
    let p =
        write(&dir.path().join("c.parquet"), vec![("pid", strs(&[Some("x")])), ("passage", strs(&[Some("text")]))], 1);
    let names = ColumnNames { doc_id: "pid".into(), text: "passage".into(), ..ColumnNames::default() };
    let corpus = Corpus::load(&open(&p), &names, BadRowPolicy::Error).unwrap();
    assert!(corpus.contains("x"));
    // Column names deserialise with defaults for anything not given.
    let parsed: ColumnNames = serde_json::from_str(r#"{"doc_id": "pid"}"#).unwrap();
    assert_eq!(parsed.doc_id, "pid");
    assert_eq!(parsed.text, "text");
}

#[test]
fn eval_set_loads_queries_qrels_and_exclusions() {
    let dir = tmp();
    let q = write(
        &dir.path().join("queries.parquet"),
        vec![
            ("query_id", strs(&[Some("q1"), Some("q2"), Some("q3")])),
            ("query", strs(&[Some("one"), Some("two"), Some("three")])),
            ("task", strs(&[Some("bio"), None, Some("geo")])),
            ("excluded_ids", lists(&[Some(vec!["d9"]), None, Some(vec![])])),
        ],
        2,
    );
    let rel: ArrayRef = Arc::new(Int32Array::from(vec![1, 2, 1, 1]));
    let r = write(
        &dir.path().join("qrels.parquet"),
        vec![
            ("query_id", strs(&[Some("q1"), Some("q1"), Some("q2"), Some("q2")])),
            ("doc_id", strs(&[Some("d1"), Some("d2"), Some("d3"), Some("d3")])),
            ("relevance", rel),
        ],
        3,
    );
    let set = EvalSet::load(&open(&q), &open(&r), &ColumnNames::default(), BadRowPolicy::Error).unwrap();
    assert_eq!(set.queries.len(), 3);
    assert_eq!(set.queries[0].task.as_deref(), Some("bio"));
    assert_eq!(set.qrels["q1"]["d2"], 2);
    assert_eq!(set.qrels["q2"].len(), 1, "exact duplicate accepted once");
    assert!(set.excluded["q1"].contains("d9"));
    assert!(!set.excluded.contains_key("q3"));
    assert_eq!(set.queries_without_qrels(), ["q3"]);

    let rel: ArrayRef = Arc::new(Int32Array::from(vec![1, 0]));
    let conflict = write(
        &dir.path().join("conflict.parquet"),
        vec![
            ("query_id", strs(&[Some("q1"), Some("q1")])),
            ("doc_id", strs(&[Some("d1"), Some("d1")])),
            ("relevance", rel),
        ],
        3,
    );
    let err = EvalSet::load(&open(&q), &open(&conflict), &ColumnNames::default(), BadRowPolicy::Error)
        .unwrap_err()
        .to_string();
    assert!(err.contains("conflict.parquet, row group 0, row 1"), "{err}");
    assert!(err.contains("relevance 0 but 1 before"), "{err}");
}

#[test]
fn contrastive_inline_texts_win_over_ids() {
    let dir = tmp();
    let p = write(
        &dir.path().join("c.parquet"),
        vec![
            ("query_id", strs(&[Some("q1"), Some("q2")])),
            ("query", strs(&[Some("a"), Some("b")])),
            ("positive_ids", lists(&[Some(vec!["d1"]), Some(vec!["d2"])])),
            ("positives", lists(&[Some(vec!["inline text"]), None])),
            ("negative_ids", lists(&[None, Some(vec!["d3"])])),
        ],
        10,
    );
    let cfg = StreamConfig { shuffle: false, ..StreamConfig::default() };
    let rows: Vec<ContrastiveRow> = Stream::new(&open(&p), cfg).unwrap().collect::<data::Result<_>>().unwrap();
    assert_eq!(rows[0].positives, Passages::Texts(vec!["inline text".into()]));
    assert_eq!(rows[0].negatives, Passages::Ids(vec![]));
    assert_eq!(rows[1].positives, Passages::Ids(vec!["d2".into()]));
    assert_eq!(rows[1].negatives, Passages::Ids(vec!["d3".into()]));
    assert_eq!(rows[1].reasoning, None);
}
