//! Evaluation sets: queries, graded qrels and per-query excluded ids.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;

use crate::corpus::{Corpus, MISSING_EXAMPLES};
use crate::error::{DataError, Origin, Result};
use crate::policy::{BadRowPolicy, SkipStats};
use crate::reader::UnitReader;
use crate::rows::{EvalQuery, Qrel};
use crate::schema::ColumnNames;
use crate::shards::ShardSet;

const READ_BATCH_ROWS: usize = 8192;

/// An evaluation set held in memory.
#[derive(Clone, Debug, Default)]
pub struct EvalSet {
    /// Queries in file order.
    pub queries: Vec<EvalQuery>,
    /// `query_id -> doc_id -> relevance`.
    pub qrels: HashMap<String, HashMap<String, i32>>,
    /// `query_id -> doc ids` to drop from that query's ranking (from `excluded_ids`).
    pub excluded: HashMap<String, HashSet<String>>,
    /// Rows skipped while loading, under [`BadRowPolicy::Skip`].
    pub skipped: SkipStats,
}

impl EvalSet {
    /// Loads queries and qrels.
    ///
    /// A repeated query id is an error, and so is a repeated (query, doc) qrel with a
    /// different relevance; an exact repeat of a qrel is accepted. Both errors name the file
    /// positions.
    pub fn load(queries: &ShardSet, qrels: &ShardSet, names: &ColumnNames, policy: BadRowPolicy) -> Result<Self> {
        let mut set = EvalSet::default();
        let mut seen: HashMap<String, Origin> = HashMap::new();
        UnitReader::<EvalQuery>::new(names.clone(), policy, READ_BATCH_ROWS).for_each(
            queries,
            &mut set.skipped,
            |q, origin| {
                if let Some(first) = seen.insert(q.query_id.clone(), origin.clone()) {
                    return Err(DataError::DuplicateId {
                        column: names.query_id.clone(),
                        id: q.query_id,
                        first,
                        second: origin,
                    });
                }
                if !q.excluded_ids.is_empty() {
                    set.excluded.insert(q.query_id.clone(), q.excluded_ids.iter().cloned().collect());
                }
                set.queries.push(q);
                Ok(ControlFlow::Continue(()))
            },
        )?;
        let mut judged: HashMap<String, HashMap<String, (i32, Origin)>> = HashMap::new();
        UnitReader::<Qrel>::new(names.clone(), policy, READ_BATCH_ROWS).for_each(
            qrels,
            &mut set.skipped,
            |q, origin| {
                let docs = judged.entry(q.query_id.clone()).or_default();
                match docs.entry(q.doc_id.clone()) {
                    Entry::Occupied(old) if old.get().0 != q.relevance => {
                        let (was, first) = old.get().clone();
                        Err(DataError::DuplicateId {
                            column: names.doc_id.clone(),
                            id: format!(
                                "{} (query `{}`, relevance {} but {was} before)",
                                q.doc_id, q.query_id, q.relevance
                            ),
                            first,
                            second: origin,
                        })
                    }
                    Entry::Occupied(_) => Ok(ControlFlow::Continue(())),
                    Entry::Vacant(slot) => {
                        slot.insert((q.relevance, origin));
                        Ok(ControlFlow::Continue(()))
                    }
                }
            },
        )?;
        set.qrels =
            judged.into_iter().map(|(q, docs)| (q, docs.into_iter().map(|(d, (r, _))| (d, r)).collect())).collect();
        Ok(set)
    }

    /// Ids of queries that have no qrels (evaluators usually leave them out).
    pub fn queries_without_qrels(&self) -> Vec<&str> {
        self.queries.iter().filter(|q| !self.qrels.contains_key(&q.query_id)).map(|q| q.query_id.as_str()).collect()
    }

    /// Checks that every judged doc id exists in `corpus`; the error lists the first missing.
    pub fn validate_against(&self, corpus: &Corpus) -> Result<()> {
        let mut missing: Vec<(&str, &str)> = self
            .qrels
            .iter()
            .flat_map(|(q, docs)| docs.keys().map(move |d| (q.as_str(), d.as_str())))
            .filter(|(_, d)| !corpus.contains(d))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        missing.sort_unstable();
        Err(DataError::UnknownDocIds {
            missing: missing.len(),
            examples: missing
                .iter()
                .take(MISSING_EXAMPLES)
                .map(|(q, d)| format!("query `{q}` -> doc `{d}` (qrels)"))
                .collect::<Vec<_>>()
                .join("; "),
        })
    }
}
