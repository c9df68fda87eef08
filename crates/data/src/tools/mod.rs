//! Library side of the `trainer data ...` commands: inspection, importers, tokenizer training.

pub mod import;
pub mod inspect;
mod jsonl;
pub mod tokenizer;
pub mod writer;
