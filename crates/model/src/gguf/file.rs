//! The GGUF container (llama.cpp's single-file format, versions 2 and 3): header, typed metadata, tensor
//! directory and the aligned data section. Every read is bounds-checked; a malformed file is an error naming the
//! file and what was being read, never a panic.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::ModelError;
use crate::gguf::quant::GgmlType;

const MAGIC: &[u8; 4] = b"GGUF";
/// Alignment of the data section when `general.alignment` is absent.
const DEFAULT_ALIGNMENT: u64 = 32;
/// Upper bound on counts read from the header, so a corrupt count fails fast instead of allocating wildly.
const MAX_COUNT: u64 = 1 << 24;

/// A metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Any unsigned integer type.
    U64(u64),
    /// Any signed integer type.
    I64(i64),
    /// `float32` or `float64`.
    F64(f64),
    /// `bool`.
    Bool(bool),
    /// `string` (UTF-8).
    Str(String),
    /// `array` of any element type.
    Array(Vec<Value>),
}

impl Value {
    /// The value as an unsigned integer, when it is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U64(v) => Some(v),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a float, when it is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F64(v) => Some(v),
            Value::U64(v) => Some(v as f64),
            Value::I64(v) => Some(v as f64),
            _ => None,
        }
    }

    /// The value as a string slice.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value as an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// One entry of the tensor directory.
#[derive(Debug, Clone)]
pub struct TensorInfo {
    /// llama.cpp's tensor name (`blk.0.attn_q.weight`).
    pub name: String,
    /// ggml dimensions, fastest-varying first (a `[rows, cols]` matrix is `[cols, rows]` here).
    pub dims: Vec<usize>,
    /// Storage type.
    pub kind: GgmlType,
    /// Byte range of the data in the file.
    pub range: std::ops::Range<usize>,
}

impl TensorInfo {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.dims.iter().product()
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shape in row-major (HF) order: slowest-varying first.
    pub fn shape(&self) -> Vec<usize> {
        self.dims.iter().rev().copied().collect()
    }
}

/// A parsed GGUF file, held in memory.
pub struct GgufFile {
    /// The path, for error messages.
    pub origin: String,
    /// Metadata by key.
    pub metadata: BTreeMap<String, Value>,
    /// Tensor directory by name.
    pub tensors: BTreeMap<String, TensorInfo>,
    bytes: Vec<u8>,
}

impl GgufFile {
    /// Reads and parses `path`.
    pub fn open(path: &Path) -> Result<Self, ModelError> {
        let bytes = std::fs::read(path).map_err(|e| ModelError::io(path, e))?;
        Self::parse(bytes, &path.display().to_string())
    }

    /// Parses a GGUF image; `origin` names it in errors.
    pub fn parse(bytes: Vec<u8>, origin: &str) -> Result<Self, ModelError> {
        let mut cursor = Cursor { bytes: &bytes, pos: 0, origin };
        if cursor.take(4, "the magic number")? != MAGIC {
            return Err(cursor.error("the magic number", "the bytes `GGUF` at offset 0 (not a GGUF file)"));
        }
        let version = cursor.u32("the version")?;
        if !(2..=3).contains(&version) {
            return Err(cursor.error("the version", &format!("GGUF version 2 or 3, got {version}")));
        }
        let n_tensors = cursor.count("the tensor count")?;
        let n_metadata = cursor.count("the metadata count")?;
        let mut metadata = BTreeMap::new();
        for _ in 0..n_metadata {
            let key = cursor.string("a metadata key")?;
            let kind = cursor.u32(&format!("the type of metadata `{key}`"))?;
            let value = cursor.value(kind, &key)?;
            metadata.insert(key, value);
        }
        let mut directory = Vec::with_capacity(n_tensors as usize);
        for _ in 0..n_tensors {
            let name = cursor.string("a tensor name")?;
            let what = format!("the directory entry of tensor `{name}`");
            let n_dims = cursor.u32(&what)?;
            if n_dims == 0 || n_dims > 4 {
                return Err(cursor.error(&what, &format!("1 to 4 dimensions, got {n_dims}")));
            }
            let dims = (0..n_dims).map(|_| cursor.count(&what).map(|d| d as usize)).collect::<Result<Vec<_>, _>>()?;
            let kind = GgmlType::from_id(cursor.u32(&what)?)
                .map_err(|expected| cursor.error(&format!("the type of tensor `{name}`"), &expected))?;
            let offset = cursor.u64(&what)?;
            directory.push((name, dims, kind, offset));
        }
        let alignment = match metadata.get("general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some(v) => v.as_u64().filter(|a| *a > 0 && a.is_power_of_two()).ok_or_else(|| {
                cursor.error("metadata `general.alignment`", "a power of two (the data section's alignment)")
            })?,
        };
        let data_start = (cursor.pos as u64).div_ceil(alignment) * alignment;
        let mut tensors = BTreeMap::new();
        for (name, dims, kind, offset) in directory {
            let what = format!("the data of tensor `{name}`");
            let elements: usize = dims.iter().product();
            let size = kind.byte_size(dims[0], elements).map_err(|expected| cursor.error(&what, &expected))?;
            let start = data_start.checked_add(offset);
            let range =
                start.map(|s| s as usize..s as usize + size).filter(|r| r.end <= bytes.len()).ok_or_else(|| {
                    cursor.error(&what, &format!("{size} bytes at data offset {offset} inside the file (truncated?)"))
                })?;
            if tensors.insert(name.clone(), TensorInfo { name: name.clone(), dims, kind, range }).is_some() {
                return Err(cursor.error(&what, "each tensor name once"));
            }
        }
        Ok(Self { origin: origin.into(), metadata, tensors, bytes })
    }

    /// The raw bytes of `tensor`.
    pub fn raw(&self, tensor: &TensorInfo) -> &[u8] {
        &self.bytes[tensor.range.clone()]
    }

    /// The values of tensor `name` as row-major f32.
    pub fn dequantize(&self, name: &str) -> Result<Vec<f32>, ModelError> {
        let info = self.tensors.get(name).ok_or_else(|| ModelError::Checkpoint {
            file: self.origin.clone(),
            problems: format!("  missing tensor `{name}`"),
        })?;
        Ok(info.kind.dequantize(self.raw(info), info.len()))
    }

    /// Metadata `key`, or an error naming it and what was expected.
    pub fn get(&self, key: &str, expected: &str) -> Result<&Value, ModelError> {
        self.metadata.get(key).ok_or_else(|| self.bad(key, &format!("{expected} (missing)")))
    }

    /// An error about metadata `key`.
    pub fn bad(&self, key: &str, expected: &str) -> ModelError {
        ModelError::Config { file: self.origin.clone(), field: key.into(), expected: expected.into() }
    }
}

