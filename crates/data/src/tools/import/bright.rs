//! BRIGHT layout: an examples JSONL and a documents JSONL.

use std::path::Path;

use super::{ImportSummary, ImportedFile, create_dir};
use crate::error::Result;
use crate::tools::jsonl::JsonLines;
use crate::tools::writer::{ColumnKind, ParquetSink, Value, WriteOptions};

/// Imports BRIGHT examples and documents into `out_dir`:
///
/// * `corpus.parquet` (`doc_id`, `text`) from documents (`id`, `content`);
/// * `queries.parquet` (`query_id`, `query`, `task`, `reasoning`, `positive_ids`,
///   `excluded_ids`) from examples (`id`, `query`, `gold_ids`, optional `excluded_ids` and
///   `reasoning`), so one file serves as eval queries, GRPO rows, and warm-up rows when every
///   row has reasoning; `task` is the given name (null when `None`);
/// * `qrels.parquet` (`query_id`, `doc_id`, `relevance` = 1) from `gold_ids`.
pub fn import_bright(
    examples: &Path,
    documents: &Path,
    out_dir: &Path,
    task: Option<&str>,
    opts: &WriteOptions,
) -> Result<ImportSummary> {
    create_dir(out_dir)?;
    let mut summary = ImportSummary::default();
    let task = task.map_or(Value::Null, |t| Value::Str(t.to_string()));

    let queries_out = out_dir.join("queries.parquet");
    let qrels_out = out_dir.join("qrels.parquet");
    let mut queries = ParquetSink::create(
        &queries_out,
        &[
            ("query_id", ColumnKind::String),
            ("query", ColumnKind::String),
            ("task", ColumnKind::String),
            ("reasoning", ColumnKind::String),
            ("positive_ids", ColumnKind::StringList),
            ("excluded_ids", ColumnKind::StringList),
        ],
        opts,
    )?;
    let mut qrels = ParquetSink::create(
        &qrels_out,
        &[("query_id", ColumnKind::String), ("doc_id", ColumnKind::String), ("relevance", ColumnKind::Int32)],
        opts,
    )?;
    for record in JsonLines::open(examples)? {
        let record = record?;
        let id = record.str("id")?;
        let gold = record.list("gold_ids")?;
        for doc in &gold {
            qrels.push(vec![Value::Str(id.clone()), Value::Str(doc.clone()), Value::Int(1)])?;
        }
        queries.push(vec![
            Value::Str(id),
            Value::Str(record.str("query")?),
            task.clone(),
            record.opt_str("reasoning")?.map_or(Value::Null, Value::Str),
            Value::List(gold),
            Value::List(record.opt_list("excluded_ids")?.unwrap_or_default()),
        ])?;
    }
    summary.files.push(ImportedFile { path: queries_out, rows: queries.finish()? });
    summary.files.push(ImportedFile { path: qrels_out, rows: qrels.finish()? });

    let corpus_out = out_dir.join("corpus.parquet");
    let mut corpus =
        ParquetSink::create(&corpus_out, &[("doc_id", ColumnKind::String), ("text", ColumnKind::String)], opts)?;
    for record in JsonLines::open(documents)? {
        let record = record?;
        corpus.push(vec![Value::Str(record.str("id")?), Value::Str(record.str("content")?)])?;
    }
    summary.files.push(ImportedFile { path: corpus_out, rows: corpus.finish()? });
    Ok(summary)
}
