//! The shared training loop and its parts.

pub mod grads;
pub mod schedule;
