//! Typed access to the Arrow columns of a batch, and per-row value checks.
//!
//! Schema problems become [`SchemaIssue`]s and row problems [`RowIssue`]s; the reader turns
//! both into [`DataError`](crate::DataError)s that name the file and row.

use arrow::array::{
    Array, ArrayRef, AsArray, Int32Array, Int64Array, LargeListArray, LargeStringArray, ListArray, StringArray,
    StringViewArray,
};
use arrow::datatypes::{DataType, Int32Type, Int64Type};
use arrow::record_batch::RecordBatch;

use crate::policy::SkipReason;

/// Expected-type wording for string columns.
pub(crate) const STRING: &str = "string (Utf8, LargeUtf8 or Utf8View)";
/// Expected-type wording for list-of-string columns.
pub(crate) const STRING_LIST: &str = "list<string> (List or LargeList of Utf8/LargeUtf8)";
/// Expected-type wording for integer columns.
pub(crate) const INTEGER: &str = "integer (Int32 or Int64)";

/// A column-level problem: absent or of the wrong type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SchemaIssue {
    /// No column with this name (or none of these alternatives, joined with " or ").
    Missing {
        /// The column name(s).
        column: String,
    },
    /// The column has an unsupported type.
    WrongType {
        /// The column name.
        column: String,
        /// What is accepted.
        expected: &'static str,
        /// What was found.
        found: DataType,
    },
}

/// A row-level problem: `row` is the index inside the batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowIssue {
    /// Row inside the batch.
    pub row: usize,
    /// The offending column.
    pub column: String,
    /// Reason class.
    pub reason: SkipReason,
    /// Human-readable detail ("is null; expected a non-empty string").
    pub detail: String,
}

impl RowIssue {
    fn new(row: usize, column: &str, reason: SkipReason, detail: impl Into<String>) -> Self {
        Self { row, column: column.to_string(), reason, detail: detail.into() }
    }
}

/// A string column of any supported physical layout.
#[derive(Clone, Debug)]
pub(crate) enum Strings {
    Utf8(StringArray),
    Large(LargeStringArray),
    View(StringViewArray),
}

impl Strings {
    fn from_array(array: &ArrayRef) -> Option<Self> {
        match array.data_type() {
            DataType::Utf8 => Some(Self::Utf8(array.as_string::<i32>().clone())),
            DataType::LargeUtf8 => Some(Self::Large(array.as_string::<i64>().clone())),
            DataType::Utf8View => Some(Self::View(array.as_string_view().clone())),
            DataType::Dictionary(_, value) if is_string(value) => arrow::compute::cast(array, &DataType::LargeUtf8)
                .ok()
                .map(|a| Self::Large(a.as_string::<i64>().clone())),
            _ => None,
        }
    }

    fn is_null(&self, i: usize) -> bool {
        match self {
            Self::Utf8(a) => a.is_null(i),
            Self::Large(a) => a.is_null(i),
            Self::View(a) => a.is_null(i),
        }
    }

    /// The value at `i`, `None` when null.
    pub(crate) fn get(&self, i: usize) -> Option<&str> {
        if self.is_null(i) {
            return None;
        }
        Some(match self {
            Self::Utf8(a) => a.value(i),
            Self::Large(a) => a.value(i),
            Self::View(a) => a.value(i),
        })
    }
}

fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// A list-of-strings column (List or LargeList).
#[derive(Clone, Debug)]
pub(crate) struct StringLists {
    offsets: ListOffsets,
    values: Strings,
}

#[derive(Clone, Debug)]
enum ListOffsets {
    Small(ListArray),
    Large(LargeListArray),
}

impl StringLists {
    fn from_array(array: &ArrayRef) -> Option<Self> {
        let (offsets, values) = match array.data_type() {
            DataType::List(_) => {
                let list = array.as_list::<i32>();
                (ListOffsets::Small(list.clone()), list.values())
            }
            DataType::LargeList(_) => {
                let list = array.as_list::<i64>();
                (ListOffsets::Large(list.clone()), list.values())
            }
            _ => return None,
        };
        Some(Self { values: Strings::from_array(values)?, offsets })
    }

    /// The element range of row `i`, `None` when the list is null.
    fn range(&self, i: usize) -> Option<std::ops::Range<usize>> {
        match &self.offsets {
            ListOffsets::Small(a) if !a.is_null(i) => {
                let o = a.value_offsets();
                Some(o[i] as usize..o[i + 1] as usize)
            }
            ListOffsets::Large(a) if !a.is_null(i) => {
                let o = a.value_offsets();
                Some(o[i] as usize..o[i + 1] as usize)
            }
            _ => None,
        }
    }
}

/// An integer column (Int32 or Int64).
#[derive(Clone, Debug)]
pub(crate) enum Ints {
    I32(Int32Array),
    I64(Int64Array),
}

impl Ints {
    fn from_array(array: &ArrayRef) -> Option<Self> {
        match array.data_type() {
            DataType::Int32 => Some(Self::I32(array.as_primitive::<Int32Type>().clone())),
            DataType::Int64 => Some(Self::I64(array.as_primitive::<Int64Type>().clone())),
            _ => None,
        }
    }
}