/// A bounds-checked little-endian reader over the header.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    origin: &'a str,
}

impl Cursor<'_> {
    fn error(&self, what: &str, expected: &str) -> ModelError {
        ModelError::Config {
            file: self.origin.into(),
            field: format!("{what} (byte {})", self.pos),
            expected: expected.into(),
        }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&[u8], ModelError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(self.error(what, &format!("{n} more bytes, but the file ends (truncated?)")));
        };
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], ModelError> {
        Ok(self.take(N, what)?.try_into().expect("take returns N bytes"))
    }

    fn u32(&mut self, what: &str) -> Result<u32, ModelError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64, ModelError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A u64 count, bounded so corrupt headers fail fast.
    fn count(&mut self, what: &str) -> Result<u64, ModelError> {
        let n = self.u64(what)?;
        if n > MAX_COUNT {
            return Err(self.error(what, &format!("a count below {MAX_COUNT}, got {n} (corrupt header?)")));
        }
        Ok(n)
    }

    fn string(&mut self, what: &str) -> Result<String, ModelError> {
        let n = self.count(what)? as usize;
        let raw = self.take(n, what)?;
        String::from_utf8(raw.to_vec()).map_err(|_| self.error(what, "a UTF-8 string"))
    }

    /// A metadata value of GGUF type `kind`.
    fn value(&mut self, kind: u32, key: &str) -> Result<Value, ModelError> {
        let what = format!("metadata `{key}`");
        Ok(match kind {
            0 => Value::U64(self.array::<1>(&what)?[0] as u64),
            1 => Value::I64(self.array::<1>(&what)?[0] as i8 as i64),
            2 => Value::U64(u16::from_le_bytes(self.array(&what)?) as u64),
            3 => Value::I64(i16::from_le_bytes(self.array(&what)?) as i64),
            4 => Value::U64(self.u32(&what)? as u64),
            5 => Value::I64(i32::from_le_bytes(self.array(&what)?) as i64),
            6 => Value::F64(f32::from_le_bytes(self.array(&what)?) as f64),
            7 => Value::Bool(self.array::<1>(&what)?[0] != 0),
            8 => Value::Str(self.string(&what)?),
            9 => {
                let element = self.u32(&what)?;
                if element == 9 {
                    return Err(self.error(&what, "an array of scalars or strings (nested arrays are not supported)"));
                }
                let n = self.count(&what)?;
                Value::Array((0..n).map(|_| self.value(element, key)).collect::<Result<_, _>>()?)
            }
            10 => Value::U64(self.u64(&what)?),
            11 => Value::I64(i64::from_le_bytes(self.array(&what)?)),
            12 => Value::F64(f64::from_le_bytes(self.array(&what)?)),
            other => return Err(self.error(&what, &format!("a GGUF value type 0..=12, got {other}"))),
        })
    }
}
