//! Plain JSONL with a user-given field → column mapping.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::ImportedFile;
use crate::error::{DataError, Result};
use crate::tools::jsonl::JsonLines;
use crate::tools::writer::{ColumnKind, ParquetSink, Value, WriteOptions};

/// One output column and the JSON field it is read from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldMap {
    /// Output column name.
    pub column: String,
    /// JSON field name.
    pub source: String,
    /// Output type.
    pub kind: ColumnKind,
    /// Whether a line without this field (or with null) is an error; else it is written null.
    pub required: bool,
}

impl FieldMap {
    /// Parses `column=source[:string|list|int32][?]`; a trailing `?` makes it optional and
    /// `column` alone means `column=column:string`.
    ///
    /// Example: `query_id=_id`, `positive_ids=gold_ids:list`, `reasoning=cot?`.
    pub fn parse(spec: &str) -> Result<Self> {
        let (spec, required) = match spec.strip_suffix('?') {
            Some(s) => (s, false),
            None => (spec, true),
        };
        let (column, rest) = spec.split_once('=').unwrap_or((spec, spec));
        let (source, kind) = match rest.rsplit_once(':') {
            Some((s, k)) => (s, k),
            None => (rest, "string"),
        };
        let kind = match kind {
            "string" => ColumnKind::String,
            "list" => ColumnKind::StringList,
            "int32" | "int" => ColumnKind::Int32,
            other => {
                return Err(DataError::Config(format!(
                    "field mapping `{spec}`: unknown type `{other}` (expected string, list or int32)"
                )));
            }
        };
        if column.is_empty() || source.is_empty() {
            return Err(DataError::Config(format!("field mapping `{spec}`: expected column=source[:type][?]")));
        }
        Ok(Self { column: column.to_string(), source: source.to_string(), kind, required })
    }
}

/// Copies the mapped fields of every line of `input` into the Parquet file `output`; other
/// fields are ignored. A missing required field or a value of the wrong type is an error
/// naming the file, line and field.
pub fn import_jsonl(input: &Path, output: &Path, fields: &[FieldMap], opts: &WriteOptions) -> Result<ImportedFile> {
    if fields.is_empty() {
        return Err(DataError::Config("no field mapping given".into()));
    }
    let columns: Vec<(&str, ColumnKind)> = fields.iter().map(|f| (f.column.as_str(), f.kind)).collect();
    let mut sink = ParquetSink::create(output, &columns, opts)?;
    for record in JsonLines::open(input)? {
        let record = record?;
        let mut row = Vec::with_capacity(fields.len());
        for f in fields {
            let value = match f.kind {
                ColumnKind::String => record.opt_str(&f.source)?.map(Value::Str),
                ColumnKind::StringList => record.opt_list(&f.source)?.map(Value::List),
                ColumnKind::Int32 => record.opt_int(&f.source)?.map(Value::Int),
            };
            row.push(match value {
                Some(v) => v,
                None if f.required => {
                    return Err(record.error(&f.source, "missing or null; the mapping marks it required".into()));
                }
                None => Value::Null,
            });
        }
        sink.push(row)?;
    }
    Ok(ImportedFile { path: output.to_path_buf(), rows: sink.finish()? })
}
