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

/// Makes the C allocator keep freed memory for reuse instead of handing it back to the OS (glibc on Linux;
/// elsewhere a no-op). Call it first thing in `main`.
///
/// A training step frees and reallocates the same activation and gradient buffers every step, many above glibc's
/// 32 MiB `mmap` ceiling (a 135M model's `[1016, 49152]` logits are 200 MB). By default each of them is a fresh
/// `mmap` whose pages the kernel faults in and zeroes, and a freed heap top is trimmed back: on the 135M shape that
/// was a quarter of a CPU training step (`benches/README.md`). With `mmap` off and trimming at 2 GiB, the heap is
/// reused; peak RSS stays what the step needs.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only changes allocator parameters; both values are in their documented ranges.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}
