//! The in-memory corpus and the check that rows only reference documents it contains.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::ops::ControlFlow;

use crate::error::{DataError, Origin, Result};
use crate::policy::{BadRowPolicy, SkipStats};
use crate::reader::UnitReader;
use crate::rows::{CorpusDoc, DocRefs};
use crate::schema::{ColumnNames, FromBatch};
use crate::shards::ShardSet;

const READ_BATCH_ROWS: usize = 8192;
/// How many missing references an [`DataError::UnknownDocIds`] lists.
pub const MISSING_EXAMPLES: usize = 5;

/// All documents of a corpus, in shard order, indexed by id.
#[derive(Clone, Debug, Default)]
pub struct Corpus {
    docs: Vec<CorpusDoc>,
    index: HashMap<String, usize>,
    skipped: SkipStats,
}

impl Corpus {
    /// Loads every document of `shards` (one row group in flight at a time).
    ///
    /// A repeated doc id is an error naming both places.
    pub fn load(shards: &ShardSet, names: &ColumnNames, policy: BadRowPolicy) -> Result<Self> {
        let reader = UnitReader::<CorpusDoc>::new(names.clone(), policy, READ_BATCH_ROWS);
        let mut docs: Vec<CorpusDoc> = Vec::new();
        let mut index = HashMap::new();
        let mut skipped = SkipStats::default();
        reader.for_each(shards, &mut skipped, |doc, origin| {
            match index.entry(doc.doc_id.clone()) {
                Entry::Occupied(first) => {
                    return Err(DataError::DuplicateId {
                        column: names.doc_id.clone(),
                        first: origin_of(&reader, shards, *first.get())?,
                        id: doc.doc_id,
                        second: origin,
                    });
                }
                Entry::Vacant(slot) => {
                    slot.insert(docs.len());
                }
            }
            docs.push(doc);
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(Self { docs, index, skipped })
    }

    /// Builds a corpus from documents already in memory (duplicate ids are an error).
    pub fn from_docs(docs: Vec<CorpusDoc>) -> Result<Self> {
        let mut index = HashMap::with_capacity(docs.len());
        for (i, doc) in docs.iter().enumerate() {
            if index.insert(doc.doc_id.clone(), i).is_some() {
                return Err(DataError::Config(format!("duplicate doc id `{}` in in-memory corpus", doc.doc_id)));
            }
        }
        Ok(Self { docs, index, skipped: SkipStats::default() })
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// Whether the corpus is empty.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// The documents, in load order.
    pub fn docs(&self) -> &[CorpusDoc] {
        &self.docs
    }

    /// Document ids, in load order.
    pub fn ids(&self) -> impl ExactSizeIterator<Item = &str> {
        self.docs.iter().map(|d| d.doc_id.as_str())
    }

    /// Position of `id` in load order.
    pub fn position(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// The document with id `id`.
    pub fn get(&self, id: &str) -> Option<&CorpusDoc> {
        self.position(id).map(|i| &self.docs[i])
    }

    /// Whether `id` is in the corpus.
    pub fn contains(&self, id: &str) -> bool {
        self.index.contains_key(id)
    }

    /// Resolves ids to documents; the error lists the first missing ids.
    pub fn resolve<S: AsRef<str>>(&self, ids: &[S]) -> Result<Vec<&CorpusDoc>> {
        let missing: Vec<&str> = ids.iter().map(AsRef::as_ref).filter(|id| !self.contains(id)).collect();
        if !missing.is_empty() {
            return Err(DataError::UnknownDocIds {
                missing: missing.len(),
                examples: missing
                    .iter()
                    .take(MISSING_EXAMPLES)
                    .map(|id| format!("`{id}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        Ok(ids.iter().filter_map(|id| self.get(id.as_ref())).collect())
    }

    /// Rows skipped while loading, under [`BadRowPolicy::Skip`].
    pub fn skipped(&self) -> SkipStats {
        self.skipped
    }
}

/// Finds where the `position`-th accepted document came from (error path only: re-reads).
fn origin_of(reader: &UnitReader<CorpusDoc>, shards: &ShardSet, position: usize) -> Result<Origin> {
    let mut seen = 0;
    let mut found = None;
    reader.for_each(shards, &mut SkipStats::default(), |_, origin| {
        if seen == position {
            found = Some(origin);
            return Ok(ControlFlow::Break(()));
        }
        seen += 1;
        Ok(ControlFlow::Continue(()))
    })?;
    found.ok_or_else(|| DataError::Config(format!("document {position} vanished while re-reading the corpus")))
}

/// Outcome of [`validate_doc_refs`] when every reference resolves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RefReport {
    /// Rows read.
    pub rows: u64,
    /// Doc references checked.
    pub refs: u64,
    /// Rows skipped under [`BadRowPolicy::Skip`].
    pub skipped: SkipStats,
}

/// Checks that every positive/negative id (or qrel doc id) of the rows in `shards` exists in
/// `corpus`. The error counts the missing references and lists the first few with their query
/// id, column and file position.
pub fn validate_doc_refs<R: FromBatch + DocRefs>(
    shards: &ShardSet,
    names: &ColumnNames,
    policy: BadRowPolicy,
    corpus: &Corpus,
) -> Result<RefReport> {
    let reader = UnitReader::<R>::new(names.clone(), policy, READ_BATCH_ROWS);
    let mut report = RefReport::default();
    let mut missing = 0usize;
    let mut examples = Vec::new();
    reader.for_each(shards, &mut report.skipped, |row, origin| {
        report.rows += 1;
        for (column, id) in row.doc_refs() {
            report.refs += 1;
            if corpus.contains(id) {
                continue;
            }
            missing += 1;
            if examples.len() < MISSING_EXAMPLES {
                examples.push(format!(
                    "query `{}` -> doc `{id}` (column `{}`, at {origin})",
                    row.query_id(),
                    column.name(names)
                ));
            }
        }
        Ok(ControlFlow::Continue(()))
    })?;
    if missing > 0 {
        return Err(DataError::UnknownDocIds { missing, examples: examples.join("; ") });
    }
    Ok(report)
}
