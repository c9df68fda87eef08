//! Weights written as `save_pretrained` writes them: f32 or bf16, one `model.safetensors`, or — past a size limit —
//! shards `model-0000i-of-0000n.safetensors` of at most that size each, with `model.safetensors.index.json`
//! (`metadata.total_size` and the `weight_map` from tensor name to shard) beside them.

use std::path::Path;

use safetensors::{Dtype, tensor::TensorView};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::ModelError;
use crate::hf::{HostTensors, write_atomic};

/// The floating-point type of exported weights.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightDtype {
    /// 32-bit floats: the weights exactly as trained.
    #[default]
    F32,
    /// bfloat16 (rounded to nearest even): half the size, as most released checkpoints are.
    Bf16,
}

impl WeightDtype {
    /// The name transformers uses in `config.json` (`dtype` / `torch_dtype`).
    pub fn torch_name(self) -> &'static str {
        match self {
            Self::F32 => "float32",
            Self::Bf16 => "bfloat16",
        }
    }

    fn bytes(self) -> usize {
        match self {
            Self::F32 => 4,
            Self::Bf16 => 2,
        }
    }

    fn encode(self, values: &[f32]) -> Vec<u8> {
        match self {
            Self::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Self::Bf16 => values.iter().flat_map(|v| half::bf16::from_f32(*v).to_le_bytes()).collect(),
        }
    }

    fn safetensors(self) -> Dtype {
        match self {
            Self::F32 => Dtype::F32,
            Self::Bf16 => Dtype::BF16,
        }
    }
}

/// How exported weights are laid out on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeightLayout {
    /// Element type.
    pub dtype: WeightDtype,
    /// Largest shard in bytes of tensor data (0: one file, however large).
    pub max_shard_bytes: u64,
}

impl Default for WeightLayout {
    /// f32 in one file: what the framework's checkpoints hold.
    fn default() -> Self {
        Self { dtype: WeightDtype::F32, max_shard_bytes: 0 }
    }
}

/// Writes `tensors` into `dir` as `layout` says (each file atomically); returns the file names written.
pub fn write_weights(dir: &Path, tensors: &HostTensors, layout: WeightLayout) -> Result<Vec<String>, ModelError> {
    let size = |values: &Vec<f32>| (values.len() * layout.dtype.bytes()) as u64;
    let mut shards: Vec<Vec<&String>> = vec![Vec::new()];
    let mut filled = 0u64;
    for (name, (_, values)) in tensors {
        let bytes = size(values);
        let full = layout.max_shard_bytes > 0 && filled + bytes > layout.max_shard_bytes;
        if full && !shards.last().expect("one shard").is_empty() {
            shards.push(Vec::new());
            filled = 0;
        }
        shards.last_mut().expect("one shard").push(name);
        filled += bytes;
    }
    if shards.len() == 1 {
        write_file(&dir.join("model.safetensors"), tensors.iter(), layout.dtype)?;
        return Ok(vec!["model.safetensors".into()]);
    }
    let n = shards.len();
    let mut files = Vec::with_capacity(n + 1);
    let mut weight_map = serde_json::Map::new();
    for (i, names) in shards.iter().enumerate() {
        let file = format!("model-{:05}-of-{n:05}.safetensors", i + 1);
        write_file(&dir.join(&file), names.iter().map(|name| (*name, &tensors[*name])), layout.dtype)?;
        for name in names {
            weight_map.insert(name.to_string(), json!(file));
        }
        files.push(file);
    }
    let total: u64 = tensors.values().map(|(_, v)| size(v)).sum();
    let index = json!({"metadata": {"total_size": total}, "weight_map": weight_map});
    let text = serde_json::to_string_pretty(&index).expect("JSON values serialise");
    write_atomic(&dir.join("model.safetensors.index.json"), text.as_bytes())?;
    files.push("model.safetensors.index.json".into());
    Ok(files)
}

/// One safetensors file of `tensors` in `dtype`, written atomically.
pub(crate) fn write_file<'a>(
    path: &Path,
    tensors: impl Iterator<Item = (&'a String, &'a (Vec<usize>, Vec<f32>))>,
    dtype: WeightDtype,
) -> Result<(), ModelError> {
    let err = |e: safetensors::SafeTensorError| ModelError::Safetensors {
        file: path.display().to_string(),
        reason: e.to_string(),
    };
    let encoded: Vec<(&String, &Vec<usize>, Vec<u8>)> =
        tensors.map(|(name, (shape, values))| (name, shape, dtype.encode(values))).collect();
    let views = encoded
        .iter()
        .map(|(name, shape, raw)| {
            TensorView::new(dtype.safetensors(), shape.to_vec(), raw).map(|v| (name.to_string(), v)).map_err(err)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let metadata = Some(std::collections::HashMap::from([("format".to_string(), "pt".to_string())]));
    write_atomic(path, &safetensors::serialize(views, metadata).map_err(err)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weights::{CheckpointWeights, Init, WeightSource};

    #[test]
    fn bf16_shards_reload_as_the_rounded_weights() {
        let dir = std::env::temp_dir().join(format!("t1-weights-out-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut tensors = HostTensors::new();
        for (i, name) in ["a", "b", "c"].iter().enumerate() {
            let values: Vec<f32> = (0..6).map(|j| 0.1 + (i * 6 + j) as f32 / 7.0).collect();
            tensors.insert(name.to_string(), (vec![2, 3], values));
        }
        // 12 bytes per tensor in bf16: at most 24 per shard gives two shards (a+b, c).
        let files =
            write_weights(&dir, &tensors, WeightLayout { dtype: WeightDtype::Bf16, max_shard_bytes: 24 }).unwrap();
        assert_eq!(
            files,
            ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json"]
        );
        let index: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("model.safetensors.index.json")).unwrap()).unwrap();
        assert_eq!(index["metadata"]["total_size"], 36);
        assert_eq!(index["weight_map"]["c"], "model-00002-of-00002.safetensors");
        let mut source = Box::new(CheckpointWeights::open_dir(&dir).unwrap());
        for (name, (shape, values)) in &tensors {
            let back = source.take(name, shape, Init::Zeros);
            let rounded: Vec<f32> = values.iter().map(|v| half::bf16::from_f32(*v).to_f32()).collect();
            assert_eq!(back, rounded, "{name}");
            assert_ne!(back, *values, "{name} is rounded");
        }
        assert!(source.finish().unwrap().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
