//! Replica agreement: in a data-parallel job every rank must hold bit-identical weights (they start from the same
//! checkpoint and apply the same averaged update). Checked when a run starts and after every stage, so a rank that
//! loaded other weights or drifted (a different kernel, a non-deterministic device) stops the job with a message
//! instead of training a silent mixture.

use model::CausalLm;
use model::hf::hf_tensors;
use sha2::{Digest, Sha256};

use crate::train::collective::Collective;

/// SHA-256 over every parameter's name, shape and f32 bytes.
fn digest(model: &CausalLm) -> anyhow::Result<String> {
    let mut hasher = Sha256::new();
    for (name, (shape, values)) in hf_tensors(model)? {
        hasher.update(name.as_bytes());
        for d in shape {
            hasher.update((d as u64).to_le_bytes());
        }
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        hasher.update(&bytes);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Errors on every rank when the ranks' weights differ (`what` names the moment); free with one rank.
pub fn check(comm: &dyn Collective, model: &CausalLm, what: &str) -> anyhow::Result<()> {
    if comm.world_size() == 1 {
        return Ok(());
    }
    comm.agree(&format!("{what}: replicas must be bit-identical"), &digest(model)?)
}
