//! Retrieval evaluation: trec_eval-compatible metrics.

pub mod metrics;
