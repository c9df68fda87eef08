//! Opening the model a recipe or command names: a HF directory, or a built-in preset with a tokenizer.

use std::path::Path;

use anyhow::Context;
use burn::tensor::Device;
use model::{CausalLm, LoadedModel, ModelConfig, TextFormat, TextTokenizer};

use crate::recipe::ModelSpec;

/// Loads `spec` onto `device`, with `format`'s embedding token registered in the tokenizer.
pub fn open(spec: &ModelSpec, format: &TextFormat, device: &Device) -> anyhow::Result<LoadedModel> {
    match &spec.path {
        Some(dir) => open_dir(dir, &format.emb_token, device),
        None => {
            let tokenizer = TextTokenizer::from_file(&spec.tokenizer, &format.emb_token)?;
            let config = ModelConfig::preset(&spec.preset, tokenizer.vocab_size())?;
            let model = CausalLm::init_random(config.clone(), spec.init_seed, device)?;
            Ok(LoadedModel { model, tokenizer, hf_config: config.to_hf_json(None), unused: Vec::new(), emb_row: None })
        }
    }
}

/// Loads a HF model directory (or a `.gguf` file, or a hub id from the local HF cache), naming it in the error; says on stderr when the embedding
/// token's row was made.
pub fn open_dir(dir: &Path, emb_token: &str, device: &Device) -> anyhow::Result<LoadedModel> {
    let dir = &model::hub_cache::resolve(dir);
    let loaded = if model::gguf::is_gguf(dir) {
        model::gguf::load_gguf(dir, emb_token, device)
    } else {
        model::load_dir(dir, emb_token, device)
    };
    let loaded = loaded.with_context(|| format!("loading the model in {}", dir.display()))?;
    if let Some(plan) = loaded.emb_row.as_ref().filter(|p| p.changes_weights()) {
        eprintln!("{}: {plan}", dir.display());
    }
    Ok(loaded)
}

/// The text formats stored next to an exported model (`embedding_format.json`), or the defaults.
pub fn stored_format(dir: &Path) -> anyhow::Result<TextFormat> {
    let path = dir.join("embedding_format.json");
    if !path.is_file() {
        return Ok(TextFormat::default());
    }
    let value: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)
        .with_context(|| format!("{}: not valid JSON", path.display()))?;
    let text = |k: &str, default: &str| value.get(k).and_then(|v| v.as_str()).unwrap_or(default).to_string();
    let d = TextFormat::default();
    let format = TextFormat {
        emb_token: text("emb_token", &d.emb_token),
        document_template: text("document_template", &d.document_template),
        query_template: text("query_template", &d.query_template),
        document_instruction: text("document_instruction", &d.document_instruction),
        query_instruction: text("query_instruction", &d.query_instruction),
        // An export stores the query template with any chat template already applied.
        chat_template: false,
    };
    format.validate().with_context(|| format!("{}: the stored text formats", path.display()))?;
    Ok(format)
}
