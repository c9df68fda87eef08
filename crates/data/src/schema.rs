//! Column names and the [`FromBatch`] trait that decodes Arrow batches into typed rows.

use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::Schema;
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use crate::columns::{RowIssue, SchemaIssue};
use crate::error::DataError;

/// The column names the row types read. Defaults are the names in the crate docs; a recipe
/// can rename any of them. Columns not named here are ignored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ColumnNames {
    /// Document id (corpus, qrels). Default `doc_id`.
    pub doc_id: String,
    /// Document text. Default `text`.
    pub text: String,
    /// Optional document title. Default `title`.
    pub title: String,
    /// Query id. Default `query_id`.
    pub query_id: String,
    /// Query text. Default `query`.
    pub query: String,
    /// Reasoning text. Default `reasoning`.
    pub reasoning: String,
    /// Positive doc ids. Default `positive_ids`.
    pub positive_ids: String,
    /// Negative doc ids. Default `negative_ids`.
    pub negative_ids: String,
    /// Inline positive texts. Default `positives`.
    pub positives: String,
    /// Inline negative texts. Default `negatives`.
    pub negatives: String,
    /// Doc ids excluded from retrieval for a query. Default `excluded_ids`.
    pub excluded_ids: String,
    /// Evaluation task name. Default `task`.
    pub task: String,
    /// Qrel relevance grade. Default `relevance`.
    pub relevance: String,
}

impl Default for ColumnNames {
    fn default() -> Self {
        Self {
            doc_id: "doc_id".into(),
            text: "text".into(),
            title: "title".into(),
            query_id: "query_id".into(),
            query: "query".into(),
            reasoning: "reasoning".into(),
            positive_ids: "positive_ids".into(),
            negative_ids: "negative_ids".into(),
            positives: "positives".into(),
            negatives: "negatives".into(),
            excluded_ids: "excluded_ids".into(),
            task: "task".into(),
            relevance: "relevance".into(),
        }
    }
}

/// A row type decoded from Arrow batches.
///
/// [`bind`](Self::bind) checks the schema once per batch; [`read`](Self::read) decodes one row.
pub trait FromBatch: Sized + Send + 'static {
    /// Short schema name used in messages (`corpus`, `contrastive`, ...).
    const SCHEMA: &'static str;

    /// Typed column readers bound to one batch.
    type Reader;

    /// Every column the type may read (required and optional), for projection.
    fn column_names(names: &ColumnNames) -> Vec<String>;

    /// Binds the columns of `batch`, failing on a missing or mistyped column.
    fn bind(batch: &RecordBatch, names: &ColumnNames) -> Result<Self::Reader, SchemaIssue>;

    /// Decodes row `row` of the bound batch.
    fn read(reader: &Self::Reader, row: usize) -> Result<Self, RowIssue>;
}

/// Checks that `schema` has every column `R` requires, with supported types.
pub fn check_schema<R: FromBatch>(schema: &Arc<Schema>, names: &ColumnNames, path: &Path) -> Result<(), DataError> {
    let empty = RecordBatch::new_empty(Arc::clone(schema));
    R::bind(&empty, names).map(|_| ()).map_err(|issue| schema_error::<R>(issue, schema, path))
}

/// Turns a [`SchemaIssue`] into an error naming the file.
pub(crate) fn schema_error<R: FromBatch>(issue: SchemaIssue, schema: &Schema, path: &Path) -> DataError {
    match issue {
        SchemaIssue::Missing { column } => DataError::MissingColumn {
            path: path.to_path_buf(),
            column,
            schema: R::SCHEMA,
            available: schema.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", "),
        },
        SchemaIssue::WrongType { column, expected, found } => {
            DataError::ColumnType { path: path.to_path_buf(), column, expected, found: found.to_string() }
        }
    }
}
