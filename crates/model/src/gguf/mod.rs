//! Loading a llama.cpp GGUF file as a pretrained model: `model.path` may name a `.gguf` instead of a HF folder.
//!
//! - [`file`]: the container (metadata, tensor directory, data);
//! - [`quant`], [`kquant`]: dequantisation of F32 / F16 / BF16 / Q4_0 / Q4_1 / Q5_0 / Q5_1 / Q8_0 / Q2_K–Q6_K;
//! - [`names`]: llama.cpp tensor names and the Llama query/key row permutation;
//! - [`vocab`]: the HF tokenizer rebuilt from the file's `tokenizer.ggml.*` metadata.
//!
//! Quantised weights are dequantised once, at load; training then runs in f32 like any other checkpoint, and an
//! export is an ordinary HF folder. A `tokenizer.json` beside the file, when present, is used instead of the
//! rebuilt one (for tokenizers whose pre-tokenizer this module does not know).

pub mod file;
pub mod kquant;
pub mod names;
pub mod quant;
pub mod vocab;

use std::collections::BTreeSet;
use std::path::Path;

use burn::tensor::Device;
use serde_json::json;

use crate::chat::ChatTemplate;
use crate::config::{Family, ModelConfig};
use crate::error::ModelError;
use crate::hf::{LoadedModel, build_pretrained};
use crate::tokenizer::TextTokenizer;
use crate::weights::{Init, WeightSource};
use file::GgufFile;

/// Whether `path` names a GGUF file (by extension).
pub fn is_gguf(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
}

/// Loads a GGUF model file onto `device`, with `emb_token` added to its tokenizer when missing.
pub fn load_gguf(path: &Path, emb_token: &str, device: &Device) -> Result<LoadedModel, ModelError> {
    let file = GgufFile::open(path)?;
    let config = config_from_metadata(&file)?;
    let beside = path.with_file_name("tokenizer.json");
    let mut tokenizer = if beside.is_file() {
        TextTokenizer::from_file(&beside, emb_token)?
    } else {
        TextTokenizer::from_tokenizer(vocab::tokenizer(&file)?, &file.origin, emb_token)?
    };
    tokenizer.chat_template = chat_template(&file, &tokenizer);
    let mut hf_config = config.to_hf_json(None);
    for (key, field) in
        [("bos_token_id", "tokenizer.ggml.bos_token_id"), ("eos_token_id", "tokenizer.ggml.eos_token_id")]
    {
        if let Some(id) = file.metadata.get(field).and_then(|v| v.as_u64()) {
            hf_config[key] = json!(id);
        }
    }
    let weights = GgufWeights::new(file, config.family, config.num_attention_heads, config.num_key_value_heads);
    build_pretrained(config, Box::new(weights), tokenizer, hf_config, device)
}

/// The file's `tokenizer.chat_template`, with its BOS/EOS token texts.
fn chat_template(file: &GgufFile, tokenizer: &TextTokenizer) -> Option<ChatTemplate> {
    let text = file.metadata.get("tokenizer.chat_template")?.as_str()?.to_string();
    let token = |key: &str| {
        let id = file.metadata.get(key).and_then(|v| v.as_u64())?;
        tokenizer.token_text(id as u32)
    };
    Some(ChatTemplate {
        source: format!("{}: tokenizer.chat_template", file.origin),
        text,
        bos_token: token("tokenizer.ggml.bos_token_id").unwrap_or_default(),
        eos_token: token("tokenizer.ggml.eos_token_id").unwrap_or_default(),
    })
}

