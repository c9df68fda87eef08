//! HF model directories in and out: `config.json`, `model.safetensors` (or a sharded index), `tokenizer.json`.
//!
//! Loading converts any float dtype on disk to f32 and grows the vocabulary when the embedding token had to be
//! added to the tokenizer. Export writes HF names and `[out, in]` projection layout, the config (with the grown
//! vocabulary), the tokenizer with the embedding token, and a sentence-transformers description of the pooling, so
//! `transformers` and `sentence-transformers` load the result directly.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::tensor::{Device, Tensor};
use serde_json::{Value, json};

use crate::chat::ChatTemplate;
use crate::config::ModelConfig;
use crate::error::ModelError;
use crate::format::TextFormat;
use crate::host::to_vec;
use crate::model::CausalLm;
use crate::params::transpose_host;
use crate::tokenizer::TextTokenizer;
use crate::vocab::{EmbRowInit, WithEmbRow};
use crate::weights::{CheckpointWeights, WeightSource};
use crate::weights_out::{WeightDtype, WeightLayout, write_file, write_weights};

/// Host tensors by HF name: shape and row-major f32 values.
pub type HostTensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// A model loaded from a HF directory, with what export needs to write it back.
#[derive(Debug, Clone)]
pub struct LoadedModel {
    /// The network.
    pub model: CausalLm,
    /// Its tokenizer, with the embedding token registered.
    pub tokenizer: TextTokenizer,
    /// The original `config.json`, kept so export changes only what changed.
    pub hf_config: Value,
    /// Checkpoint tensors the model did not use (e.g. a duplicated tied `lm_head.weight`).
    pub unused: Vec<String>,
    /// How the embedding token's row was set up; `None` for a freshly initialised model.
    pub emb_row: Option<EmbRowInit>,
}

/// Loads a HF model directory onto `device`; `emb_token` is added to the tokenizer when missing, and its row is
/// mean-initialised (see [`crate::vocab`]).
pub fn load_dir(dir: &Path, emb_token: &str, device: &Device) -> Result<LoadedModel, ModelError> {
    let config_path = dir.join("config.json");
    if !config_path.is_file() {
        return Err(ModelError::Io {
            path: config_path.display().to_string(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no config.json: not a HF model directory"),
        });
    }
    let text = std::fs::read_to_string(&config_path).map_err(|e| ModelError::io(&config_path, e))?;
    let hf_config: Value = serde_json::from_str(&text).map_err(|e| ModelError::Config {
        file: config_path.display().to_string(),
        field: "<json>".into(),
        expected: format!("valid JSON: {e}"),
    })?;
    let config = ModelConfig::from_hf_json(&hf_config, &config_path.display().to_string())?;
    let mut tokenizer = TextTokenizer::from_file(&dir.join("tokenizer.json"), emb_token)?;
    tokenizer.chat_template = ChatTemplate::from_dir(dir)?;
    let weights = CheckpointWeights::open_dir(dir)?;
    build_pretrained(config, Box::new(weights), tokenizer, hf_config, device)
}

/// Builds a pretrained model from `weights`, making room for (and initialising) the embedding token's row.
pub(crate) fn build_pretrained(
    mut config: ModelConfig,
    weights: Box<dyn WeightSource>,
    tokenizer: TextTokenizer,
    hf_config: Value,
    device: &Device,
) -> Result<LoadedModel, ModelError> {
    // Ids past the checkpoint's embedding rows would index out of range (a panic on CPU, garbage on a GPU); only
    // the embedding token, when this run adds it, may lie past them (its row is made below).
    let own_ids = tokenizer.vocab_size() - usize::from(tokenizer.added_emb_token);
    if own_ids > config.vocab_size {
        return Err(ModelError::Config {
            file: "tokenizer.json".into(),
            field: "vocabulary".into(),
            expected: format!(
                "at most the model's {} embedding rows (config.json vocab_size), but the tokenizer has {own_ids} \
                 ids: is it the tokenizer of another model?",
                config.vocab_size
            ),
        });
    }
    let plan = EmbRowInit::plan(config.vocab_size, tokenizer.emb_id as usize, tokenizer.added_emb_token);
    config.vocab_size = plan.vocab;
    let (model, unused) = CausalLm::build(config, Box::new(WithEmbRow::new(weights, plan.clone())), device)?;
    Ok(LoadedModel { model, tokenizer, hf_config, unused, emb_row: Some(plan) })
}

/// One parameter by its HF name.
#[derive(Debug, Clone)]
pub struct NamedParam {
    /// HF checkpoint name, e.g. `model.layers.0.mlp.up_proj.weight`.
    pub name: String,
    /// burn's parameter id (keys gradients and optimizer state).
    pub id: ParamId,
    /// Shape as stored in burn (`[in, out]` for projections).
    pub shape: Vec<usize>,
    /// Whether it is a `Linear` weight (stored transposed relative to HF).
    pub is_linear_weight: bool,
}

/// Every float parameter of `model` with its HF name, in module order.
pub fn named_params<M: Module>(model: &M) -> Vec<NamedParam> {
    let mut visitor = NameVisitor::default();
    model.visit(&mut visitor);
    visitor.out
}

#[derive(Default)]
struct NameVisitor {
    stack: Vec<(String, String)>,
    out: Vec<NamedParam>,
}

impl ModuleVisitor for NameVisitor {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.stack.push((name.to_string(), container_type.to_string()));
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let name = self.stack.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(".");
        let is_linear_weight =
            self.stack.last().is_some_and(|(n, container)| n == "weight" && container == "Struct:Linear");
        self.out.push(NamedParam { name, id: param.id, shape: param.shape().dims::<D>().to_vec(), is_linear_weight });
    }
}

