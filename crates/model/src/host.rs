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
