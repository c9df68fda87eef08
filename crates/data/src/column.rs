//! Reading one string column of Parquet files whole — for tools such as `trainer embed`, whose inputs are
//! lists of texts rather than training rows.

use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;

use crate::error::{DataError, Result};
use crate::shards::ShardSet;

/// Every value of the string column `column` in `inputs` (paths or globs), in file and row order. A null or
/// empty value is an error naming the file and row group.
pub fn read_string_column<S: AsRef<str>>(inputs: &[S], column: &str) -> Result<Vec<String>> {
    let shards = ShardSet::open(inputs)?;
    let mut out = Vec::with_capacity(shards.total_rows() as usize);
    for unit in shards.units() {
        let shard = &shards.shards()[unit.shard];
        let batches = shards.read_unit(unit, &[column.to_string()], 8192)?;
        let mut row = 0usize;
        for batch in batches {
            let array = arrow::compute::cast(batch.column(0), &DataType::Utf8).map_err(|_| DataError::ColumnType {
                path: shard.path().to_path_buf(),
                column: column.to_string(),
                expected: "string",
                found: batch.column(0).data_type().to_string(),
            })?;
            let strings = array.as_string::<i32>();
            for i in 0..strings.len() {
                if strings.is_null(i) || strings.value(i).is_empty() {
                    return Err(DataError::Read {
                        path: shard.path().to_path_buf(),
                        row_group: unit.row_group,
                        column: Some(column.to_string()),
                        reason: format!("row {} is null or empty; every text must be non-empty", row + i),
                    });
                }
                out.push(strings.value(i).to_string());
            }
            row += strings.len();
        }
    }
    Ok(out)
}
