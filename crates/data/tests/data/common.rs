//! Fixture builders: Parquet files written on the fly into temp dirs.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, ListBuilder, StringBuilder};
use arrow::datatypes::{Field, Schema};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

/// This crate's folder, read when the test runs: `env!("CARGO_MANIFEST_DIR")` would bake in the checkout that
/// compiled the binary, and a build cache shared between clones (CI's) then points tests at another clone.
pub fn crate_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("tests run under cargo, which sets CARGO_MANIFEST_DIR"))
}

pub fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// Writes `columns` to `path` with `rg_rows` rows per row group (uncompressed).
pub fn write(path: &Path, columns: Vec<(&str, ArrayRef)>, rg_rows: usize) -> PathBuf {
    let fields: Vec<Field> = columns.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), true)).collect();
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), columns.into_iter().map(|(_, a)| a).collect()).expect("batch");
    let props = WriterProperties::builder()
        .set_compression(Compression::UNCOMPRESSED)
        .set_max_row_group_row_count(Some(rg_rows))
        .build();
    let mut writer = ArrowWriter::try_new(File::create(path).expect("create"), schema, Some(props)).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
    path.to_path_buf()
}

pub fn strs(values: &[Option<&str>]) -> ArrayRef {
    Arc::new(arrow::array::StringArray::from(values.to_vec()))
}

pub fn owned(values: &[String]) -> ArrayRef {
    Arc::new(arrow::array::StringArray::from(values.to_vec()))
}

pub fn lists(values: &[Option<Vec<&str>>]) -> ArrayRef {
    let mut b = ListBuilder::new(StringBuilder::new());
    for v in values {
        match v {
            Some(items) => {
                for i in items {
                    b.values().append_value(i);
                }
                b.append(true);
            }
            None => b.append(false),
        }
    }
    Arc::new(b.finish())
}

/// GRPO shards `shard-{s}.parquet` whose query ids are `s{s}-r{row}`.
pub fn grpo_shards(dir: &Path, shards: usize, rows: usize, rg_rows: usize) -> Vec<PathBuf> {
    (0..shards)
        .map(|s| {
            let ids: Vec<String> = (0..rows).map(|r| format!("s{s}-r{r}")).collect();
            let queries: Vec<String> = ids.iter().map(|id| format!("query {id}")).collect();
            let pos: Vec<Option<Vec<&str>>> = (0..rows).map(|_| Some(vec!["d1"])).collect();
            write(
                &dir.join(format!("shard-{s}.parquet")),
                vec![("query_id", owned(&ids)), ("query", owned(&queries)), ("positive_ids", lists(&pos))],
                rg_rows,
            )
        })
        .collect()
}

pub fn glob_of(dir: &Path) -> String {
    format!("{}/*.parquet", dir.display())
}

/// A corpus file `corpus.parquet` with docs `d0..d{n}`.
pub fn corpus(dir: &Path, n: usize) -> PathBuf {
    let ids: Vec<String> = (0..n).map(|i| format!("d{i}")).collect();
    let texts: Vec<String> = ids.iter().map(|i| format!("text of {i}")).collect();
    write(&dir.join("corpus.parquet"), vec![("doc_id", owned(&ids)), ("text", owned(&texts))], 4)
}
