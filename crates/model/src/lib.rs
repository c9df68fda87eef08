//! A Qwen3 / Qwen2 / Llama decoder for reasoning retrievers, on burn.
//!
//! - [`config`]: shapes from a HF `config.json` or a built-in preset;
//! - [`model`]: the network ([`CausalLm`]) with embeddings at `<embtoken>` ([`CausalLm::embed`]), next-token
//!   log-probs ([`CausalLm::token_logprobs`]) and cached decoding;
//! - [`generation`]: batched B×G sampling of reasoning rollouts that return their embedding from the same pass;
//! - [`hf`]: HF directories in ([`load_dir`]) and out ([`export_dir`]);
//! - [`tokenizer`], [`format`]: the text side — special tokens and the document/query templates.
//! - [`kernels`]: attention, projections, RMSNorm, RoPE, SwiGLU and the token log-prob as fused CPU ops with their
//!   own backward.
//!
//! Padding: every entry point takes a [`TokenBatch`] with a validity mask; training pads on the right,
//! generation on the left, and both give the same results for the real tokens.

pub mod attention;
pub mod batch;
pub mod block;
pub mod cache;
pub mod chat;
pub mod config;
pub mod device;
pub mod error;
pub mod float_serde;
pub mod format;
pub mod generation;
pub mod gguf;
pub mod hf;
pub mod host;
pub mod hub_cache;
pub mod kernels;
pub mod mlp;
pub mod model;
pub mod norm;
pub mod params;
pub mod pooling;
pub mod rng;
pub mod rope;
pub mod tokenizer;
pub mod vocab;
pub mod weights;
pub mod weights_out;

pub use batch::{PadSide, TokenBatch};
pub use config::{Family, ModelConfig};
pub use device::parse_device;
pub use error::ModelError;
pub use format::TextFormat;
pub use generation::{Draw, FinishReason, Rollout, SamplingParams, StopTokens};
pub use hf::{LoadedModel, export_dir, load_dir, named_params};
pub use model::CausalLm;
pub use rng::SeededRng;
pub use tokenizer::TextTokenizer;
pub use vocab::EmbRowInit;
pub use weights_out::{WeightDtype, WeightLayout};