/// Host copies of every parameter in HF layout: name → (shape, f32 values).
pub fn hf_tensors(model: &CausalLm) -> Result<HostTensors, ModelError> {
    let mut visitor = HostVisitor::default();
    model.visit(&mut visitor);
    if let Some(e) = visitor.error {
        return Err(e);
    }
    Ok(visitor.out)
}

#[derive(Default)]
struct HostVisitor {
    names: NameVisitor,
    out: HostTensors,
    error: Option<ModelError>,
}

impl ModuleVisitor for HostVisitor {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.names.enter_module(name, container_type);
    }

    fn exit_module(&mut self, name: &str, container_type: &str) {
        self.names.exit_module(name, container_type);
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.names.visit_float(param);
        let named = self.names.out.pop().expect("just pushed");
        let values = match to_vec(param.val()) {
            Ok(v) => v,
            Err(e) => {
                self.error = Some(ModelError::Input(format!("{}: {e}", named.name)));
                return;
            }
        };
        let (shape, values) = if named.is_linear_weight {
            let (d_in, d_out) = (named.shape[0], named.shape[1]);
            (vec![d_out, d_in], transpose_host(&values, d_in, d_out))
        } else {
            (named.shape.clone(), values)
        };
        self.out.insert(named.name, (shape, values));
    }
}

/// Writes `tensors` as one f32 safetensors file, atomically (temporary file, then rename).
pub fn write_safetensors(path: &Path, tensors: &HostTensors) -> Result<(), ModelError> {
    write_file(path, tensors.iter(), WeightDtype::F32)
}

/// Writes `data` to `path` through a temporary sibling and a rename, so readers never see half a file, and durably:
/// the file is fsynced before the rename and its folder after it.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), ModelError> {
    let tmp = tmp_sibling(path);
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut file, data)?;
        file.sync_all()
    };
    write().map_err(|e| ModelError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| ModelError::io(path, e))?;
    sync_dir(path.parent().unwrap_or(Path::new("."))).map_err(|e| ModelError::io(path, e))
}

/// Flushes a folder's entries (new names, renames) to disk, so they survive a power loss or a node crash.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    std::fs::File::open(dir)?.sync_all()
}