/// Looks up columns of a batch by name and type.
pub(crate) struct Columns<'a> {
    batch: &'a RecordBatch,
}

impl<'a> Columns<'a> {
    pub(crate) fn new(batch: &'a RecordBatch) -> Self {
        Self { batch }
    }

    fn typed<T>(
        &self,
        name: &str,
        expected: &'static str,
        convert: impl Fn(&ArrayRef) -> Option<T>,
    ) -> Result<Option<T>, SchemaIssue> {
        let Some(array) = self.batch.column_by_name(name) else {
            return Ok(None);
        };
        convert(array).map(Some).ok_or_else(|| SchemaIssue::WrongType {
            column: name.to_string(),
            expected,
            found: array.data_type().clone(),
        })
    }

    fn required<T>(&self, name: &str, found: Option<T>) -> Result<T, SchemaIssue> {
        found.ok_or_else(|| SchemaIssue::Missing { column: name.to_string() })
    }

    /// An optional string column.
    pub(crate) fn opt_strings(&self, name: &str) -> Result<Option<Strings>, SchemaIssue> {
        self.typed(name, STRING, Strings::from_array)
    }

    /// A required string column.
    pub(crate) fn strings(&self, name: &str) -> Result<Strings, SchemaIssue> {
        let found = self.opt_strings(name)?;
        self.required(name, found)
    }

    /// An optional list-of-strings column.
    pub(crate) fn opt_lists(&self, name: &str) -> Result<Option<StringLists>, SchemaIssue> {
        self.typed(name, STRING_LIST, StringLists::from_array)
    }

    /// A required list-of-strings column.
    pub(crate) fn lists(&self, name: &str) -> Result<StringLists, SchemaIssue> {
        let found = self.opt_lists(name)?;
        self.required(name, found)
    }

    /// A required integer column.
    pub(crate) fn ints(&self, name: &str) -> Result<Ints, SchemaIssue> {
        let found = self.typed(name, INTEGER, Ints::from_array)?;
        self.required(name, found)
    }
}

/// A required, non-blank string value.
pub(crate) fn text(col: &Strings, row: usize, name: &str) -> Result<String, RowIssue> {
    match col.get(row) {
        None => Err(RowIssue::new(row, name, SkipReason::NullValue, "is null; expected a non-empty string")),
        Some(s) if s.trim().is_empty() => {
            Err(RowIssue::new(row, name, SkipReason::EmptyValue, "is empty; expected a non-empty string"))
        }
        Some(s) => Ok(s.to_string()),
    }
}

/// An optional string value: null, blank or an absent column give `None`.
pub(crate) fn opt_text(col: Option<&Strings>, row: usize) -> Option<String> {
    col.and_then(|c| c.get(row)).filter(|s| !s.trim().is_empty()).map(str::to_string)
}

/// A list of non-blank strings; `None` when the list itself is null.
///
/// A null or blank element is an error; so is an empty list when `non_empty` is set.
pub(crate) fn opt_list(
    col: &StringLists,
    row: usize,
    name: &str,
    non_empty: bool,
) -> Result<Option<Vec<String>>, RowIssue> {
    let Some(range) = col.range(row) else {
        return Ok(None);
    };
    if non_empty && range.is_empty() {
        return Err(RowIssue::new(row, name, SkipReason::EmptyList, "is an empty list; expected at least one element"));
    }
    range
        .enumerate()
        .map(|(k, i)| match col.values.get(i) {
            Some(s) if !s.trim().is_empty() => Ok(s.to_string()),
            found => Err(RowIssue::new(
                row,
                name,
                SkipReason::BadListItem,
                format!(
                    "has a {} element at index {k}; expected non-empty strings",
                    if found.is_some() { "blank" } else { "null" }
                ),
            )),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// A required list of non-blank strings (see [`opt_list`]); a null list is an error.
pub(crate) fn list(col: &StringLists, row: usize, name: &str, non_empty: bool) -> Result<Vec<String>, RowIssue> {
    opt_list(col, row, name, non_empty)?
        .ok_or_else(|| RowIssue::new(row, name, SkipReason::NullValue, "is null; expected a list of strings"))
}

/// A list that may be absent or null, read as empty.
pub(crate) fn list_or_empty(col: Option<&StringLists>, row: usize, name: &str) -> Result<Vec<String>, RowIssue> {
    match col {
        Some(c) => Ok(opt_list(c, row, name, false)?.unwrap_or_default()),
        None => Ok(Vec::new()),
    }
}

/// A required integer value that fits in `i32`.
pub(crate) fn int32(col: &Ints, row: usize, name: &str) -> Result<i32, RowIssue> {
    let value = match col {
        Ints::I32(a) if !a.is_null(row) => i64::from(a.value(row)),
        Ints::I64(a) if !a.is_null(row) => a.value(row),
        _ => {
            return Err(RowIssue::new(row, name, SkipReason::NullValue, "is null; expected an integer"));
        }
    };
    i32::try_from(value).map_err(|_| {
        RowIssue::new(row, name, SkipReason::OutOfRange, format!("is {value}; expected a value that fits in int32"))
    })
}
