//! The one error type of the model crate. Every variant names the file (or tensor) involved and what was expected.

use std::path::Path;

/// Errors from reading configs, checkpoints and tokenizers, or from invalid inputs to the model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A config field is missing, has the wrong type, or asks for something unsupported.
    #[error("{file}: field `{field}`: expected {expected}")]
    Config {
        /// The config file.
        file: String,
        /// The field (dotted path).
        field: String,
        /// What would have been accepted.
        expected: String,
    },
    /// Checkpoint tensors are missing, misshapen or of an unsupported dtype (one line per tensor).
    #[error("{file}: checkpoint does not fit the model:\n{problems}")]
    Checkpoint {
        /// The checkpoint file or directory.
        file: String,
        /// One line per problem tensor.
        problems: String,
    },
    /// A safetensors file is malformed.
    #[error("{file}: not a readable safetensors file: {reason}")]
    Safetensors {
        /// The file.
        file: String,
        /// What the parser said.
        reason: String,
    },
    /// The tokenizer file could not be used.
    #[error("{file}: tokenizer: {reason}")]
    Tokenizer {
        /// The tokenizer file.
        file: String,
        /// What went wrong.
        reason: String,
    },
    /// An input to the model is invalid (empty batch, no embedding token, too long, ...).
    #[error("invalid input: {0}")]
    Input(String),
}

impl ModelError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        ModelError::Io { path: path.display().to_string(), source }
    }
}
