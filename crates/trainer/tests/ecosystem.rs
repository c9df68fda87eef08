//! An export as Hugging Face users take it. The embedded default — the tiny preset with the repository's own BPE
//! tokenizer (NFC + lowercase normalizer, the case transformers used to rebuild wrongly) — is trained one step and
//! exported; then, through the reference Python stack (`T1_PYTHON`):
//! - `AutoTokenizer` gives `trainer embed`'s token ids, and appends `<embtoken>` itself when special tokens are
//!   added;
//! - `AutoModel` gives `trainer embed`'s embeddings (≤ 1e-4);
//! - `SentenceTransformer(export).encode(texts, prompt_name="query" | "document")` gives them too, with no manual
//!   instruction or suffix;
//!
//! and, without Python, the export carries the prompts and a model card with the run's evaluation results.

mod common;

use std::path::Path;
use std::process::Command;

use common::{python_with, root, scratch_dir};
use serde_json::Value;

fn recipe(output: &Path) -> String {
    let d = |f: &str| root().join("data").join(f).display().to_string();
    format!(
        r#"
[run]
name = "ecosystem"
output = "{out}"

[model]
preset = "tiny"
tokenizer = "{tok}"

[data]
corpus = ["{corpus}"]

[[eval]]
name = "dev"
queries = ["{devq}"]
qrels = ["{devr}"]
mode = "plain"

[[stage]]
name = "warmup"
kind = "warmup"
train = ["{warm}"]
steps = 1
batch_size = 2
"#,
        out = output.display(),
        tok = d("tokenizer.json"),
        corpus = d("corpus.parquet"),
        devq = d("dev_queries.parquet"),
        devr = d("dev_qrels.parquet"),
        warm = d("train_warmup.parquet"),
    )
}

const QUERIES: [&str; 3] = [
    "Which planet is known as the Red Planet?",
    "This city on the Seine is the capital of France.",
    "Who wrote about natural rights and limited government?",
];
const DOCUMENTS: [&str; 3] = [
    "Mars is the fourth planet from the Sun.",
    "Paris is the capital and largest city of France, on the Seine.",
    "John Locke argued that government exists to protect natural rights.",
];

