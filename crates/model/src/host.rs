//! Reading tensors back to the host.

use burn::tensor::Tensor;

use crate::error::ModelError;

/// The values of `tensor` as row-major f32 (converting from the tensor's float dtype).
pub fn to_vec<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>, ModelError> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| ModelError::Input(format!("cannot read a tensor back to the host: {e:?}")))
}

/// Host memory available to a new allocation (`MemAvailable` of `/proc/meminfo`), when the OS says.
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kib| kib * 1024)
}
