//! The typed rows of each stage and of evaluation, and their [`FromBatch`] decoders.

use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use crate::columns::{
    Columns, Ints, RowIssue, SchemaIssue, StringLists, Strings, int32, list, list_or_empty, opt_list, opt_text, text,
};
use crate::policy::SkipReason;
use crate::schema::{ColumnNames, FromBatch};

/// A corpus document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorpusDoc {
    /// Unique document id.
    pub doc_id: String,
    /// Body text (never blank).
    pub text: String,
    /// Title; `None` when the column is absent, null or blank.
    pub title: Option<String>,
}

impl CorpusDoc {
    /// The title and text joined with `sep`, or the text alone when there is no title.
    pub fn joined(&self, sep: &str) -> String {
        match &self.title {
            Some(t) => format!("{t}{sep}{}", self.text),
            None => self.text.clone(),
        }
    }
}

/// A stage-1 (warm-up) row: learn to produce the reasoning for a query.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarmupRow {
    /// Query id.
    pub query_id: String,
    /// Query text.
    pub query: String,
    /// Reasoning text (never blank).
    pub reasoning: String,
    /// Positive doc ids; empty when the column is absent or null.
    pub positive_ids: Vec<String>,
}

/// Positives or negatives of a contrastive row: corpus ids or inline texts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Passages {
    /// Document ids to resolve against a [`Corpus`](crate::Corpus).
    Ids(Vec<String>),
    /// Inline passage texts.
    Texts(Vec<String>),
}

impl Passages {
    /// Number of passages.
    pub fn len(&self) -> usize {
        match self {
            Passages::Ids(v) | Passages::Texts(v) => v.len(),
        }
    }

    /// Whether there are no passages.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The ids, when these are ids.
    pub fn ids(&self) -> Option<&[String]> {
        match self {
            Passages::Ids(v) => Some(v),
            Passages::Texts(_) => None,
        }
    }
}

/// A stage-2 (contrastive) row.
///
/// Positives come from the inline `positives` texts when that value is non-null, else from
/// `positive_ids`; negatives likewise (`negatives`, else `negative_ids`, else none).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContrastiveRow {
    /// Query id.
    pub query_id: String,
    /// Query text.
    pub query: String,
    /// Optional reasoning text.
    pub reasoning: Option<String>,
    /// At least one positive.
    pub positives: Passages,
    /// Hard negatives (may be empty).
    pub negatives: Passages,
}

/// A stage-3 (GRPO) row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrpoRow {
    /// Query id.
    pub query_id: String,
    /// Query text.
    pub query: String,
    /// Gold reasoning, when the data has it: never a training target in stage 3, only the reference whose reward is
    /// logged beside the rollouts'.
    pub reasoning: Option<String>,
    /// Relevant doc ids (at least one).
    pub positive_ids: Vec<String>,
    /// Known negatives; empty when absent.
    pub negative_ids: Vec<String>,
    /// Doc ids never to reward or retrieve for this query; empty when absent.
    pub excluded_ids: Vec<String>,
}

/// An evaluation query.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvalQuery {
    /// Query id.
    pub query_id: String,
    /// Query text.
    pub query: String,
    /// Optional task name (e.g. a BRIGHT domain).
    pub task: Option<String>,
    /// Doc ids to drop from this query's ranking; empty when absent.
    pub excluded_ids: Vec<String>,
}

/// One relevance judgement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Qrel {
    /// Query id.
    pub query_id: String,
    /// Document id.
    pub doc_id: String,
    /// Relevance grade (Int32 or Int64 in the file, must fit in `i32`).
    pub relevance: i32,
}

/// A required string column with its name.
pub(crate) struct Named<T> {
    name: String,
    col: T,
}

/// An optional column with its name.
pub(crate) struct OptNamed<T> {
    name: String,
    col: Option<T>,
}

fn req(c: &Columns<'_>, name: &str) -> Result<Named<Strings>, SchemaIssue> {
    Ok(Named { name: name.to_string(), col: c.strings(name)? })
}

fn opt(c: &Columns<'_>, name: &str) -> Result<OptNamed<Strings>, SchemaIssue> {
    Ok(OptNamed { name: name.to_string(), col: c.opt_strings(name)? })
}

fn req_list(c: &Columns<'_>, name: &str) -> Result<Named<StringLists>, SchemaIssue> {
    Ok(Named { name: name.to_string(), col: c.lists(name)? })
}

