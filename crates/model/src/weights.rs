//! Where parameter values come from when a model is built: a HF safetensors checkpoint, or a seeded random
//! initialisation. Both are asked for tensors by HF name and HF shape (`[out, in]` for projections), so a model is
//! built by one code path whichever the source.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rand::RngExt;
use safetensors::{Dtype, SafeTensors};

use crate::error::ModelError;
use crate::rng::{SeededRng, stream};

/// How a freshly initialised tensor is filled (HF's `_init_weights` conventions).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// Normal(0, std) — projections and embeddings.
    Normal,
    /// All ones — RMSNorm weights.
    Ones,
    /// All zeros — biases.
    Zeros,
}

/// A provider of named host tensors (row-major f32).
pub trait WeightSource {
    /// The tensor called `name` with exactly `shape`. A source that lacks it, or holds another shape, records
    /// the problem and returns zeros so that every problem is reported at once by [`WeightSource::finish`].
    fn take(&mut self, name: &str, shape: &[usize], init: Init) -> Vec<f32>;

    /// Whether the source holds `name` (used for optional tensors such as an untied `lm_head.weight`).
    fn has(&self, name: &str) -> bool;

    /// Ends the build: an error listing every missing or misshapen tensor, else the names left unused.
    fn finish(self: Box<Self>) -> Result<Vec<String>, ModelError>;
}

/// Seeded random initialisation: normal(0, `std`) for matrices, ones for norms, zeros for biases.
pub struct RandomWeights {
    rng: SeededRng,
    std: f32,
}

impl RandomWeights {
    /// A source seeded with `seed`; `std` is HF's `initializer_range` (0.02 for Qwen3 and Llama).
    pub fn new(seed: u64, std: f32) -> Self {
        Self { rng: stream(seed, &[0x1A17]), std }
    }

    fn normal(&mut self) -> f32 {
        // Box-Muller on the host: bit-identical on every backend.
        let u1: f64 = self.rng.random::<f64>().max(f64::MIN_POSITIVE);
        let u2: f64 = self.rng.random::<f64>();
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    }
}

impl WeightSource for RandomWeights {
    fn take(&mut self, _name: &str, shape: &[usize], init: Init) -> Vec<f32> {
        let n: usize = shape.iter().product();
        match init {
            Init::Normal => (0..n).map(|_| self.normal() * self.std).collect(),
            Init::Ones => vec![1.0; n],
            Init::Zeros => vec![0.0; n],
        }
    }

    fn has(&self, _name: &str) -> bool {
        true
    }

    fn finish(self: Box<Self>) -> Result<Vec<String>, ModelError> {
        Ok(Vec::new())
    }
}

/// One tensor entry of a checkpoint: which file holds it, its dtype and its shape.
struct Entry {
    file: usize,
    dtype: Dtype,
    shape: Vec<usize>,
}

/// Tensors read from one `model.safetensors` or from the shards listed in `model.safetensors.index.json`.
/// Stored dtypes f32, f16, bf16 and f64 are converted to f32.
pub struct CheckpointWeights {
    origin: String,
    files: Vec<(PathBuf, Vec<u8>)>,
    entries: BTreeMap<String, Entry>,
    used: BTreeSet<String>,
    problems: Vec<String>,
}

impl CheckpointWeights {
    /// Opens the safetensors weights of a HF model directory (single file or sharded index).
    pub fn open_dir(dir: &Path) -> Result<Self, ModelError> {
        let single = dir.join("model.safetensors");
        let index = dir.join("model.safetensors.index.json");
        let files = if single.is_file() {
            vec![single]
        } else if index.is_file() {
            shard_files(&index)?
        } else {
            return Err(ModelError::Checkpoint {
                file: dir.display().to_string(),
                problems: "  neither model.safetensors nor model.safetensors.index.json exists".into(),
            });
        };
        Self::open_files(&dir.display().to_string(), &files)
    }

    /// Opens explicit safetensors files; `origin` names them in errors.
    pub fn open_files(origin: &str, paths: &[PathBuf]) -> Result<Self, ModelError> {
        let mut files = Vec::new();
        let mut entries = BTreeMap::new();
        for (file_index, path) in paths.iter().enumerate() {
            let bytes = std::fs::read(path).map_err(|e| ModelError::io(path, e))?;
            let parsed = SafeTensors::deserialize(&bytes)
                .map_err(|e| ModelError::Safetensors { file: path.display().to_string(), reason: e.to_string() })?;
            for (name, view) in parsed.tensors() {
                let entry = Entry { file: file_index, dtype: view.dtype(), shape: view.shape().to_vec() };
                if entries.insert(name.clone(), entry).is_some() {
                    return Err(ModelError::Checkpoint {
                        file: path.display().to_string(),
                        problems: format!("  tensor `{name}` appears in more than one shard"),
                    });
                }
            }
            files.push((path.clone(), bytes));
        }
        Ok(Self { origin: origin.into(), files, entries, used: BTreeSet::new(), problems: Vec::new() })
    }

