//! `trainer embed`: encode texts (documents, or queries without generated reasoning) with a model directory and
//! write L2-normalised float32 embeddings `[n, hidden]` as `.npy`, in input order.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use model::{CausalLm, PadSide, TextTokenizer, TokenBatch};

use crate::model_source;
use crate::npy;

/// How texts are formatted before encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TextKind {
    /// `instruction + text + <embtoken>`.
    Document,
    /// `instruction + query + <embtoken>` (no reasoning is generated here).
    Query,
}

/// Arguments of `trainer embed`.
#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// HF model directory (e.g. a stage's `final/model` export).
    #[arg(long)]
    pub model: PathBuf,
    /// Texts: JSONL (one object per line) or Parquet.
    #[arg(long)]
    pub input: PathBuf,
    /// Output `.npy` file.
    #[arg(long)]
    pub output: PathBuf,
    /// Document or query formatting.
    #[arg(long, value_enum, default_value_t = TextKind::Document)]
    pub kind: TextKind,
    /// Instruction put before each text (default: the one stored with the model, else the built-in one).
    #[arg(long)]
    pub instruction: Option<String>,
    /// Field (JSONL) or column (Parquet) holding the text.
    #[arg(long, default_value = "text")]
    pub column: String,
    /// Texts per forward pass.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Longest input in tokens; longer texts are cut before the embedding token.
    #[arg(long, default_value_t = 512)]
    pub max_tokens: usize,
    /// Backend: cpu, wgpu[:N], cuda[:N].
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// Runs `trainer embed`.
pub fn run(args: &EmbedArgs) -> anyhow::Result<()> {
    if args.batch_size == 0 || args.max_tokens < 2 {
        bail!("--batch-size must be ≥ 1 and --max-tokens ≥ 2");
    }
    let device = model::parse_device(&args.device)?;
    let mut format = model_source::stored_format(&args.model)?;
    let loaded = model_source::open_dir(&args.model, &format.emb_token, &device)?;
    if let Some(instruction) = &args.instruction {
        match args.kind {
            TextKind::Document => format.document_instruction = instruction.clone(),
            TextKind::Query => format.query_instruction = instruction.clone(),
        }
    }
    let texts = read_texts(&args.input, &args.column)?;
    let kind = match args.kind {
        TextKind::Document => "documents",
        TextKind::Query => "queries",
    };
    eprintln!("embedding {} texts from {} as {kind}", texts.len(), args.input.display());
    let inputs: Vec<String> = texts
        .iter()
        .map(|t| match args.kind {
            TextKind::Document => format.document(t),
            TextKind::Query => format.query(t, ""),
        })
        .collect();
    let embeddings = embed_texts(&loaded.model, &loaded.tokenizer, &inputs, args.batch_size, args.max_tokens, true)?;
    let dim = loaded.model.config.hidden_size;
    npy::write_f32_matrix(&args.output, &embeddings, texts.len(), dim)
        .with_context(|| format!("writing {}", args.output.display()))?;
    eprintln!("wrote {} × {dim} float32 to {}", texts.len(), args.output.display());
    Ok(())
}

/// Embeds already formatted `inputs` (each must contain the embedding token), cut to `max_tokens`; returns
/// row-major `[inputs.len(), hidden]` in input order.
pub fn embed_texts(
    model: &CausalLm,
    tokenizer: &TextTokenizer,
    inputs: &[String],
    batch_size: usize,
    max_tokens: usize,
    progress: bool,
) -> anyhow::Result<Vec<f32>> {
    let encoded: Vec<Vec<u32>> =
        inputs.iter().map(|t| encode_with_emb_tail(tokenizer, t, max_tokens)).collect::<Result<_, _>>()?;
    embed_rows(model, tokenizer, &encoded, batch_size, progress)
}

/// Embeds token rows that end with the embedding token, without a graph, batching rows of similar length
/// together; returns row-major `[rows.len(), hidden]` in input order.
pub fn embed_rows(
    model: &CausalLm,
    tokenizer: &TextTokenizer,
    rows: &[Vec<u32>],
    batch_size: usize,
    progress: bool,
) -> anyhow::Result<Vec<f32>> {
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(rows[i].len()));
    let dim = model.config.hidden_size;
    let mut out = vec![0.0f32; rows.len() * dim];
    let bar = if progress { ProgressBar::new(rows.len() as u64) } else { ProgressBar::hidden() };
    bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} texts {per_sec} eta {eta}").expect("template"));
    let frozen = burn::module::Module::valid(model);
    for chunk in order.chunks(batch_size) {
        let batch_rows: Vec<Vec<u32>> = chunk.iter().map(|&i| rows[i].clone()).collect();
        let batch = TokenBatch::new(&batch_rows, tokenizer.pad_id, PadSide::Right)?;
        let values = model::host::to_vec(frozen.embed(&batch, tokenizer.emb_id)?)?;
        for (k, &i) in chunk.iter().enumerate() {
            out[i * dim..(i + 1) * dim].copy_from_slice(&values[k * dim..(k + 1) * dim]);
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(out)
}

/// Token ids of `text`, cut to `max_tokens` so that the last id is still the embedding token.
pub fn encode_with_emb_tail(tokenizer: &TextTokenizer, text: &str, max_tokens: usize) -> anyhow::Result<Vec<u32>> {
    let mut ids = tokenizer.encode(text)?;
    if ids.last() != Some(&tokenizer.emb_id) {
        bail!("formatted text does not end with the embedding token {:?}: {text:?}", tokenizer.emb_token);
    }
    if ids.len() > max_tokens {
        ids.truncate(max_tokens - 1);
        ids.push(tokenizer.emb_id);
    }
    Ok(ids)
}

/// Texts from a JSONL file (field `column` of each line's object) or a Parquet file (string column `column`).
pub fn read_texts(path: &Path, column: &str) -> anyhow::Result<Vec<String>> {
    let is_parquet = path.extension().is_some_and(|e| e == "parquet");
    if is_parquet {
        return Ok(data::read_string_column(&[path.display().to_string()], column)?);
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("{}:{}: not a JSON object", path.display(), i + 1))?;
        match value.get(column).and_then(|v| v.as_str()) {
            Some(t) if !t.is_empty() => out.push(t.to_string()),
            _ => bail!("{}:{}: field `{column}` is missing, empty or not a string", path.display(), i + 1),
        }
    }
    if out.is_empty() {
        bail!("{}: no texts found", path.display());
    }
    Ok(out)
}
