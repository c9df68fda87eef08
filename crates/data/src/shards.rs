//! A sorted set of Parquet shards, known from their metadata alone, read one row group at a time.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder};

use crate::error::{DataError, Result};

const MAGIC: &[u8; 4] = b"PAR1";

/// One Parquet file: its path, Arrow schema and per-row-group row counts.
#[derive(Clone, Debug)]
pub struct Shard {
    path: Arc<Path>,
    metadata: ArrowReaderMetadata,
    row_groups: Vec<u64>,
}

impl Shard {
    /// Reads the footer of `path` (never the data pages).
    pub fn open(path: &Path) -> Result<Self> {
        check_magic(path)?;
        let file = File::open(path).map_err(|e| DataError::io(path, e))?;
        // A crafted footer must not take the process down: a parser panic becomes an error, as for data pages.
        let metadata = catch_unwind(AssertUnwindSafe(|| ArrowReaderMetadata::load(&file, ArrowReaderOptions::new())))
            .map_err(|_| "the Parquet footer parser panicked".to_string())
            .and_then(|loaded| loaded.map_err(|e| e.to_string()))
            .map_err(|reason| DataError::CorruptParquet { path: path.to_path_buf(), reason })?;
        let row_groups =
            metadata.metadata().row_groups().iter().map(|rg| u64::try_from(rg.num_rows()).unwrap_or(0)).collect();
        Ok(Self { path: Arc::from(path), metadata, row_groups })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's path, shared.
    pub(crate) fn shared_path(&self) -> &Arc<Path> {
        &self.path
    }

    /// The Arrow schema of the file.
    pub fn schema(&self) -> &SchemaRef {
        self.metadata.schema()
    }

    /// Row counts of the row groups, in file order.
    pub fn row_groups(&self) -> &[u64] {
        &self.row_groups
    }

    /// Rows in the whole file.
    pub fn num_rows(&self) -> u64 {
        self.row_groups.iter().sum()
    }

    /// Reads row group `row_group`, keeping only the named top-level columns that exist
    /// (absent ones are left for the row decoder to report), in batches of `batch_size` rows.
    pub fn read_row_group(&self, row_group: usize, columns: &[String], batch_size: usize) -> Result<Vec<RecordBatch>> {
        self.try_read(row_group, columns, batch_size).map_err(|reason| DataError::Read {
            path: self.path.to_path_buf(),
            row_group,
            column: self.failing_column(row_group, columns, batch_size),
            reason,
        })
    }

    fn try_read(
        &self,
        row_group: usize,
        columns: &[String],
        batch_size: usize,
    ) -> std::result::Result<Vec<RecordBatch>, String> {
        let file = File::open(&self.path).map_err(|e| e.to_string())?;
        let schema = self.metadata.schema();
        let roots: Vec<usize> = columns.iter().filter_map(|name| schema.index_of(name).ok()).collect();
        let mask = ProjectionMask::roots(self.metadata.parquet_schema(), roots);
        let metadata = self.metadata.clone();
        // Corrupt pages must never take the process down: a decoder panic becomes an error.
        catch_unwind(AssertUnwindSafe(move || {
            ParquetRecordBatchReaderBuilder::new_with_metadata(file, metadata)
                .with_row_groups(vec![row_group])
                .with_projection(mask)
                .with_batch_size(batch_size.max(1))
                .build()
                .map_err(|e| e.to_string())?
                .map(|batch| batch.map_err(|e| e.to_string()))
                .collect()
        }))
        .unwrap_or_else(|_| Err("the Parquet decoder panicked on this row group".into()))
    }

    /// On a failed read, finds the first column that fails on its own (error path only).
    fn failing_column(&self, row_group: usize, columns: &[String], batch_size: usize) -> Option<String> {
        columns
            .iter()
            .filter(|c| self.metadata.schema().index_of(c).is_ok())
            .find(|c| self.try_read(row_group, std::slice::from_ref(c), batch_size).is_err())
            .cloned()
    }
}

/// Rejects files without the `PAR1` magic at both ends, naming the file.
fn check_magic(path: &Path) -> Result<()> {
    let mut file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let len = file.metadata().map_err(|e| DataError::io(path, e))?.len();
    let mut head = [0u8; 4];
    let mut tail = [0u8; 4];
    let read_head = file.read_exact(&mut head).is_ok();
    if !read_head || &head != MAGIC {
        return Err(DataError::NotParquet {
            path: path.to_path_buf(),
            reason: format!("{len} bytes, no PAR1 magic at the start"),
        });
    }
    let read_tail = len >= 12 && file.seek(SeekFrom::End(-4)).is_ok() && file.read_exact(&mut tail).is_ok();
    if !read_tail || &tail != MAGIC {
        return Err(DataError::CorruptParquet {
            path: path.to_path_buf(),
            reason: format!("{len} bytes, no PAR1 magic at the end (truncated?)"),
        });
    }
    Ok(())
}

/// One row group of one shard: the unit of reading and of the epoch-level shuffle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unit {
    /// Index of the shard in [`ShardSet::shards`].
    pub shard: usize,
    /// Row group index inside the shard.
    pub row_group: usize,
    /// Rows in the row group.
    pub rows: u64,
}