#[test]
fn an_export_of_the_default_loads_in_transformers_and_sentence_transformers_as_trainer_embed_reads_it() {
    let dir = scratch_dir("ecosystem");
    let recipe_file = dir.join("recipe.toml");
    std::fs::write(&recipe_file, recipe(&dir.join("run"))).unwrap();
    let bin = env!("CARGO_BIN_EXE_trainer");
    let out = Command::new(bin).arg("--recipe").arg(&recipe_file).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let export = dir.join("run/warmup/final");

    // The prompts, and the model card with the stage's evaluation.
    let st: Value =
        serde_json::from_str(&std::fs::read_to_string(export.join("config_sentence_transformers.json")).unwrap())
            .unwrap();
    assert_eq!(st["prompts"], serde_json::json!({"query": "Query: ", "document": ""}));
    assert_eq!(st["similarity_fn_name"], "cosine");
    let card = std::fs::read_to_string(export.join("README.md")).unwrap();
    let record: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run/stages/warmup.json")).unwrap()).unwrap();
    let ndcg = record["evals"][0][1].as_f64().unwrap();
    assert!(card.starts_with("---\nlibrary_name: sentence-transformers\npipeline_tag: sentence-similarity\n"));
    assert!(card.contains(&format!("    - type: ndcg_at_10\n      value: {ndcg}\n")), "{card}");
    assert!(card.contains("prompt_name=\"query\""), "{card}");

    let tokenizer = model::TextTokenizer::from_file(&export.join("tokenizer.json"), "<embtoken>").unwrap();
    let python = match python_with("torch, transformers, sentence_transformers") {
        Ok(p) => Some(p),
        Err(why) => {
            eprintln!("SKIPPED the transformers / sentence-transformers checks of the export: {why}");
            None
        }
    };
    for (kind, texts, instruction) in [("query", QUERIES, "Query: "), ("document", DOCUMENTS, "")] {
        // `trainer embed` on the raw texts (it adds the instruction and the embedding token).
        let input = dir.join(format!("{kind}.jsonl"));
        let raw: Vec<String> = texts.iter().map(|t| serde_json::json!({ "text": t }).to_string()).collect();
        std::fs::write(&input, raw.join("\n")).unwrap();
        let ours = dir.join(format!("{kind}.npy"));
        let status = Command::new(bin)
            .args(["embed", "--kind", kind, "--model"])
            .arg(&export)
            .arg("--input")
            .arg(&input)
            .arg("--output")
            .arg(&ours)
            .status()
            .unwrap();
        assert!(status.success(), "trainer embed --kind {kind}");
        let Some(python) = &python else { continue };
        let formatted = dir.join(format!("{kind}-formatted.jsonl"));
        let lines: Vec<String> = texts
            .iter()
            .map(|t| {
                let text = format!("{instruction}{t}<embtoken>");
                let ids = tokenizer.encode(&text).unwrap();
                serde_json::json!({ "text": text, "raw": t, "ids": ids }).to_string()
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
            .args(["--atol", "1e-4", "--st-prompt", kind])
            .output()
            .unwrap();
        let report = format!("{}{}", String::from_utf8_lossy(&check.stdout), String::from_utf8_lossy(&check.stderr));
        assert!(check.status.success(), "the {kind} check of the export failed:\n{report}");
        eprintln!("{kind}s:\n{report}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

const CHAT_TEMPLATE: &str = "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}\
<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

#[test]
fn an_export_from_a_hf_source_keeps_its_chat_template_generation_config_and_config_fields() {
    let dir = scratch_dir("ecosystem-hf");
    let source = dir.join("source");
    std::fs::create_dir_all(&source).unwrap();
    for entry in std::fs::read_dir(root().join("tests/fixtures/models/qwen3_gqa_untied")).unwrap().flatten() {
        std::fs::copy(entry.path(), source.join(entry.file_name())).unwrap();
    }
    let tokenizer_config = serde_json::json!({"tokenizer_class": "Qwen2Tokenizer", "chat_template": CHAT_TEMPLATE});
    std::fs::write(source.join("tokenizer_config.json"), tokenizer_config.to_string()).unwrap();
    let recipe_file = dir.join("recipe.toml");
    let text = recipe(&dir.join("run"))
        .replace("[model]\npreset = \"tiny\"", &format!("[model]\npath = \"{}\"\npreset = \"tiny\"", source.display()));
    std::fs::write(&recipe_file, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_trainer")).arg("--recipe").arg(&recipe_file).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let export = dir.join("run/warmup/final");
    let read = |p: &Path| std::fs::read_to_string(p).unwrap();
    assert_eq!(read(&export.join("generation_config.json")), read(&source.join("generation_config.json")));
    assert_eq!(read(&export.join("chat_template.jinja")), CHAT_TEMPLATE);
    let config: Value = serde_json::from_str(&read(&export.join("config.json"))).unwrap();
    assert_eq!(config["layer_types"], serde_json::json!(["full_attention", "full_attention"]), "{config}");
    assert_eq!(config["max_window_layers"], 28, "{config}");
    match python_with("transformers") {
        Ok(python) => {
            let check = Command::new(python)
                .args([
                    "-c",
                    "import sys; from transformers import AutoTokenizer; \
                     t = AutoTokenizer.from_pretrained(sys.argv[1]); \
                     assert t.chat_template == open(sys.argv[2]).read(), repr(t.chat_template); print('same')",
                ])
                .arg(&export)
                .arg(export.join("chat_template.jinja"))
                .output()
                .unwrap();
            let report =
                format!("{}{}", String::from_utf8_lossy(&check.stdout), String::from_utf8_lossy(&check.stderr));
            assert!(check.status.success(), "AutoTokenizer lost the chat template:\n{report}");
        }
        Err(why) => eprintln!("SKIPPED the AutoTokenizer chat-template check: {why}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
