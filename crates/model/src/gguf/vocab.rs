//! The HF tokenizer of a GGUF file, rebuilt from its `tokenizer.ggml.*` metadata: byte-level BPE (`model =
//! "gpt2"`) with the pre-tokenizer that `tokenizer.ggml.pre` names. Control and user-defined tokens become added
//! tokens (control ones special), so they are matched whole and never split.

use std::str::FromStr;

use serde_json::{Value as Json, json};
use tokenizers::Tokenizer;

use crate::error::ModelError;
use crate::gguf::file::{GgufFile, Value};

/// llama.cpp's token types that are matched as whole added tokens (3 = control, 4 = user-defined).
const CONTROL: i64 = 3;
const USER_DEFINED: i64 = 4;

/// The tokenizer described by `file`'s metadata.
pub fn tokenizer(file: &GgufFile) -> Result<Tokenizer, ModelError> {
    let json = tokenizer_json(file)?;
    Tokenizer::from_str(&json.to_string()).map_err(|e| ModelError::Tokenizer {
        file: file.origin.clone(),
        reason: format!("the tokenizer rebuilt from tokenizer.ggml.* does not load: {e}"),
    })
}

/// The `tokenizer.json` document for `file`'s vocabulary.
pub fn tokenizer_json(file: &GgufFile) -> Result<Json, ModelError> {
    let beside = "or put the model's HF tokenizer.json beside the .gguf file";
    let model = file.get("tokenizer.ggml.model", "the tokenizer type")?.as_str().unwrap_or_default();
    if model != "gpt2" {
        return Err(file.bad("tokenizer.ggml.model", &format!("\"gpt2\" (byte-level BPE), got {model:?}; {beside}")));
    }
    let pre = file.metadata.get("tokenizer.ggml.pre").and_then(Value::as_str).unwrap_or("default");
    let byte_level = |use_regex: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex});
    let pre_tokenizer = match pre {
        // SmolLM: every digit is its own pre-token, then GPT-2's split (llama.cpp's LLAMA_VOCAB_PRE_TYPE_SMOLLM).
        "smollm" => json!({"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true},
            byte_level(true)
        ]}),
        "default" | "gpt2" => byte_level(true),
        other => {
            return Err(file.bad(
                "tokenizer.ggml.pre",
                &format!(
                    "a pre-tokenizer this reader rebuilds (\"smollm\", \"gpt2\", \"default\"), got {other:?}; {beside}"
                ),
            ));
        }
    };
    let tokens = strings(file, "tokenizer.ggml.tokens")?;
    let merges = strings(file, "tokenizer.ggml.merges")?;
    let types: Vec<i64> = match file.metadata.get("tokenizer.ggml.token_type").and_then(Value::as_array) {
        Some(values) => {
            values.iter().map(|v| if let Value::I64(t) = v { *t } else { v.as_u64().unwrap_or(1) as i64 }).collect()
        }
        None => vec![1; tokens.len()],
    };
    if types.len() != tokens.len() {
        return Err(file.bad("tokenizer.ggml.token_type", &format!("{} entries, one per token", tokens.len())));
    }
    let vocab: serde_json::Map<String, Json> =
        tokens.iter().enumerate().map(|(id, t)| (t.to_string(), json!(id))).collect();
    if vocab.len() != tokens.len() {
        return Err(file.bad("tokenizer.ggml.tokens", "distinct token strings"));
    }
    let added: Vec<Json> = tokens
        .iter()
        .zip(&types)
        .enumerate()
        .filter(|(_, (_, t))| **t == CONTROL || **t == USER_DEFINED)
        .map(|(id, (content, t))| {
            json!({"id": id, "content": content, "single_word": false, "lstrip": false, "rstrip": false,
                   "normalized": false, "special": *t == CONTROL})
        })
        .collect();
    Ok(json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                  "vocab": vocab, "merges": merges}
    }))
}

/// The string array at `key`.
fn strings<'a>(file: &'a GgufFile, key: &str) -> Result<Vec<&'a str>, ModelError> {
    let values =
        file.get(key, "an array of strings")?.as_array().ok_or_else(|| file.bad(key, "an array of strings"))?;
    values.iter().map(|v| v.as_str().ok_or_else(|| file.bad(key, "an array of strings"))).collect()
}
