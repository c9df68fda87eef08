//! The one run-time choice of backend: `cpu` (burn's pure-Rust `flex`), `wgpu[:N]` or `cuda[:N]`.

use burn::tensor::Device;

use crate::error::ModelError;

/// Parses a `--device` value. Backends not compiled in are an error that says which cargo feature adds them.
pub fn parse_device(spec: &str) -> Result<Device, ModelError> {
    let (kind, index) = match spec.split_once(':') {
        Some((k, i)) => {
            let index = i.parse::<usize>().map_err(|_| bad(spec))?;
            (k, Some(index))
        }
        None => (spec, None),
    };
    match kind {
        "cpu" | "flex" if index.is_none() => Ok(Device::flex()),
        "wgpu" => wgpu(index),
        "cuda" => cuda(index.unwrap_or(0)),
        _ => Err(bad(spec)),
    }
}

fn bad(spec: &str) -> ModelError {
    ModelError::Config {
        file: "<command line>".into(),
        field: "--device".into(),
        expected: format!("`cpu`, `wgpu`, `wgpu:N`, `cuda` or `cuda:N`, got {spec:?}"),
    }
}

#[cfg(feature = "wgpu")]
fn wgpu(index: Option<usize>) -> Result<Device, ModelError> {
    use burn::tensor::DeviceKind;
    Ok(Device::wgpu(match index {
        Some(i) => DeviceKind::DiscreteGpu(i),
        None => DeviceKind::DefaultDevice,
    }))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu(_index: Option<usize>) -> Result<Device, ModelError> {
    Err(not_built("wgpu"))
}

#[cfg(feature = "cuda")]
fn cuda(index: usize) -> Result<Device, ModelError> {
    Ok(Device::cuda(index))
}

#[cfg(not(feature = "cuda"))]
fn cuda(_index: usize) -> Result<Device, ModelError> {
    Err(not_built("cuda"))
}

#[cfg(any(not(feature = "wgpu"), not(feature = "cuda")))]
fn not_built(backend: &str) -> ModelError {
    ModelError::Config {
        file: "<command line>".into(),
        field: "--device".into(),
        expected: format!("a backend this binary was built with; rebuild with `--features {backend}` to use {backend}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_and_rejects_junk() {
        assert!(parse_device("cpu").is_ok());
        assert!(parse_device("tpu").unwrap_err().to_string().contains("--device"));
        assert!(parse_device("cuda:x").is_err());
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn missing_backend_says_which_feature() {
        let err = parse_device("cuda:1").unwrap_err().to_string();
        assert!(err.contains("--features cuda"), "{err}");
    }
}