fn opt_lists(c: &Columns<'_>, name: &str) -> Result<OptNamed<StringLists>, SchemaIssue> {
    Ok(OptNamed { name: name.to_string(), col: c.opt_lists(name)? })
}

impl Named<Strings> {
    fn text(&self, row: usize) -> Result<String, RowIssue> {
        text(&self.col, row, &self.name)
    }
}

impl OptNamed<Strings> {
    fn text(&self, row: usize) -> Option<String> {
        opt_text(self.col.as_ref(), row)
    }
}

impl OptNamed<StringLists> {
    fn list_or_empty(&self, row: usize) -> Result<Vec<String>, RowIssue> {
        list_or_empty(self.col.as_ref(), row, &self.name)
    }
}

/// Column readers of [`CorpusDoc`].
pub struct CorpusReader {
    doc_id: Named<Strings>,
    text: Named<Strings>,
    title: OptNamed<Strings>,
}

impl FromBatch for CorpusDoc {
    const SCHEMA: &'static str = "corpus";
    type Reader = CorpusReader;

    fn column_names(n: &ColumnNames) -> Vec<String> {
        vec![n.doc_id.clone(), n.text.clone(), n.title.clone()]
    }

    fn bind(batch: &RecordBatch, n: &ColumnNames) -> Result<CorpusReader, SchemaIssue> {
        let c = Columns::new(batch);
        Ok(CorpusReader { doc_id: req(&c, &n.doc_id)?, text: req(&c, &n.text)?, title: opt(&c, &n.title)? })
    }

    fn read(r: &CorpusReader, row: usize) -> Result<Self, RowIssue> {
        Ok(Self { doc_id: r.doc_id.text(row)?, text: r.text.text(row)?, title: r.title.text(row) })
    }
}

/// Column readers of [`WarmupRow`].
pub struct WarmupReader {
    query_id: Named<Strings>,
    query: Named<Strings>,
    reasoning: Named<Strings>,
    positive_ids: OptNamed<StringLists>,
}

impl FromBatch for WarmupRow {
    const SCHEMA: &'static str = "warm-up";
    type Reader = WarmupReader;

    fn column_names(n: &ColumnNames) -> Vec<String> {
        vec![n.query_id.clone(), n.query.clone(), n.reasoning.clone(), n.positive_ids.clone()]
    }

    fn bind(batch: &RecordBatch, n: &ColumnNames) -> Result<WarmupReader, SchemaIssue> {
        let c = Columns::new(batch);
        Ok(WarmupReader {
            query_id: req(&c, &n.query_id)?,
            query: req(&c, &n.query)?,
            reasoning: req(&c, &n.reasoning)?,
            positive_ids: opt_lists(&c, &n.positive_ids)?,
        })
    }

    fn read(r: &WarmupReader, row: usize) -> Result<Self, RowIssue> {
        Ok(Self {
            query_id: r.query_id.text(row)?,
            query: r.query.text(row)?,
            reasoning: r.reasoning.text(row)?,
            positive_ids: r.positive_ids.list_or_empty(row)?,
        })
    }
}

/// Inline texts and id columns for one side (positives or negatives) of a contrastive row.
pub(crate) struct PassageColumns {
    texts: OptNamed<StringLists>,
    ids: OptNamed<StringLists>,
}

impl PassageColumns {
    fn bind(c: &Columns<'_>, texts: &str, ids: &str) -> Result<Self, SchemaIssue> {
        Ok(Self { texts: opt_lists(c, texts)?, ids: opt_lists(c, ids)? })
    }

    /// Inline texts win over ids when their value is non-null.
    fn read(&self, row: usize, required: bool) -> Result<Passages, RowIssue> {
        if let Some(col) = &self.texts.col
            && let Some(texts) = opt_list(col, row, &self.texts.name, required)?
        {
            return Ok(Passages::Texts(texts));
        }
        match &self.ids.col {
            Some(col) if required => list(col, row, &self.ids.name, true).map(Passages::Ids),
            Some(col) => Ok(Passages::Ids(opt_list(col, row, &self.ids.name, false)?.unwrap_or_default())),
            None if required => Err(RowIssue {
                row,
                column: self.texts.name.clone(),
                reason: SkipReason::NullValue,
                detail: "is null and there is no ids column; expected a list of positives".into(),
            }),
            None => Ok(Passages::Ids(Vec::new())),
        }
    }
}