/// The decoder's shape from the `{architecture}.*` metadata keys.
pub fn config_from_metadata(file: &GgufFile) -> Result<ModelConfig, ModelError> {
    let arch = file.get("general.architecture", "the model architecture")?;
    let arch = arch.as_str().ok_or_else(|| file.bad("general.architecture", "a string"))?.to_string();
    let family = match arch.as_str() {
        "llama" => Family::Llama,
        "qwen2" => Family::Qwen2,
        "qwen3" => Family::Qwen3,
        other => return Err(file.bad("general.architecture", &format!("llama, qwen2 or qwen3, got {other:?}"))),
    };
    let key = |k: &str| format!("{arch}.{k}");
    let int = |k: &str| -> Result<usize, ModelError> {
        let k = key(k);
        file.get(&k, "a non-negative integer")?.as_u64().map(|v| v as usize).ok_or_else(|| file.bad(&k, "an integer"))
    };
    let int_or = |k: &str, default: usize| if file.metadata.contains_key(&key(k)) { int(k) } else { Ok(default) };
    let float_or = |k: &str, default: f64| match file.metadata.get(&key(k)) {
        None => Ok(default),
        Some(v) => v.as_f64().ok_or_else(|| file.bad(&key(k), "a number")),
    };
    if let Some(kind) = file.metadata.get(&key("rope.scaling.type")).and_then(|v| v.as_str())
        && kind != "none"
    {
        return Err(file.bad(&key("rope.scaling.type"), &format!("no RoPE scaling (not implemented), got {kind:?}")));
    }
    let hidden_size = int("embedding_length")?;
    let heads = int("attention.head_count")?;
    let head_dim = int_or("attention.key_length", hidden_size / heads.max(1))?;
    if int_or("rope.dimension_count", head_dim)? != head_dim {
        return Err(file.bad(&key("rope.dimension_count"), &format!("{head_dim} (partial rotary is not supported)")));
    }
    let embedding = file.tensors.get("token_embd.weight").ok_or_else(|| ModelError::Checkpoint {
        file: file.origin.clone(),
        problems: "  missing tensor `token_embd.weight`".into(),
    })?;
    let vocab_size = int_or("vocab_size", embedding.dims.get(1).copied().unwrap_or(0))?;
    let attention_bias = file.tensors.contains_key("blk.0.attn_q.bias");
    let config = ModelConfig {
        family,
        vocab_size,
        hidden_size,
        intermediate_size: int("feed_forward_length")?,
        num_hidden_layers: int("block_count")?,
        num_attention_heads: heads,
        num_key_value_heads: int_or("attention.head_count_kv", heads)?,
        head_dim,
        rms_norm_eps: float_or("attention.layer_norm_rms_epsilon", 1e-6)?,
        rope_theta: float_or("rope.freq_base", 10_000.0)?,
        qkv_bias: family == Family::Qwen2 || attention_bias,
        o_bias: family != Family::Qwen2 && file.tensors.contains_key("blk.0.attn_output.bias"),
        tie_word_embeddings: !file.tensors.contains_key("output.weight"),
        max_position_embeddings: int("context_length")?,
    };
    config.validate(&file.origin)?;
    Ok(config)
}

/// GGUF tensors served by HF name and HF layout (dequantised; Llama's query/key rows un-permuted).
pub struct GgufWeights {
    file: GgufFile,
    family: Family,
    heads: usize,
    kv_heads: usize,
    used: BTreeSet<String>,
    problems: Vec<String>,
}

impl GgufWeights {
    /// Serves the tensors of `file` for a model of `family` with the given head counts.
    pub fn new(file: GgufFile, family: Family, heads: usize, kv_heads: usize) -> Self {
        Self { file, family, heads, kv_heads, used: BTreeSet::new(), problems: Vec::new() }
    }
}

impl WeightSource for GgufWeights {
    fn take(&mut self, name: &str, shape: &[usize], _init: Init) -> Vec<f32> {
        let zeros = || vec![0.0; shape.iter().product()];
        let Some(gguf) = names::gguf_name(name) else {
            self.problems.push(format!("  `{name}` has no llama.cpp counterpart"));
            return zeros();
        };
        let Some(info) = self.file.tensors.get(&gguf) else {
            self.problems.push(format!("  missing tensor `{gguf}` (HF `{name}`), expected shape {shape:?}"));
            return zeros();
        };
        if info.shape() != shape {
            self.problems.push(format!("  tensor `{gguf}` has shape {:?}, expected {shape:?}", info.shape()));
            return zeros();
        }
        self.used.insert(gguf);
        let values = info.kind.dequantize(self.file.raw(info), info.len());
        match names::permuted_heads(name, self.heads, self.kv_heads) {
            Some(heads) if self.family == Family::Llama => {
                let cols = if shape.len() == 2 { shape[1] } else { 1 };
                names::unpermute_rows(&values, heads, cols)
            }
            _ => values,
        }
    }

    fn has(&self, name: &str) -> bool {
        names::gguf_name(name).is_some_and(|g| self.file.tensors.contains_key(&g))
    }

    fn finish(self: Box<Self>) -> Result<Vec<String>, ModelError> {
        if !self.problems.is_empty() {
            return Err(ModelError::Checkpoint { file: self.file.origin, problems: self.problems.join("\n") });
        }
        Ok(self.file.tensors.keys().filter(|k| !self.used.contains(*k)).cloned().collect())
    }
}
