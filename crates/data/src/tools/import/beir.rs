//! BEIR folders: `corpus.jsonl`, `queries.jsonl` and `qrels/{split}.tsv`.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::{ImportSummary, ImportedFile, create_dir};
use crate::error::{DataError, Result};
use crate::tools::jsonl::{JsonLines, input_error};
use crate::tools::writer::{ColumnKind, ParquetSink, Value, WriteOptions};

const QRELS_HEADER: [&str; 3] = ["query-id", "corpus-id", "score"];

/// Imports a BEIR folder's `split` into `out_dir`:
///
/// * `corpus.parquet` (`doc_id`, `title`, `text`) from `corpus.jsonl` (`_id`, `title`, `text`);
/// * `queries.parquet` (`query_id`, `query`) from `queries.jsonl` (`_id`, `text`), keeping only
///   the queries judged in this split (the others are counted in the summary's notes);
/// * `qrels.parquet` (`query_id`, `doc_id`, `relevance`) from `qrels/{split}.tsv`, whose
///   header must be `query-id corpus-id score` (tab-separated).
///
/// Values are copied as they are (empty texts included); the readers apply the bad-row policy.
pub fn import_beir(dir: &Path, split: &str, out_dir: &Path, opts: &WriteOptions) -> Result<ImportSummary> {
    create_dir(out_dir)?;
    let mut summary = ImportSummary::default();

    let qrels_path = dir.join("qrels").join(format!("{split}.tsv"));
    let out = out_dir.join("qrels.parquet");
    let judged = write_qrels(&qrels_path, &out, opts)?;
    summary.files.push(ImportedFile { path: out, rows: judged.rows });

    let out = out_dir.join("queries.parquet");
    let mut sink = ParquetSink::create(&out, &[("query_id", ColumnKind::String), ("query", ColumnKind::String)], opts)?;
    let (mut other_split, mut found) = (0u64, HashSet::new());
    for record in JsonLines::open(&dir.join("queries.jsonl"))? {
        let record = record?;
        let id = record.str("_id")?;
        if !judged.queries.contains(&id) {
            other_split += 1;
            continue;
        }
        sink.push(vec![Value::Str(id.clone()), Value::Str(record.str("text")?)])?;
        found.insert(id);
    }
    summary.files.push(ImportedFile { path: out, rows: sink.finish()? });
    if other_split > 0 {
        summary.notes.push(format!(
            "{other_split} queries in queries.jsonl have no qrels in split `{split}` and were not written"
        ));
    }
    let unknown = judged.queries.difference(&found).count();
    if unknown > 0 {
        summary.notes.push(format!("{unknown} query ids of {} are not in queries.jsonl", qrels_path.display()));
    }

    let out = out_dir.join("corpus.parquet");
    let mut sink = ParquetSink::create(
        &out,
        &[("doc_id", ColumnKind::String), ("title", ColumnKind::String), ("text", ColumnKind::String)],
        opts,
    )?;
    for record in JsonLines::open(&dir.join("corpus.jsonl"))? {
        let record = record?;
        let title = record.opt_str("title")?.map_or(Value::Null, Value::Str);
        sink.push(vec![Value::Str(record.str("_id")?), title, Value::Str(record.str("text")?)])?;
    }
    summary.files.push(ImportedFile { path: out, rows: sink.finish()? });
    Ok(summary)
}

struct Judged {
    rows: u64,
    queries: HashSet<String>,
}

/// Copies a qrels TSV to Parquet and returns the judged query ids.
fn write_qrels(path: &Path, out: &Path, opts: &WriteOptions) -> Result<Judged> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut sink = ParquetSink::create(
        out,
        &[("query_id", ColumnKind::String), ("doc_id", ColumnKind::String), ("relevance", ColumnKind::Int32)],
        opts,
    )?;
    let mut queries = HashSet::new();
    let mut header_seen = false;
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line_no = i + 1;
        let line = line.map_err(|e| DataError::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').map(str::trim).collect();
        if !header_seen {
            header_seen = true;
            if fields != QRELS_HEADER {
                return Err(input_error(
                    path,
                    line_no,
                    None,
                    format!("expected the header `query-id<TAB>corpus-id<TAB>score`, found `{line}`"),
                ));
            }
            continue;
        }
        let [query, doc, score] = fields[..] else {
            return Err(input_error(
                path,
                line_no,
                None,
                format!("expected 3 tab-separated fields, found {}", fields.len()),
            ));
        };
        let score: i32 = score
            .parse()
            .map_err(|_| input_error(path, line_no, Some("score"), format!("`{score}` is not an int32")))?;
        for (name, value) in [("query-id", query), ("corpus-id", doc)] {
            if value.is_empty() {
                return Err(input_error(path, line_no, Some(name), "is empty".into()));
            }
        }
        queries.insert(query.to_string());
        sink.push(vec![Value::Str(query.to_string()), Value::Str(doc.to_string()), Value::Int(score)])?;
    }
    Ok(Judged { rows: sink.finish()?, queries })
}