    /// Names of all tensors in the checkpoint.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    fn read(&self, name: &str, entry: &Entry) -> Result<Vec<f32>, String> {
        let (path, bytes) = &self.files[entry.file];
        let parsed = SafeTensors::deserialize(bytes).map_err(|e| e.to_string())?;
        let view = parsed.tensor(name).map_err(|e| e.to_string())?;
        let raw = view.data();
        let out = match entry.dtype {
            Dtype::F32 => raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            Dtype::F64 => {
                raw.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8-byte chunk")) as f32).collect()
            }
            Dtype::BF16 => raw.chunks_exact(2).map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
            Dtype::F16 => raw.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
            other => {
                return Err(format!(
                    "tensor `{name}` in {}: dtype {other:?} is not supported (expected f32, f16, bf16 or f64)",
                    path.display()
                ));
            }
        };
        Ok(out)
    }
}

impl WeightSource for CheckpointWeights {
    fn take(&mut self, name: &str, shape: &[usize], _init: Init) -> Vec<f32> {
        let zeros = || vec![0.0; shape.iter().product()];
        let Some(entry) = self.entries.get(name) else {
            self.problems.push(format!("  missing tensor `{name}`, expected shape {shape:?}"));
            return zeros();
        };
        if entry.shape != shape {
            self.problems.push(format!("  tensor `{name}` has shape {:?}, expected {shape:?}", entry.shape));
            return zeros();
        }
        self.used.insert(name.to_string());
        match self.read(name, entry) {
            Ok(v) => v,
            Err(e) => {
                self.problems.push(format!("  {e}"));
                zeros()
            }
        }
    }

    fn has(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// Tensors the model did not take are an error (a config with fewer layers, or another architecture, would
    /// otherwise load a truncated model in silence), except those HF checkpoints carry harmlessly: rotary
    /// `inv_freq` buffers and an `lm_head.weight` beside tied embeddings.
    fn finish(mut self: Box<Self>) -> Result<Vec<String>, ModelError> {
        let unused: Vec<String> = self.entries.keys().filter(|k| !self.used.contains(*k)).cloned().collect();
        let harmless = |name: &str| name.ends_with("rotary_emb.inv_freq") || name == "lm_head.weight";
        let stray: Vec<&String> = unused.iter().filter(|n| !harmless(n)).collect();
        if !stray.is_empty() {
            let shown: Vec<String> = stray.iter().take(5).map(|n| format!("`{n}`")).collect();
            self.problems.push(format!(
                "  {} tensor(s) the model config has no place for ({}{}): does config.json's num_hidden_layers (or \
                 architecture) match the weights?",
                stray.len(),
                shown.join(", "),
                if stray.len() > shown.len() { ", ..." } else { "" }
            ));
        }
        if !self.problems.is_empty() {
            return Err(ModelError::Checkpoint { file: self.origin, problems: self.problems.join("\n") });
        }
        Ok(unused)
    }
}

/// The shard files named by a `model.safetensors.index.json` (its `weight_map` values), in sorted order; each must
/// be a plain file name in the index's folder.
fn shard_files(index: &Path) -> Result<Vec<PathBuf>, ModelError> {
    let text = std::fs::read_to_string(index).map_err(|e| ModelError::io(index, e))?;
    let bad = |expected: &str| ModelError::Config {
        file: index.display().to_string(),
        field: "weight_map".into(),
        expected: expected.into(),
    };
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(&format!("valid JSON: {e}")))?;
    let map = value
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| bad("an object mapping tensor names to shard files"))?;
    let mut shards = BTreeSet::new();
    for file in map.values() {
        let file = file.as_str().ok_or_else(|| bad("shard file names as strings"))?;
        // A shard must be a file of the model folder itself: no paths out of it (`../x`, `/dev/zero`).
        let plain = Path::new(file).file_name().is_some_and(|n| n == std::ffi::OsStr::new(file));
        if !plain || file.starts_with('.') {
            return Err(bad(&format!("file names inside the model folder, got {file:?}")));
        }
        shards.insert(file.to_string());
    }
    let dir = index.parent().unwrap_or(Path::new("."));
    Ok(shards.into_iter().map(|f| dir.join(f)).collect())
}
