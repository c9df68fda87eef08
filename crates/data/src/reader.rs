//! Decodes whole units (row groups) into typed rows, applying the bad-row policy.

use std::marker::PhantomData;
use std::ops::ControlFlow;

use crate::error::{DataError, Origin, Result};
use crate::policy::{BadRowPolicy, SkipStats};
use crate::schema::{ColumnNames, FromBatch, check_schema, schema_error};
use crate::shards::{ShardSet, Unit};

/// Reads units of a [`ShardSet`] as rows of type `R`, each with its [`Origin`].
#[derive(Clone, Debug)]
pub(crate) struct UnitReader<R> {
    names: ColumnNames,
    columns: Vec<String>,
    policy: BadRowPolicy,
    batch_size: usize,
    _row: PhantomData<fn() -> R>,
}

impl<R: FromBatch> UnitReader<R> {
    /// A reader of the columns `R` needs under `names`.
    pub(crate) fn new(names: ColumnNames, policy: BadRowPolicy, batch_size: usize) -> Self {
        Self { columns: R::column_names(&names), names, policy, batch_size: batch_size.max(1), _row: PhantomData }
    }

    /// Checks every shard's schema up front, so errors surface before the first row.
    pub(crate) fn check_schemas(&self, shards: &ShardSet) -> Result<()> {
        shards.shards().iter().try_for_each(|s| check_schema::<R>(s.schema(), &self.names, s.path()))
    }

    /// Appends the rows of `unit` to `out`; bad rows fail or are counted in `skipped`.
    pub(crate) fn read(
        &self,
        shards: &ShardSet,
        unit: &Unit,
        out: &mut Vec<(R, Origin)>,
        skipped: &mut SkipStats,
    ) -> Result<()> {
        let shard = &shards.shards()[unit.shard];
        let batches = shards.read_unit(unit, &self.columns, self.batch_size)?;
        let mut row_base = 0;
        for batch in &batches {
            let reader =
                R::bind(batch, &self.names).map_err(|issue| schema_error::<R>(issue, shard.schema(), shard.path()))?;
            for i in 0..batch.num_rows() {
                let origin =
                    || Origin { file: shard.shared_path().clone(), row_group: unit.row_group, row: row_base + i };
                match R::read(&reader, i) {
                    Ok(row) => out.push((row, origin())),
                    Err(issue) if self.policy == BadRowPolicy::Skip => skipped.record(issue.reason),
                    Err(issue) => {
                        return Err(DataError::BadRow {
                            at: origin(),
                            column: issue.column,
                            reason: issue.reason,
                            detail: issue.detail,
                        });
                    }
                }
            }
            row_base += batch.num_rows();
        }
        Ok(())
    }

    /// Calls `f` on every row in natural order (for in-memory loaders), one unit in memory
    /// at a time, until `f` breaks.
    pub(crate) fn for_each(
        &self,
        shards: &ShardSet,
        skipped: &mut SkipStats,
        mut f: impl FnMut(R, Origin) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        self.check_schemas(shards)?;
        let mut rows = Vec::new();
        for unit in shards.units() {
            self.read(shards, unit, &mut rows, skipped)?;
            for (row, origin) in rows.drain(..) {
                if f(row, origin)?.is_break() {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}
