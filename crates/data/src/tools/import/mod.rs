//! Importers from common retrieval layouts to Parquet shards this crate reads.

mod beir;
mod bright;
mod mapped;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{DataError, Result};

pub use beir::import_beir;
pub use bright::import_bright;
pub use mapped::{FieldMap, import_jsonl};

/// A file an importer wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImportedFile {
    /// Output path.
    pub path: PathBuf,
    /// Rows written.
    pub rows: u64,
}

/// What an importer wrote, and anything it left out or noticed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    /// Files written.
    pub files: Vec<ImportedFile>,
    /// Counts of inputs not written, and other remarks.
    pub notes: Vec<String>,
}

impl fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for file in &self.files {
            writeln!(f, "wrote {} rows to {}", file.rows, file.path.display())?;
        }
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        Ok(())
    }
}

/// Creates the output folder.
fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))
}
