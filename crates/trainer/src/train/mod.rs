//! The shared training loop and its parts.

pub mod best;
pub mod checkpoint;
pub mod collective;
pub mod fault;
pub mod grads;
pub mod guard;
pub mod metrics;
pub mod preflight;
pub mod progress;
pub mod publish;
pub mod recipe_change;
pub mod records;
pub mod replicas;
pub mod run_dir;
pub mod runner;
pub mod schedule;
pub mod tensorboard;
pub mod watchdog;
