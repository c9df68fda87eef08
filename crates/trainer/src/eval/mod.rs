//! Retrieval evaluation: trec_eval-compatible metrics.

pub mod evaluator;
pub mod metrics;
