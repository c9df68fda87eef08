//! Model hyper-parameters: read from a HuggingFace `config.json`, or picked from a small built-in family.
//!
//! Only fields that change the computation are modelled. A field that would change results in a way this crate
//! does not implement (`rope_scaling`, sliding-window attention, an activation other than SiLU, MLP biases) is an
//! error, never a silent approximation.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ModelError;

/// The architecture family, from `model_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Qwen3: per-head RMSNorm on queries and keys; `attention_bias` applies to q, k, v and o.
    Qwen3,
    /// Qwen2 / Qwen2.5: q, k and v always have a bias, o has none.
    Qwen2,
    /// Llama 2/3.x, SmolLM2: `attention_bias` applies to q, k, v and o.
    Llama,
}

impl Family {
    /// The HF `model_type` string.
    pub fn model_type(self) -> &'static str {
        match self {
            Family::Qwen3 => "qwen3",
            Family::Qwen2 => "qwen2",
            Family::Llama => "llama",
        }
    }

    /// The HF `architectures` entry for a causal LM of this family.
    pub fn architecture(self) -> &'static str {
        match self {
            Family::Qwen3 => "Qwen3ForCausalLM",
            Family::Qwen2 => "Qwen2ForCausalLM",
            Family::Llama => "LlamaForCausalLM",
        }
    }
}

/// Everything the decoder needs to know about its shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Architecture family (`model_type`).
    pub family: Family,
    /// Rows of the token embedding (and of the LM head).
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the SwiGLU hidden layer.
    pub intermediate_size: usize,
    /// Number of decoder blocks.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention when smaller than `num_attention_heads`).
    pub num_key_value_heads: usize,
    /// Width of one head (HF: absent means `hidden_size / num_attention_heads`).
    pub head_dim: usize,
    /// Epsilon of every RMSNorm.
    pub rms_norm_eps: f64,
    /// RoPE base frequency.
    pub rope_theta: f64,
    /// Bias on the q, k and v projections.
    pub qkv_bias: bool,
    /// Bias on the output projection.
    pub o_bias: bool,
    /// The LM head shares the token embedding matrix.
    pub tie_word_embeddings: bool,
    /// Longest sequence the checkpoint was trained for (informational; longer inputs are an error).
    pub max_position_embeddings: usize,
}

/// Names of the built-in configurations, for `--set model.preset=...`.
pub const PRESETS: &[&str] = &["tiny", "small", "smollm2-135m"];

impl ModelConfig {
    /// A built-in configuration. `vocab_size` comes from the tokenizer the run uses.
    ///
    /// - `tiny`: Qwen3-style, 4 layers × 128 wide (≈1 M parameters without embeddings) — the embedded default.
    /// - `small`: Qwen3-style, 8 layers × 256 wide.
    /// - `smollm2-135m`: the shape of SmolLM2-135M (Llama, 30 layers × 576, GQA 9/3, tied).
    pub fn preset(name: &str, vocab_size: usize) -> Result<Self, ModelError> {
        let qwen3 = |hidden, inter, layers, heads, kv, head_dim| ModelConfig {
            family: Family::Qwen3,
            vocab_size,
            hidden_size: hidden,
            intermediate_size: inter,
            num_hidden_layers: layers,
            num_attention_heads: heads,
            num_key_value_heads: kv,
            head_dim,
            rms_norm_eps: 1e-6,
            rope_theta: 10_000.0,
            qkv_bias: false,
            o_bias: false,
            tie_word_embeddings: true,
            max_position_embeddings: 2048,
        };
        match name {
            "tiny" => Ok(qwen3(128, 384, 4, 4, 2, 32)),
            "small" => Ok(qwen3(256, 768, 8, 8, 4, 32)),
            "smollm2-135m" => Ok(ModelConfig {
                family: Family::Llama,
                vocab_size,
                hidden_size: 576,
                intermediate_size: 1536,
                num_hidden_layers: 30,
                num_attention_heads: 9,
                num_key_value_heads: 3,
                head_dim: 64,
                rms_norm_eps: 1e-5,
                rope_theta: 100_000.0,
                qkv_bias: false,
                o_bias: false,
                tie_word_embeddings: true,
                max_position_embeddings: 8192,
            }),
            other => Err(ModelError::Config {
                file: "<preset>".into(),
                field: "preset".into(),
                expected: format!("one of {PRESETS:?}, got {other:?}"),
            }),
        }
    }

