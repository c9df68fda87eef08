//! Line-numbered JSONL reading and typed field access with precise errors.

use std::fs::File;
use std::io::{BufRead, BufReader, Lines};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value as Json};

use crate::error::{DataError, Result};

/// One JSON object of a JSONL file, with where it came from.
pub(crate) struct Record {
    path: PathBuf,
    line: usize,
    object: Map<String, Json>,
}

/// Iterates the objects of a JSONL file; blank lines are allowed, anything else that is not
/// a JSON object is an error naming file and line.
pub(crate) struct JsonLines {
    path: PathBuf,
    lines: Lines<BufReader<File>>,
    line: usize,
}

impl JsonLines {
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| DataError::io(path, e))?;
        Ok(Self { path: path.to_path_buf(), lines: BufReader::new(file).lines(), line: 0 })
    }
}

impl Iterator for JsonLines {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let text = match self.lines.next()? {
                Ok(t) => t,
                Err(e) => return Some(Err(DataError::io(&self.path, e))),
            };
            self.line += 1;
            if text.trim().is_empty() {
                continue;
            }
            let parsed = serde_json::from_str::<Json>(&text);
            return Some(match parsed {
                Ok(Json::Object(object)) => Ok(Record { path: self.path.clone(), line: self.line, object }),
                Ok(other) => Err(input_error(
                    &self.path,
                    self.line,
                    None,
                    format!("expected a JSON object, found {}", kind(&other)),
                )),
                Err(e) => Err(input_error(&self.path, self.line, None, format!("invalid JSON: {e}"))),
            });
        }
    }
}

pub(crate) fn input_error(path: &Path, line: usize, field: Option<&str>, message: String) -> DataError {
    DataError::Input { path: path.to_path_buf(), line, field: field.map(str::to_string), message }
}

fn kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// Strings, and numbers as their decimal text (ids are sometimes numeric).
fn as_text(v: &Json) -> Option<String> {
    match v {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Record {
    /// An error naming this record's file, line and `field`.
    pub(crate) fn error(&self, field: &str, message: String) -> DataError {
        input_error(&self.path, self.line, Some(field), message)
    }

    fn present(&self, field: &str) -> Option<&Json> {
        self.object.get(field).filter(|v| !v.is_null())
    }

    /// A string (or number) field; `None` when absent or null.
    pub(crate) fn opt_str(&self, field: &str) -> Result<Option<String>> {
        self.present(field)
            .map(|v| as_text(v).ok_or_else(|| self.error(field, format!("expected a string, found {}", kind(v)))))
            .transpose()
    }

    /// A required string (or number) field.
    pub(crate) fn str(&self, field: &str) -> Result<String> {
        self.opt_str(field)?.ok_or_else(|| self.error(field, "missing or null; expected a string".into()))
    }

    /// A list of strings (or numbers); `None` when absent or null.
    pub(crate) fn opt_list(&self, field: &str) -> Result<Option<Vec<String>>> {
        let Some(v) = self.present(field) else {
            return Ok(None);
        };
        let Json::Array(items) = v else {
            return Err(self.error(field, format!("expected an array of strings, found {}", kind(v))));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                as_text(item)
                    .ok_or_else(|| self.error(field, format!("element {i} is {}; expected a string", kind(item))))
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// A required list of strings.
    pub(crate) fn list(&self, field: &str) -> Result<Vec<String>> {
        self.opt_list(field)?.ok_or_else(|| self.error(field, "missing or null; expected an array of strings".into()))
    }

    /// An integer that fits in `i32` (also accepted as a numeric string); `None` when absent.
    pub(crate) fn opt_int(&self, field: &str) -> Result<Option<i32>> {
        let Some(v) = self.present(field) else {
            return Ok(None);
        };
        let parsed = match v {
            Json::Number(n) => n.as_i64(),
            Json::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        parsed
            .and_then(|n| i32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| self.error(field, format!("{v} is not an int32")))
    }
}
