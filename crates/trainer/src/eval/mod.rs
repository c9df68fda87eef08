//! Retrieval evaluation: trec_eval-compatible metrics.

pub mod command;
pub mod evaluator;
pub mod metrics;