    /// Reads a HF `config.json`.
    pub fn from_hf_file(path: &Path) -> Result<Self, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
        let value: Value = serde_json::from_str(&text).map_err(|e| ModelError::Config {
            file: path.display().to_string(),
            field: "<json>".into(),
            expected: format!("valid JSON: {e}"),
        })?;
        Self::from_hf_json(&value, &path.display().to_string())
    }

    /// Parses the fields of a HF `config.json` object; `file` names it in errors.
    pub fn from_hf_json(value: &Value, file: &str) -> Result<Self, ModelError> {
        let obj = value.as_object().ok_or_else(|| ModelError::Config {
            file: file.into(),
            field: "<root>".into(),
            expected: "a JSON object".into(),
        })?;
        let fields = HfFields { obj, file };
        let model_type = fields.string("model_type")?;
        let family = match model_type.as_str() {
            "qwen3" => Family::Qwen3,
            "qwen2" => Family::Qwen2,
            "llama" => Family::Llama,
            other => {
                return Err(fields.bad("model_type", &format!("one of \"qwen3\", \"qwen2\", \"llama\", got {other:?}")));
            }
        };
        fields.reject_unsupported()?;
        let hidden_size = fields.usize("hidden_size")?;
        let num_attention_heads = fields.usize("num_attention_heads")?;
        let head_dim = match obj.get("head_dim") {
            None | Some(Value::Null) => hidden_size / num_attention_heads.max(1),
            Some(_) => fields.usize("head_dim")?,
        };
        let attention_bias = fields.bool_or("attention_bias", false)?;
        let (qkv_bias, o_bias) = match family {
            Family::Qwen2 => (true, false),
            Family::Qwen3 | Family::Llama => (attention_bias, attention_bias),
        };
        let config = ModelConfig {
            family,
            vocab_size: fields.usize("vocab_size")?,
            hidden_size,
            intermediate_size: fields.usize("intermediate_size")?,
            num_hidden_layers: fields.usize("num_hidden_layers")?,
            num_attention_heads,
            num_key_value_heads: match obj.get("num_key_value_heads") {
                None | Some(Value::Null) => num_attention_heads,
                Some(_) => fields.usize("num_key_value_heads")?,
            },
            head_dim,
            rms_norm_eps: fields.f64("rms_norm_eps")?,
            rope_theta: fields.rope_theta()?,
            qkv_bias,
            o_bias,
            tie_word_embeddings: fields.bool_or("tie_word_embeddings", false)?,
            max_position_embeddings: fields.usize("max_position_embeddings")?,
        };
        config.validate(file)?;
        Ok(config)
    }

    /// Checks the shape relations the forward pass relies on.
    pub fn validate(&self, file: &str) -> Result<(), ModelError> {
        let bad =
            |field: &str, expected: String| ModelError::Config { file: file.into(), field: field.into(), expected };
        for (field, v) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.num_key_value_heads),
            ("head_dim", self.head_dim),
        ] {
            if v == 0 {
                return Err(bad(field, "a positive integer".into()));
            }
        }
        if !self.num_attention_heads.is_multiple_of(self.num_key_value_heads) {
            return Err(bad(
                "num_key_value_heads",
                format!(
                    "a divisor of num_attention_heads ({}), got {}",
                    self.num_attention_heads, self.num_key_value_heads
                ),
            ));
        }
        if !self.head_dim.is_multiple_of(2) {
            return Err(bad("head_dim", format!("an even number (RoPE), got {}", self.head_dim)));
        }
        if self.rms_norm_eps.is_nan() || self.rms_norm_eps <= 0.0 {
            return Err(bad("rms_norm_eps", "a positive number".into()));
        }
        if self.rope_theta.is_nan() || self.rope_theta <= 0.0 {
            return Err(bad("rope_theta", "a positive number".into()));
        }
        Ok(())
    }

    /// Number of parameters (tied head counted once).
    pub fn num_params(&self) -> usize {
        let (h, i, hd) = (self.hidden_size, self.intermediate_size, self.head_dim);
        let (q, kv) = (self.num_attention_heads * hd, self.num_key_value_heads * hd);
        let qk_norm = if self.family == Family::Qwen3 { 2 * hd } else { 0 };
        let bias = if self.qkv_bias { q + 2 * kv } else { 0 } + if self.o_bias { h } else { 0 };
        let layer = h * q + 2 * h * kv + q * h + bias + qk_norm + 3 * h * i + 2 * h;
        let embed = self.vocab_size * h;
        let head = if self.tie_word_embeddings { 0 } else { embed };
        embed + head + self.num_hidden_layers * layer + h
    }

    /// Forward FLOPs per token of the matrix products (2 × multiply-adds), attention scores excluded.
    /// Every weight matrix is used once per token, the LM head included (tied or not); the embedding lookup
    /// is free. A training step costs about three times this.
    pub fn forward_flops_per_token(&self) -> usize {
        let lookup_only = if self.tie_word_embeddings { 0 } else { self.vocab_size * self.hidden_size };
        2 * (self.num_params() - lookup_only)
    }

    /// The HF `config.json` object for this configuration. Fields of `base` (the file this model was loaded
    /// from, if any) are kept, so that export changes only what training changed (e.g. a grown vocabulary).
    pub fn to_hf_json(&self, base: Option<&Value>) -> Value {
        let mut obj = base.and_then(Value::as_object).cloned().unwrap_or_else(Map::new);
        // transformers 5 writes `dtype`, 4.x `torch_dtype`; export writes f32 weights, so both must say so.
        let has_dtype = obj.contains_key("dtype");
        let mut set = |k: &str, v: Value| {
            obj.insert(k.to_string(), v);
        };
        set("model_type", Value::from(self.family.model_type()));
        set("architectures", Value::from(vec![self.family.architecture()]));
        set("vocab_size", Value::from(self.vocab_size));
        set("hidden_size", Value::from(self.hidden_size));
        set("intermediate_size", Value::from(self.intermediate_size));
        set("num_hidden_layers", Value::from(self.num_hidden_layers));
        set("num_attention_heads", Value::from(self.num_attention_heads));
        set("num_key_value_heads", Value::from(self.num_key_value_heads));
        set("head_dim", Value::from(self.head_dim));
        set("rms_norm_eps", Value::from(self.rms_norm_eps));
        set("rope_theta", Value::from(self.rope_theta));
        set("tie_word_embeddings", Value::from(self.tie_word_embeddings));
        set("max_position_embeddings", Value::from(self.max_position_embeddings));
        set("hidden_act", Value::from("silu"));
        set("torch_dtype", Value::from("float32"));
        if has_dtype {
            set("dtype", Value::from("float32"));
        }
        if self.family != Family::Qwen2 {
            set("attention_bias", Value::from(self.qkv_bias));
        }
        Value::Object(obj)
    }
}

