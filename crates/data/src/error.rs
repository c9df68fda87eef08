//! The crate's error type and the [`Origin`] of a row.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::policy::SkipReason;

/// Shorthand for `Result<T, DataError>`.
pub type Result<T, E = DataError> = std::result::Result<T, E>;

/// Where a row came from: a file, a row group and a 0-based row inside that row group.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Origin {
    /// The Parquet file.
    pub file: Arc<Path>,
    /// Row group index inside the file.
    pub row_group: usize,
    /// Row index inside the row group (0-based).
    pub row: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, row group {}, row {}", self.file.display(), self.row_group, self.row)
    }
}

/// Every failure the crate reports. Messages name the file and, where one applies, the row
/// group, row and column, and say what was expected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// An I/O error on a named path.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A glob pattern was malformed.
    #[error("invalid glob pattern `{pattern}`: {message}")]
    Pattern {
        /// The pattern as given.
        pattern: String,
        /// Why it is invalid.
        message: String,
    },
    /// A glob pattern, path or folder matched no file.
    #[error("`{pattern}` matched no Parquet file")]
    NoMatch {
        /// The pattern, path or folder as given.
        pattern: String,
    },
    /// A file is not Parquet at all (no `PAR1` magic).
    #[error("{}: not a Parquet file ({reason})", path.display())]
    NotParquet {
        /// The file.
        path: PathBuf,
        /// What was found instead.
        reason: String,
    },
    /// A Parquet file whose footer or metadata cannot be read (truncated or corrupt).
    #[error("{}: corrupt or truncated Parquet file: {reason}", path.display())]
    CorruptParquet {
        /// The file.
        path: PathBuf,
        /// The decoder's complaint.
        reason: String,
    },
    /// Decoding a row group failed.
    #[error("{}, row group {row_group}{}: cannot decode: {reason}", path.display(), column_note(column))]
    Read {
        /// The file.
        path: PathBuf,
        /// The row group being read.
        row_group: usize,
        /// The first column that fails to decode on its own, when it could be found.
        column: Option<String>,
        /// The decoder's complaint.
        reason: String,
    },
    /// A required column is absent.
    #[error(
        "{}: missing column `{column}` required by the {schema} schema (columns present: {available})",
        path.display()
    )]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The missing column (or alternatives, `a` or `b`).
        column: String,
        /// The schema being read (`corpus`, `contrastive`, ...).
        schema: &'static str,
        /// Comma-separated names of the columns the file has.
        available: String,
    },
    /// A column has an unsupported Arrow type.
    #[error("{}: column `{column}` has type {found}, expected {expected}", path.display())]
    ColumnType {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
        /// What the schema accepts.
        expected: &'static str,
        /// The Arrow type found.
        found: String,
    },
    /// A row violates the schema (null or empty value, empty positive list, ...).
    #[error("{at}: column `{column}` {detail}")]
    BadRow {
        /// The row.
        at: Origin,
        /// The offending column.
        column: String,
        /// The reason class, also used for skip counters.
        reason: SkipReason,
        /// What was found and what was expected.
        detail: String,
    },
    /// The same id appears twice where ids must be unique.
    #[error("{second}: column `{column}` repeats id `{id}` already seen at {first}")]
    DuplicateId {
        /// The id column.
        column: String,
        /// The repeated id.
        id: String,
        /// First occurrence.
        first: Origin,
        /// Second occurrence.
        second: Origin,
    },
    /// Rows reference document ids that the corpus does not contain.
    #[error("{missing} referenced doc id(s) are not in the corpus; first ones: {examples}")]
    UnknownDocIds {
        /// How many references were missing in total.
        missing: usize,
        /// `query q1 -> doc d9 (column `positive_ids`, at file, row group, row)`, `; `-joined.
        examples: String,
    },
    /// A saved [`DataState`](crate::DataState) does not match the stream it is restored into.
    #[error("cannot restore data state: {what} was {saved} when saved but is {current} now")]
    StateMismatch {
        /// The field that differs.
        what: &'static str,
        /// Value in the saved state.
        saved: String,
        /// Value of the current configuration.
        current: String,
    },
    /// A single item is longer than the token budget of a whole batch.
    #[error("item {item} has {tokens} tokens, more than the batch token budget of {budget}")]
    OverBudget {
        /// Label of the item (id and origin).
        item: String,
        /// Its length in tokens.
        tokens: usize,
        /// The budget.
        budget: usize,
    },
    /// A preparation closure (e.g. tokenization) failed on a row.
    #[error("{at}: preparing row failed: {source}")]
    Prepare {
        /// The row.
        at: Origin,
        /// The closure's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A preparation closure panicked on a row.
    #[error("{at}: preparing row panicked: {message}")]
    PreparePanicked {
        /// The row.
        at: Origin,
        /// The panic payload, when it was a string.
        message: String,
    },
    /// The prefetch threads stopped without reaching the end of the stream.
    #[error("prefetch: {0}")]
    Prefetch(String),
    /// An invalid configuration value.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A malformed line in a JSONL or TSV input.
    #[error("{}, line {line}{}: {message}", path.display(), field_note(field))]
    Input {
        /// The input file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The field concerned, if any.
        field: Option<String>,
        /// What was wrong and what was expected.
        message: String,
    },
    /// Writing a Parquet file failed.
    #[error("{}: writing Parquet failed: {reason}", path.display())]
    Write {
        /// The output file.
        path: PathBuf,
        /// The writer's complaint.
        reason: String,
    },
    /// Training or saving a tokenizer failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
}

fn column_note(column: &Option<String>) -> String {
    column.as_ref().map(|c| format!(", column `{c}`")).unwrap_or_default()
}

fn field_note(field: &Option<String>) -> String {
    field.as_ref().map(|c| format!(", field `{c}`")).unwrap_or_default()
}

impl DataError {
    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }
}
