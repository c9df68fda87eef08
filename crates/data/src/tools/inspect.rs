//! A human- and machine-readable summary of Parquet shards.

use std::fmt;
use std::path::PathBuf;

use arrow::util::display::{ArrayFormatter, FormatOptions};
use serde::Serialize;

use crate::error::{DataError, Result};
use crate::rows::{ContrastiveRow, CorpusDoc, EvalQuery, GrpoRow, Qrel, WarmupRow};
use crate::schema::{ColumnNames, FromBatch, check_schema};
use crate::shards::{Shard, ShardSet};

/// Rows sampled per file.
pub const SAMPLE_ROWS: usize = 3;
const MAX_VALUE_CHARS: usize = 160;

/// Summary of one file.
#[derive(Clone, Debug, Serialize)]
pub struct FileReport {
    /// The file.
    pub path: PathBuf,
    /// `(column, Arrow type)` in file order.
    pub columns: Vec<(String, String)>,
    /// Rows in the file.
    pub rows: u64,
    /// Rows per row group.
    pub row_groups: Vec<u64>,
    /// Up to [`SAMPLE_ROWS`] rows from the start, as `(column, value)` text.
    pub samples: Vec<Vec<(String, String)>>,
    /// Schemas the file satisfies (`corpus`, `warm-up`, `contrastive`, `grpo`,
    /// `eval queries`, `qrels`).
    pub fits: Vec<&'static str>,
}

/// Summary of every file matched by `inspect`'s inputs.
#[derive(Clone, Debug, Serialize)]
pub struct InspectReport {
    /// One entry per file, sorted by path.
    pub files: Vec<FileReport>,
}

/// Opens the paths, folders or globs and summarises each file: schema, row and row-group
/// counts, sample rows and the stage schemas it fits under `names`.
pub fn inspect<S: AsRef<str>>(inputs: &[S], names: &ColumnNames) -> Result<InspectReport> {
    let shards = ShardSet::open(inputs)?;
    let files = shards.shards().iter().map(|s| file_report(s, names)).collect::<Result<_>>()?;
    Ok(InspectReport { files })
}

fn fits<R: FromBatch>(shard: &Shard, names: &ColumnNames) -> Option<&'static str> {
    check_schema::<R>(shard.schema(), names, shard.path()).ok().map(|()| R::SCHEMA)
}

fn file_report(shard: &Shard, names: &ColumnNames) -> Result<FileReport> {
    let columns: Vec<(String, String)> =
        shard.schema().fields().iter().map(|f| (f.name().clone(), f.data_type().to_string())).collect();
    let fits = [
        fits::<CorpusDoc>(shard, names),
        fits::<WarmupRow>(shard, names),
        fits::<ContrastiveRow>(shard, names),
        fits::<GrpoRow>(shard, names),
        fits::<EvalQuery>(shard, names),
        fits::<Qrel>(shard, names),
    ]
    .into_iter()
    .flatten()
    .collect();
    Ok(FileReport {
        path: shard.path().to_path_buf(),
        rows: shard.num_rows(),
        row_groups: shard.row_groups().to_vec(),
        samples: samples(shard, &columns)?,
        columns,
        fits,
    })
}

fn samples(shard: &Shard, columns: &[(String, String)]) -> Result<Vec<Vec<(String, String)>>> {
    let Some(row_group) = shard.row_groups().iter().position(|&n| n > 0) else {
        return Ok(Vec::new());
    };
    let names: Vec<String> = columns.iter().map(|(n, _)| n.clone()).collect();
    let batches = shard.read_row_group(row_group, &names, SAMPLE_ROWS)?;
    let Some(batch) = batches.first() else {
        return Ok(Vec::new());
    };
    let options = FormatOptions::default().with_null("null");
    let formatters = batch
        .columns()
        .iter()
        .map(|a| ArrayFormatter::try_new(a.as_ref(), &options))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| DataError::Read {
            path: shard.path().to_path_buf(),
            row_group,
            column: None,
            reason: e.to_string(),
        })?;
    let fields = batch.schema();
    Ok((0..batch.num_rows().min(SAMPLE_ROWS))
        .map(|row| {
            fields
                .fields()
                .iter()
                .zip(&formatters)
                .map(|(f, fmt)| (f.name().clone(), clip(&fmt.value(row).to_string())))
                .collect()
        })
        .collect())
}

/// The first `MAX_VALUE_CHARS` characters of a cell, control characters escaped (`\n`, `\u{1b}`): a cell must
/// not move the cursor or reprogram the terminal that prints it.
fn clip(s: &str) -> String {
    let shown = |t: &str| {
        t.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.into() }).collect::<String>()
    };
    match s.char_indices().nth(MAX_VALUE_CHARS) {
        Some((cut, _)) => format!("{}…", shown(&s[..cut])),
        None => shown(s),
    }
}

impl fmt::Display for InspectReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for file in &self.files {
            writeln!(f, "{}", file.path.display())?;
            writeln!(f, "  rows: {} in {} row group(s) {:?}", file.rows, file.row_groups.len(), file.row_groups)?;
            writeln!(f, "  columns:")?;
            for (name, ty) in &file.columns {
                writeln!(f, "    {name}: {ty}")?;
            }
            let fits = if file.fits.is_empty() { "none".to_string() } else { file.fits.join(", ") };
            writeln!(f, "  fits: {fits}")?;
            for (i, row) in file.samples.iter().enumerate() {
                writeln!(f, "  sample {i}:")?;
                for (name, value) in row {
                    writeln!(f, "    {name} = {value}")?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cells_are_clipped_and_control_characters_escaped() {
        assert_eq!(super::clip("a\u{1b}]0;title\u{7}b\nc"), "a\\u{1b}]0;title\\u{7}b\\nc");
        let long = "x".repeat(super::MAX_VALUE_CHARS + 5);
        assert_eq!(super::clip(&long).chars().count(), super::MAX_VALUE_CHARS + 1);
    }
}