/// Typed access to the fields of a HF config object, with errors that name the file and the field.
struct HfFields<'a> {
    obj: &'a Map<String, Value>,
    file: &'a str,
}

impl HfFields<'_> {
    fn bad(&self, field: &str, expected: &str) -> ModelError {
        ModelError::Config { file: self.file.into(), field: field.into(), expected: expected.into() }
    }

    fn get(&self, field: &str, expected: &str) -> Result<&Value, ModelError> {
        self.obj.get(field).ok_or_else(|| self.bad(field, &format!("{expected} (field is missing)")))
    }

    fn string(&self, field: &str) -> Result<String, ModelError> {
        let v = self.get(field, "a string")?;
        v.as_str().map(str::to_string).ok_or_else(|| self.bad(field, &format!("a string, got {v}")))
    }

    fn usize(&self, field: &str) -> Result<usize, ModelError> {
        let v = self.get(field, "a non-negative integer")?;
        v.as_u64().map(|x| x as usize).ok_or_else(|| self.bad(field, &format!("a non-negative integer, got {v}")))
    }

    fn f64(&self, field: &str) -> Result<f64, ModelError> {
        let v = self.get(field, "a number")?;
        v.as_f64().ok_or_else(|| self.bad(field, &format!("a number, got {v}")))
    }

    fn f64_or(&self, field: &str, default: f64) -> Result<f64, ModelError> {
        match self.obj.get(field) {
            None | Some(Value::Null) => Ok(default),
            Some(_) => self.f64(field),
        }
    }

    /// `rope_theta` at the top level (transformers 4.x) or inside `rope_parameters` (transformers 5.x).
    fn rope_theta(&self) -> Result<f64, ModelError> {
        if let Some(v) = self.obj.get("rope_parameters").and_then(|p| p.get("rope_theta")) {
            return v.as_f64().ok_or_else(|| self.bad("rope_parameters.rope_theta", &format!("a number, got {v}")));
        }
        self.f64_or("rope_theta", 10_000.0)
    }

    fn bool_or(&self, field: &str, default: bool) -> Result<bool, ModelError> {
        match self.obj.get(field) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v.as_bool().ok_or_else(|| self.bad(field, &format!("true or false, got {v}"))),
        }
    }

    /// Fields whose presence would change the computation in ways this crate does not implement.
    fn reject_unsupported(&self) -> Result<(), ModelError> {
        if let Some(v) = self.obj.get("rope_scaling").filter(|v| !v.is_null()) {
            return Err(self.bad("rope_scaling", &format!("null (RoPE scaling is not implemented; got {v})")));
        }
        if let Some(v) = self.obj.get("rope_parameters").and_then(|v| v.get("rope_type"))
            && v != "default"
        {
            return Err(self
                .bad("rope_parameters.rope_type", &format!("\"default\" (RoPE scaling is not implemented; got {v})")));
        }
        if let Some(act) = self.obj.get("hidden_act")
            && act != "silu"
        {
            return Err(self.bad("hidden_act", &format!("\"silu\", got {act}")));
        }
        if self.bool_or("use_sliding_window", false)? {
            return Err(self.bad("use_sliding_window", "false (sliding-window attention is not implemented)"));
        }
        if self.bool_or("mlp_bias", false)? {
            return Err(self.bad("mlp_bias", "false (MLP biases are not implemented)"));
        }
        Ok(())
    }
}
