//! A row-at-a-time Parquet writer with fixed-size row groups and zstd compression.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Builder, ListBuilder, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};

/// Row-group size and compression of written Parquet files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WriteOptions {
    /// Rows per row group (the unit of streaming and shuffling). Default 10 000.
    pub row_group_rows: usize,
    /// zstd level, 1–22. Default 3.
    pub zstd_level: i32,
}

impl Default for WriteOptions {
    fn default() -> Self {
        Self { row_group_rows: 10_000, zstd_level: 3 }
    }
}

/// The Arrow type of a written column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    /// `Utf8`.
    String,
    /// `List<Utf8>`.
    StringList,
    /// `Int32`.
    Int32,
}

impl ColumnKind {
    fn data_type(self) -> DataType {
        match self {
            ColumnKind::String => DataType::Utf8,
            ColumnKind::StringList => DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
            ColumnKind::Int32 => DataType::Int32,
        }
    }
}

/// One value of a written row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// Null.
    Null,
    /// A string.
    Str(String),
    /// A list of strings.
    List(Vec<String>),
    /// An integer.
    Int(i32),
}

enum Builder {
    Str(StringBuilder),
    List(ListBuilder<StringBuilder>),
    Int(Int32Builder),
}

impl Builder {
    fn new(kind: ColumnKind) -> Self {
        match kind {
            ColumnKind::String => Builder::Str(StringBuilder::new()),
            ColumnKind::StringList => Builder::List(ListBuilder::new(StringBuilder::new())),
            ColumnKind::Int32 => Builder::Int(Int32Builder::new()),
        }
    }

    /// Appends `value`; returns it back when its type does not fit the column.
    fn push(&mut self, value: Value) -> std::result::Result<(), Value> {
        match (self, value) {
            (Builder::Str(b), Value::Str(s)) => b.append_value(s),
            (Builder::Str(b), Value::Null) => b.append_null(),
            (Builder::List(b), Value::List(items)) => {
                for item in items {
                    b.values().append_value(item);
                }
                b.append(true);
            }
            (Builder::List(b), Value::Null) => b.append(false),
            (Builder::Int(b), Value::Int(v)) => b.append_value(v),
            (Builder::Int(b), Value::Null) => b.append_null(),
            (_, value) => return Err(value),
        }
        Ok(())
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Str(b) => Arc::new(b.finish()),
            Builder::List(b) => Arc::new(b.finish()),
            Builder::Int(b) => Arc::new(b.finish()),
        }
    }
}

/// Writes rows to `<path>.partial` and renames it to `path` on [`finish`](Self::finish), so
/// a failed import never leaves a plausible-looking file behind.
pub struct ParquetSink {
    path: PathBuf,
    partial: PathBuf,
    schema: SchemaRef,
    writer: ArrowWriter<File>,
    builders: Vec<Builder>,
    buffered: usize,
    rows: u64,
    row_group_rows: usize,
    finished: bool,
}

impl ParquetSink {
    /// Creates the file with columns `(name, kind)`, all nullable.
    pub fn create(path: &Path, columns: &[(&str, ColumnKind)], opts: &WriteOptions) -> Result<Self> {
        let write_err = |reason: String| DataError::Write { path: path.to_path_buf(), reason };
        if opts.row_group_rows == 0 {
            return Err(DataError::Config("row_group_rows must be at least 1".into()));
        }
        let level = ZstdLevel::try_new(opts.zstd_level)
            .map_err(|e| DataError::Config(format!("zstd level {}: {e}", opts.zstd_level)))?;
        let schema = Arc::new(Schema::new(
            columns.iter().map(|(name, kind)| Field::new(*name, kind.data_type(), true)).collect::<Vec<_>>(),
        ));
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(level))
            .set_max_row_group_row_count(Some(opts.row_group_rows))
            .build();
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let file = File::create(&partial).map_err(|e| DataError::io(&partial, e))?;
        let writer =
            ArrowWriter::try_new(file, Arc::clone(&schema), Some(props)).map_err(|e| write_err(e.to_string()))?;
        Ok(Self {
            path: path.to_path_buf(),
            partial,
            builders: columns.iter().map(|(_, k)| Builder::new(*k)).collect(),
            schema,
            writer,
            buffered: 0,
            rows: 0,
            row_group_rows: opts.row_group_rows,
            finished: false,
        })
    }

    /// Appends one row, one value per column in order.
    pub fn push(&mut self, row: Vec<Value>) -> Result<()> {
        if row.len() != self.builders.len() {
            return Err(self.error(format!("row has {} values for {} columns", row.len(), self.builders.len())));
        }
        for (i, value) in row.into_iter().enumerate() {
            if let Err(value) = self.builders[i].push(value) {
                let field = self.schema.field(i);
                return Err(self.error(format!(
                    "value {value:?} does not fit column `{}` of type {}",
                    field.name(),
                    field.data_type()
                )));
            }
        }
        self.buffered += 1;
        self.rows += 1;
        if self.buffered == self.row_group_rows {
            self.flush()?;
        }
        Ok(())
    }

    fn error(&self, reason: String) -> DataError {
        DataError::Write { path: self.path.clone(), reason }
    }

    /// Writes the buffered rows as one row group.
    fn flush(&mut self) -> Result<()> {
        if self.buffered == 0 {
            return Ok(());
        }
        let arrays = self.builders.iter_mut().map(Builder::finish).collect();
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), arrays).map_err(|e| self.error(e.to_string()))?;
        self.writer.write(&batch).and_then(|()| self.writer.flush()).map_err(|e| self.error(e.to_string()))?;
        self.buffered = 0;
        Ok(())
    }

    /// Flushes, closes and renames the file; returns the number of rows written.
    pub fn finish(mut self) -> Result<u64> {
        self.flush()?;
        self.writer.finish().map_err(|e| self.error(e.to_string()))?;
        std::fs::rename(&self.partial, &self.path).map_err(|e| DataError::io(&self.path, e))?;
        self.finished = true;
        Ok(self.rows)
    }
}

impl Drop for ParquetSink {
    /// Removes the partial file of an import that failed or was abandoned.
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}