#[derive(Debug)]
struct Inner {
    shards: Vec<Shard>,
    units: Vec<Unit>,
}

/// A sorted, de-duplicated set of Parquet shards and their row-group units.
///
/// Cheap to clone (shared). Opening reads only the footers.
#[derive(Clone, Debug)]
pub struct ShardSet {
    inner: Arc<Inner>,
}

impl ShardSet {
    /// Opens shards from paths, folders (their `*.parquet` files) and glob patterns.
    ///
    /// Matches are canonicalised, sorted and de-duplicated. No input at all, a pattern or
    /// folder matching nothing, a missing path, or a file that is not Parquet is an error
    /// naming it.
    pub fn open<S: AsRef<str>>(inputs: &[S]) -> Result<Self> {
        if inputs.is_empty() {
            return Err(DataError::Config("no input paths or patterns given".into()));
        }
        let mut paths = Vec::new();
        for input in inputs {
            paths.extend(expand(input.as_ref())?);
        }
        paths.sort();
        paths.dedup();
        Self::from_sorted(paths)
    }

    fn from_sorted(paths: Vec<PathBuf>) -> Result<Self> {
        let shards = paths.iter().map(|p| Shard::open(p)).collect::<Result<Vec<_>>>()?;
        let units = shards
            .iter()
            .enumerate()
            .flat_map(|(shard, s)| {
                s.row_groups.iter().enumerate().map(move |(row_group, &rows)| Unit { shard, row_group, rows })
            })
            .collect();
        Ok(Self { inner: Arc::new(Inner { shards, units }) })
    }

    /// The shards, sorted by path.
    pub fn shards(&self) -> &[Shard] {
        &self.inner.shards
    }

    /// All (shard, row group) units in natural order.
    pub fn units(&self) -> &[Unit] {
        &self.inner.units
    }

    /// Rows in all shards.
    pub fn total_rows(&self) -> u64 {
        self.inner.units.iter().map(|u| u.rows).sum()
    }

    /// Reads one unit's projected columns.
    pub fn read_unit(&self, unit: &Unit, columns: &[String], batch_size: usize) -> Result<Vec<RecordBatch>> {
        self.inner.shards[unit.shard].read_row_group(unit.row_group, columns, batch_size)
    }
}

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

fn canonical(path: &Path) -> Result<PathBuf> {
    path.canonicalize().map_err(|e| DataError::io(path, e))
}

/// Expands one input to canonical file paths.
fn expand(input: &str) -> Result<Vec<PathBuf>> {
    let no_match = || DataError::NoMatch { pattern: input.to_string() };
    if is_glob(input) {
        let entries =
            glob::glob(input).map_err(|e| DataError::Pattern { pattern: input.to_string(), message: e.to_string() })?;
        let mut out = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| {
                let path = e.path().to_path_buf();
                DataError::io(path, e.into())
            })?;
            if path.is_file() {
                out.push(canonical(&path)?);
            }
        }
        if out.is_empty() {
            return Err(no_match());
        }
        return Ok(out);
    }
    let path = Path::new(input);
    if path.is_dir() {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(path).map_err(|e| DataError::io(path, e))? {
            let entry = entry.map_err(|e| DataError::io(path, e))?;
            let p = entry.path();
            if p.is_file() && p.extension().is_some_and(|e| e == "parquet") {
                out.push(canonical(&p)?);
            }
        }
        if out.is_empty() {
            return Err(no_match());
        }
        return Ok(out);
    }
    Ok(vec![canonical(path)?])
}
