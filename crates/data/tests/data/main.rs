//! The crate's single integration-test binary.

mod common;
mod dataset;
mod errors;
mod loaders;
mod mutations;
mod prefetch;
mod stream;
mod tools;
