//! Importers on the committed fixtures, `inspect` and tokenizer training.

use std::path::{Path, PathBuf};

use data::tools::import::{FieldMap, import_beir, import_bright, import_jsonl};
use data::tools::inspect::inspect;
use data::tools::tokenizer::{TextSource, TokenizerTrainConfig, train_tokenizer};
use data::tools::writer::WriteOptions;
use data::{
    BadRowPolicy, ColumnNames, Corpus, DataError, EvalSet, GrpoRow, ShardSet, Stream, StreamConfig, WarmupRow,
    validate_doc_refs,
};

use crate::common::{crate_dir, tmp};

fn fixture(rel: &str) -> PathBuf {
    crate_dir().join("tests/fixtures/import").join(rel)
}

fn open(path: &Path) -> ShardSet {
    ShardSet::open(&[path.display().to_string()]).unwrap()
}

fn opts() -> WriteOptions {
    WriteOptions { row_group_rows: 2, zstd_level: 3 }
}

#[test]
fn beir_folder() {
    let out = tmp();
    let summary = import_beir(&fixture("beir"), "test", out.path(), &opts()).unwrap();
    let rows: Vec<u64> = summary.files.iter().map(|f| f.rows).collect();
    assert_eq!(rows, [4, 2, 4], "qrels, queries, corpus");
    assert!(summary.notes[0].starts_with("1 queries"), "{summary}");

    let names = ColumnNames::default();
    let corpus_shards = open(&out.path().join("corpus.parquet"));
    assert_eq!(corpus_shards.shards()[0].row_groups(), [2, 2]);
    let corpus = Corpus::load(&corpus_shards, &names, BadRowPolicy::Error).unwrap();
    assert_eq!(corpus.len(), 4);
    assert_eq!(corpus.get("d1").unwrap().title.as_deref(), Some("Photosynthesis"));
    assert_eq!(corpus.get("d2").unwrap().title, None, "blank title reads as none");
    assert!(corpus.contains("4"), "numeric ids become strings");

    let set = EvalSet::load(
        &open(&out.path().join("queries.parquet")),
        &open(&out.path().join("qrels.parquet")),
        &names,
        BadRowPolicy::Error,
    )
    .unwrap();
    assert_eq!(set.queries.len(), 2);
    assert_eq!(set.qrels["q2"]["d3"], 2);
    set.validate_against(&corpus).unwrap();
}

#[test]
fn beir_bad_qrels_header_names_file_and_line() {
    let src = tmp();
    std::fs::create_dir(src.path().join("qrels")).unwrap();
    std::fs::write(src.path().join("qrels/dev.tsv"), "q\td\ts\n").unwrap();
    let out = tmp();
    let err = import_beir(src.path(), "dev", out.path(), &opts()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("dev.tsv, line 1") && msg.contains("query-id"), "{msg}");
    let left: Vec<_> = std::fs::read_dir(out.path()).unwrap().collect();
    assert!(left.is_empty(), "no output, partial or final, is left: {left:?}");
}

#[test]
fn bright_layout() {
    let out = tmp();
    let summary = import_bright(
        &fixture("bright/examples.jsonl"),
        &fixture("bright/documents.jsonl"),
        out.path(),
        Some("biology"),
        &opts(),
    )
    .unwrap();
    assert_eq!(summary.files.iter().map(|f| f.rows).collect::<Vec<_>>(), [2, 3, 3]);
    let names = ColumnNames::default();
    let queries = open(&out.path().join("queries.parquet"));
    let corpus = Corpus::load(&open(&out.path().join("corpus.parquet")), &names, BadRowPolicy::Error).unwrap();
    let report = validate_doc_refs::<GrpoRow>(&queries, &names, BadRowPolicy::Error, &corpus).unwrap();
    assert_eq!((report.rows, report.refs), (2, 3));
    let set = EvalSet::load(&queries, &open(&out.path().join("qrels.parquet")), &names, BadRowPolicy::Error).unwrap();
    assert_eq!(set.queries[0].task.as_deref(), Some("biology"));
    assert!(set.excluded["1"].contains("bio_doc_3"));
    // Warm-up needs reasoning on every row: example 1 has none.
    let err = Stream::<WarmupRow>::new(&queries, StreamConfig::default()).unwrap().find_map(Result::err).unwrap();
    assert!(err.to_string().contains("column `reasoning` is null"), "{err}");
}