/// Column readers of [`ContrastiveRow`].
pub struct ContrastiveReader {
    query_id: Named<Strings>,
    query: Named<Strings>,
    reasoning: OptNamed<Strings>,
    positives: PassageColumns,
    negatives: PassageColumns,
}

impl FromBatch for ContrastiveRow {
    const SCHEMA: &'static str = "contrastive";
    type Reader = ContrastiveReader;

    fn column_names(n: &ColumnNames) -> Vec<String> {
        vec![
            n.query_id.clone(),
            n.query.clone(),
            n.reasoning.clone(),
            n.positives.clone(),
            n.positive_ids.clone(),
            n.negatives.clone(),
            n.negative_ids.clone(),
        ]
    }

    fn bind(batch: &RecordBatch, n: &ColumnNames) -> Result<ContrastiveReader, SchemaIssue> {
        let c = Columns::new(batch);
        let positives = PassageColumns::bind(&c, &n.positives, &n.positive_ids)?;
        if positives.texts.col.is_none() && positives.ids.col.is_none() {
            return Err(SchemaIssue::Missing { column: format!("{} or {}", n.positives, n.positive_ids) });
        }
        Ok(ContrastiveReader {
            query_id: req(&c, &n.query_id)?,
            query: req(&c, &n.query)?,
            reasoning: opt(&c, &n.reasoning)?,
            positives,
            negatives: PassageColumns::bind(&c, &n.negatives, &n.negative_ids)?,
        })
    }

    fn read(r: &ContrastiveReader, row: usize) -> Result<Self, RowIssue> {
        Ok(Self {
            query_id: r.query_id.text(row)?,
            query: r.query.text(row)?,
            reasoning: r.reasoning.text(row),
            positives: r.positives.read(row, true)?,
            negatives: r.negatives.read(row, false)?,
        })
    }
}

/// Column readers of [`GrpoRow`].
pub struct GrpoReader {
    query_id: Named<Strings>,
    query: Named<Strings>,
    reasoning: OptNamed<Strings>,
    positive_ids: Named<StringLists>,
    negative_ids: OptNamed<StringLists>,
    excluded_ids: OptNamed<StringLists>,
}

impl FromBatch for GrpoRow {
    const SCHEMA: &'static str = "grpo";
    type Reader = GrpoReader;

    fn column_names(n: &ColumnNames) -> Vec<String> {
        vec![
            n.query_id.clone(),
            n.query.clone(),
            n.reasoning.clone(),
            n.positive_ids.clone(),
            n.negative_ids.clone(),
            n.excluded_ids.clone(),
        ]
    }

    fn bind(batch: &RecordBatch, n: &ColumnNames) -> Result<GrpoReader, SchemaIssue> {
        let c = Columns::new(batch);
        Ok(GrpoReader {
            query_id: req(&c, &n.query_id)?,
            query: req(&c, &n.query)?,
            reasoning: opt(&c, &n.reasoning)?,
            positive_ids: req_list(&c, &n.positive_ids)?,
            negative_ids: opt_lists(&c, &n.negative_ids)?,
            excluded_ids: opt_lists(&c, &n.excluded_ids)?,
        })
    }

    fn read(r: &GrpoReader, row: usize) -> Result<Self, RowIssue> {
        Ok(Self {
            query_id: r.query_id.text(row)?,
            query: r.query.text(row)?,
            reasoning: r.reasoning.text(row),
            positive_ids: list(&r.positive_ids.col, row, &r.positive_ids.name, true)?,
            negative_ids: r.negative_ids.list_or_empty(row)?,
            excluded_ids: r.excluded_ids.list_or_empty(row)?,
        })
    }
}

/// Column readers of [`EvalQuery`].
pub struct EvalQueryReader {
    query_id: Named<Strings>,
    query: Named<Strings>,
    task: OptNamed<Strings>,
    excluded_ids: OptNamed<StringLists>,
}

impl FromBatch for EvalQuery {
    const SCHEMA: &'static str = "eval queries";
    type Reader = EvalQueryReader;

    fn column_names(n: &ColumnNames) -> Vec<String> {
        vec![n.query_id.clone(), n.query.clone(), n.task.clone(), n.excluded_ids.clone()]
    }