fn tmp_sibling(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Exports a HF model directory at `dir` (created if needed): weights (as `layout` says), config, tokenizer and
/// the sentence-transformers files describing `<embtoken>` pooling.
pub fn export_dir(
    dir: &Path,
    model: &CausalLm,
    tokenizer: &TextTokenizer,
    hf_config: Option<&Value>,
    format: &TextFormat,
    layout: WeightLayout,
) -> Result<(), ModelError> {
    std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
    write_weights(dir, &hf_tensors(model)?, layout)?;
    let mut config = model.config.to_hf_json(hf_config);
    if let Some(obj) = config.as_object_mut() {
        obj.insert("torch_dtype".into(), json!(layout.dtype.torch_name()));
        if obj.contains_key("dtype") {
            obj.insert("dtype".into(), json!(layout.dtype.torch_name()));
        }
        if let Some(eos) = tokenizer.eos_id {
            obj.insert("eos_token_id".into(), json!(eos));
        }
        obj.insert("pad_token_id".into(), json!(tokenizer.pad_id));
    }
    write_json(&dir.join("config.json"), &config)?;
    write_atomic(&dir.join("tokenizer.json"), tokenizer.to_export_json()?.as_bytes())?;
    write_tokenizer_config(dir, tokenizer, model.config.max_position_embeddings)?;
    write_sentence_transformers(dir, model.config.hidden_size, tokenizer, format)
}

/// `tokenizer_config.json` (and `chat_template.jinja` when the source had one): the generic fast-tokenizer class,
/// so `AutoTokenizer` uses `tokenizer.json` exactly as written instead of a model family's own rebuild of it.
fn write_tokenizer_config(dir: &Path, tokenizer: &TextTokenizer, max_length: usize) -> Result<(), ModelError> {
    let mut config = json!({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": max_length,
        "padding_side": "left",
        "clean_up_tokenization_spaces": false,
        "pad_token": tokenizer.token_text(tokenizer.pad_id),
        "additional_special_tokens": [tokenizer.emb_token],
    });
    if let Some(eos) = tokenizer.eos_id.and_then(|id| tokenizer.token_text(id)) {
        config["eos_token"] = json!(eos);
    }
    if let Some(chat) = &tokenizer.chat_template {
        write_atomic(&dir.join("chat_template.jinja"), chat.text.as_bytes())?;
        if !chat.bos_token.is_empty() {
            config["bos_token"] = json!(chat.bos_token);
        }
    }
    write_json(&dir.join("tokenizer_config.json"), &config)
}

fn write_json(path: &Path, value: &Value) -> Result<(), ModelError> {
    let text = serde_json::to_string_pretty(value).expect("JSON values serialise");
    write_atomic(path, text.as_bytes())
}

/// The sentence-transformers description: a transformer, last-token pooling (the text ends with the embedding
/// token, so the last token *is* it) and L2 normalisation; plus our own note of the text formats.
fn write_sentence_transformers(
    dir: &Path,
    hidden: usize,
    tokenizer: &TextTokenizer,
    format: &TextFormat,
) -> Result<(), ModelError> {
    let modules = json!([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}
    ]);
    write_json(&dir.join("modules.json"), &modules)?;
    let (query, document) = format.sentence_transformers_prompts();
    let mut prompts = serde_json::Map::new();
    if let Some(p) = query {
        prompts.insert("query".into(), json!(p));
    }
    if let Some(p) = document {
        prompts.insert("document".into(), json!(p));
    }
    write_json(
        &dir.join("config_sentence_transformers.json"),
        &json!({"prompts": prompts, "default_prompt_name": null, "similarity_fn_name": "cosine"}),
    )?;
    write_json(&dir.join("sentence_bert_config.json"), &json!({"max_seq_length": 8192, "do_lower_case": false}))?;
    let pooling_dir = dir.join("1_Pooling");
    std::fs::create_dir_all(&pooling_dir).map_err(|e| ModelError::io(&pooling_dir, e))?;
    let normalize_dir = dir.join("2_Normalize");
    std::fs::create_dir_all(&normalize_dir).map_err(|e| ModelError::io(&normalize_dir, e))?;
    write_json(
        &pooling_dir.join("config.json"),
        &json!({
            "word_embedding_dimension": hidden,
            "pooling_mode_cls_token": false,
            "pooling_mode_mean_tokens": false,
            "pooling_mode_max_tokens": false,
            "pooling_mode_mean_sqrt_len_tokens": false,
            "pooling_mode_weightedmean_tokens": false,
            "pooling_mode_lasttoken": true,
            "include_prompt": true
        }),
    )?;
    write_json(
        &dir.join("embedding_format.json"),
        &json!({
            "emb_token": tokenizer.emb_token,
            "emb_token_id": tokenizer.emb_id,
            "pooling": "final-norm hidden state at the last emb_token, L2-normalised",
            "document_template": format.document_template,
            "document_instruction": format.document_instruction,
            "query_template": format.query_template,
            "query_instruction": format.query_instruction,
            "note": "The embedding is the final-norm hidden state at emb_token, the last token. Encode a formatted text (ending with emb_token) without special tokens, or the text without emb_token with special tokens added: the tokenizer's post-processor appends it (as sentence-transformers does; its prompts are in config_sentence_transformers.json)."
        }),
    )
}