#[test]
fn mapped_jsonl() {
    let out = tmp();
    let fields: Vec<FieldMap> =
        ["query_id=qid", "query=question", "reasoning=cot?", "positive_ids=pos:list", "negative_ids=neg:list?"]
            .iter()
            .map(|s| FieldMap::parse(s).unwrap())
            .collect();
    let target = out.path().join("train.parquet");
    let file = import_jsonl(&fixture("jsonl/train.jsonl"), &target, &fields, &opts()).unwrap();
    assert_eq!(file.rows, 2);
    let cfg = StreamConfig { shuffle: false, ..StreamConfig::default() };
    let rows: Vec<GrpoRow> = Stream::new(&open(&target), cfg).unwrap().collect::<data::Result<_>>().unwrap();
    assert_eq!(rows[0].query_id, "17");
    assert_eq!(rows[0].negative_ids, ["d2", "d3"]);
    assert!(rows[1].negative_ids.is_empty());

    let strict = [FieldMap::parse("reasoning=cot").unwrap()];
    let err = import_jsonl(&fixture("jsonl/train.jsonl"), &target, &strict, &opts()).unwrap_err();
    assert!(matches!(err, DataError::Input { line: 2, .. }));
    assert!(err.to_string().contains("train.jsonl, line 2, field `cot`"), "{err}");
    assert!(FieldMap::parse("x=y:float").is_err());
}

#[test]
fn inspect_reports_schema_and_fits() {
    let out = tmp();
    import_bright(&fixture("bright/examples.jsonl"), &fixture("bright/documents.jsonl"), out.path(), None, &opts())
        .unwrap();
    let report = inspect(&[out.path().display().to_string()], &ColumnNames::default()).unwrap();
    let names: Vec<String> =
        report.files.iter().map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["corpus.parquet", "qrels.parquet", "queries.parquet"]);
    assert_eq!(report.files[0].fits, ["corpus"]);
    assert_eq!(report.files[1].fits, ["qrels"]);
    assert_eq!(report.files[2].fits, ["warm-up", "contrastive", "grpo", "eval queries"]);
    assert_eq!(report.files[2].row_groups, [2]);
    assert_eq!(report.files[2].samples.len(), 2);
    let text = report.to_string();
    assert!(text.contains("positive_ids: List("), "{text}");
    assert!(text.contains("query_id = 0"), "{text}");
}

#[test]
fn tokenizer_from_text_files_and_corpus() {
    let out = tmp();
    let config = TokenizerTrainConfig { vocab_size: 300, min_frequency: 1, ..TokenizerTrainConfig::default() };
    let path = out.path().join("tokenizer.json");
    let trained = train_tokenizer(&TextSource::Files(vec![fixture("text/sample.txt")]), &config, &path).unwrap();
    assert_eq!(trained.sequences, 4, "blank line skipped");
    assert_eq!(
        trained.special_ids,
        [("<pad>".to_string(), 0), ("<eos>".to_string(), 1), ("<embtoken>".to_string(), 2)]
    );
    assert!(trained.vocab_size > 259 && trained.vocab_size <= 300);
    let tok = tokenizers::Tokenizer::from_file(&path).unwrap();
    let text = "Plants grind glucose, naïvely.";
    let enc = tok.encode(text, false).unwrap();
    assert_eq!(tok.decode(enc.get_ids(), false).unwrap(), text);

    let beir = tmp();
    import_beir(&fixture("beir"), "test", beir.path(), &opts()).unwrap();
    let source = TextSource::Corpus { shards: open(&beir.path().join("corpus.parquet")), columns: Box::default() };
    let trained = train_tokenizer(&source, &config, &out.path().join("t2.json")).unwrap();
    assert_eq!(trained.sequences, 4);

    let err = train_tokenizer(&TextSource::Files(vec![fixture("text/missing.txt")]), &config, &path).unwrap_err();
    assert!(err.to_string().contains("missing.txt"), "{err}");
}