    fn bind(batch: &RecordBatch, n: &ColumnNames) -> Result<EvalQueryReader, SchemaIssue> {
        let c = Columns::new(batch);
        Ok(EvalQueryReader {
            query_id: req(&c, &n.query_id)?,
            query: req(&c, &n.query)?,
            task: opt(&c, &n.task)?,
            excluded_ids: opt_lists(&c, &n.excluded_ids)?,
        })
    }

    fn read(r: &EvalQueryReader, row: usize) -> Result<Self, RowIssue> {
        Ok(Self {
            query_id: r.query_id.text(row)?,
            query: r.query.text(row)?,
            task: r.task.text(row),
            excluded_ids: r.excluded_ids.list_or_empty(row)?,
        })
    }
}

/// Column readers of [`Qrel`].
pub struct QrelReader {
    query_id: Named<Strings>,
    doc_id: Named<Strings>,
    relevance: Named<Ints>,
}

impl FromBatch for Qrel {
    const SCHEMA: &'static str = "qrels";
    type Reader = QrelReader;

    fn column_names(n: &ColumnNames) -> Vec<String> {
        vec![n.query_id.clone(), n.doc_id.clone(), n.relevance.clone()]
    }

    fn bind(batch: &RecordBatch, n: &ColumnNames) -> Result<QrelReader, SchemaIssue> {
        let c = Columns::new(batch);
        Ok(QrelReader {
            query_id: req(&c, &n.query_id)?,
            doc_id: req(&c, &n.doc_id)?,
            relevance: Named { name: n.relevance.clone(), col: c.ints(&n.relevance)? },
        })
    }

    fn read(r: &QrelReader, row: usize) -> Result<Self, RowIssue> {
        Ok(Self {
            query_id: r.query_id.text(row)?,
            doc_id: r.doc_id.text(row)?,
            relevance: int32(&r.relevance.col, row, &r.relevance.name)?,
        })
    }
}

/// Which id column a document reference came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefColumn {
    /// `positive_ids`.
    PositiveIds,
    /// `negative_ids`.
    NegativeIds,
    /// `doc_id` (qrels).
    DocId,
}

impl RefColumn {
    /// The configured column name.
    pub fn name(self, names: &ColumnNames) -> &str {
        match self {
            RefColumn::PositiveIds => &names.positive_ids,
            RefColumn::NegativeIds => &names.negative_ids,
            RefColumn::DocId => &names.doc_id,
        }
    }
}

/// Rows that reference corpus documents by id, for [`validate_doc_refs`](crate::validate_doc_refs).
///
/// Excluded ids are not references: they may name documents outside the corpus.
pub trait DocRefs {
    /// The query id, for messages.
    fn query_id(&self) -> &str;
    /// Every referenced doc id with the column it came from.
    fn doc_refs(&self) -> Vec<(RefColumn, &str)>;
}

fn refs(column: RefColumn, ids: &[String]) -> impl Iterator<Item = (RefColumn, &str)> {
    ids.iter().map(move |id| (column, id.as_str()))
}

impl DocRefs for WarmupRow {
    fn query_id(&self) -> &str {
        &self.query_id
    }
    fn doc_refs(&self) -> Vec<(RefColumn, &str)> {
        refs(RefColumn::PositiveIds, &self.positive_ids).collect()
    }
}

impl DocRefs for ContrastiveRow {
    fn query_id(&self) -> &str {
        &self.query_id
    }
    fn doc_refs(&self) -> Vec<(RefColumn, &str)> {
        let pos = self.positives.ids().unwrap_or_default();
        let neg = self.negatives.ids().unwrap_or_default();
        refs(RefColumn::PositiveIds, pos).chain(refs(RefColumn::NegativeIds, neg)).collect()
    }
}

impl DocRefs for GrpoRow {
    fn query_id(&self) -> &str {
        &self.query_id
    }
    fn doc_refs(&self) -> Vec<(RefColumn, &str)> {
        refs(RefColumn::PositiveIds, &self.positive_ids)
            .chain(refs(RefColumn::NegativeIds, &self.negative_ids))
            .collect()
    }
}

impl DocRefs for Qrel {
    fn query_id(&self) -> &str {
        &self.query_id
    }
    fn doc_refs(&self) -> Vec<(RefColumn, &str)> {
        vec![(RefColumn::DocId, self.doc_id.as_str())]
    }
}
