//! Helpers shared by the model crate's test files: reading reference tensors and comparing them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::Tensor;
use safetensors::SafeTensors;

/// Shape and values (as f64) of each tensor in a reference safetensors file.
pub type Reference = BTreeMap<String, (Vec<usize>, Vec<f64>)>;

/// The repository's `tests/fixtures` folder.
pub fn fixtures() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run under cargo")).join("../../tests/fixtures")
}

/// The f32 and i64 tensors of a safetensors file, as (shape, f64 values).
pub fn read_reference(path: &Path) -> Reference {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let st = SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(k, v)| {
            let raw = v.data();
            let values: Vec<f64> = match v.dtype() {
                safetensors::Dtype::F32 => {
                    raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64).collect()
                }
                safetensors::Dtype::I64 => {
                    raw.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64).collect()
                }
                other => panic!("unexpected dtype {other:?} for {k}"),
            };
            (k, (v.shape().to_vec(), values))
        })
        .collect()
}

/// A tensor's shape and row-major f32 values on the host.
pub fn host<const D: usize>(t: Tensor<D>) -> (Vec<usize>, Vec<f32>) {
    let dims = t.dims().to_vec();
    (dims, t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap())
}

/// The largest absolute difference between two sequences.
pub fn max_abs_diff(a: impl Iterator<Item = f64>, b: impl Iterator<Item = f64>) -> f64 {
    a.zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}
