//! An export as Hugging Face users take it. The embedded default — the tiny preset with the repository's own BPE
//! tokenizer (NFC + lowercase normalizer, the case transformers used to rebuild wrongly) — is trained one step and
//! exported; then, through the reference Python stack (`T1_PYTHON`):
//! - `AutoTokenizer` gives `trainer embed`'s token ids, and appends `<embtoken>` itself when special tokens are
//!   added;
//! - `AutoModel` gives `trainer embed`'s embeddings (≤ 1e-4);
//! - `SentenceTransformer(export).encode(texts, prompt_name="query" | "document")` gives them too, with no manual
//!   instruction or suffix;
//!
//! and, without Python, the export carries the prompts and a model card with the run's evaluation results; with
//! `tensorboard`, its reader finds the run's hyperparameters (the HParams dashboard's session start) and GRPO's
//! sampled completions (the Text tab).

mod common;

use std::path::{Path, PathBuf};
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

/// Trains the recipe into `dir/<name>` with `sets` (`--set` values) and returns its export folder.
fn train(dir: &Path, name: &str, sets: &[&str]) -> PathBuf {
    let recipe_file = dir.join(format!("{name}.toml"));
    std::fs::write(&recipe_file, recipe(&dir.join(name))).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trainer"));
    cmd.arg("--recipe").arg(&recipe_file);
    for set in sets {
        cmd.args(["--set", set]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    dir.join(name).join("warmup/final")
}

/// What `python -c script arg` prints; the script must succeed.
fn python_stdout(python: &Path, script: &str, arg: &Path) -> String {
    let out = Command::new(python).args(["-c", script]).arg(arg).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// `trainer embed --kind kind` of `texts` (raw: it adds the instruction and the embedding token) into `out`.
fn embed(export: &Path, kind: &str, texts: &[&str], out: &Path) -> Vec<f32> {
    let input = out.with_extension("jsonl");
    let raw: Vec<String> = texts.iter().map(|t| serde_json::json!({ "text": t }).to_string()).collect();
    std::fs::write(&input, raw.join("\n")).unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(["embed", "--kind", kind, "--model"])
        .arg(export)
        .arg("--input")
        .arg(&input)
        .arg("--output")
        .arg(out)
        .status()
        .unwrap();
    assert!(status.success(), "trainer embed --kind {kind}");
    let bytes = std::fs::read(out).unwrap();
    let header = u16::from_le_bytes([bytes[8], bytes[9]]) as usize + 10;
    bytes[header..].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

/// The Python check of `export` against `expected` (`trainer embed`'s output for `texts` of `kind`): token ids,
/// AutoModel embeddings and, with `st`, sentence-transformers' `encode(prompt_name=kind)` (≤ 1e-4).
fn verify(python: &Path, export: &Path, kind: &str, texts: &[&str], expected: &Path, st: bool) {
    let tokenizer = model::TextTokenizer::from_file(&export.join("tokenizer.json"), "<embtoken>").unwrap();
    let instruction = if kind == "query" { "Query: " } else { "" };
    let formatted = expected.with_extension("formatted.jsonl");
    let lines: Vec<String> = texts
        .iter()
        .map(|t| {
            let text = format!("{instruction}{t}<embtoken>");
            let ids = tokenizer.encode(&text).unwrap();
            serde_json::json!({ "text": text, "raw": t, "ids": ids }).to_string()
        })
        .collect();
    std::fs::write(&formatted, lines.join("\n")).unwrap();
    let mut check = Command::new(python);
    check.arg(root().join("tests/fixtures/make_gguf_fixtures.py")).arg("--verify-embed").arg(export);
    check.arg("--texts-file").arg(&formatted).arg("--expected").arg(expected).args(["--atol", "1e-4"]);
    if st {
        check.args(["--st-prompt", kind]);
    }
    let check = check.output().unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&check.stdout), String::from_utf8_lossy(&check.stderr));
    assert!(check.status.success(), "the {kind} check of {} failed:\n{report}", export.display());
    eprintln!("{kind}s of {}:\n{report}", export.display());
}

#[test]
fn an_export_of_the_default_loads_in_transformers_and_sentence_transformers_as_trainer_embed_reads_it() {
    let dir = scratch_dir("ecosystem");
    let export = train(&dir, "run", &[]);

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

    let python = python_with("torch, transformers, sentence_transformers")
        .map_err(|why| eprintln!("SKIPPED the transformers / sentence-transformers checks of the export: {why}"))
        .ok();
    if let Some(python) = &python {
        // The Hub's own parser reads the card's front matter and its evaluation results.
        let stdout = python_stdout(
            python,
            "import sys; from huggingface_hub import ModelCard; card = ModelCard.load(sys.argv[1]); \
                 r = card.data.eval_results[0]; assert card.data.library_name == 'sentence-transformers'; \
                 print(r.dataset_name, r.metric_type, r.metric_value)",
            &export.join("README.md"),
        );
        let parts: Vec<&str> = stdout.split_whitespace().collect();
        assert_eq!(parts[..2], ["dev", "ndcg_at_10"], "the card's first result as the Hub reads it: {stdout}");
        assert_eq!(parts[2].parse::<f64>().unwrap(), ndcg, "the card's nDCG@10 as the Hub reads it");
    }
    match python_with("tensorboard") {
        // TensorBoard's own reader finds the run's hyperparameters (the HParams plugin's session start).
        Ok(python) => {
            let stdout = python_stdout(
                &python,
                "import sys\n\
                     from tensorboard.backend.event_processing.event_accumulator import EventAccumulator\n\
                     from tensorboard.plugins.hparams import plugin_data_pb2\n\
                     acc = EventAccumulator(sys.argv[1]); acc.Reload()\n\
                     content = acc.PluginTagToContent('hparams')['_hparams_/session_start_info']\n\
                     h = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams\n\
                     print(h['stage.0.steps'].number_value, h['run.name'].string_value, h['format.chat_template'].bool_value)",
                &dir.join("run/tensorboard"),
            );
            assert_eq!(stdout.trim(), "1.0 ecosystem False", "the hyperparameters as TensorBoard reads them");
        }
        Err(why) => eprintln!("SKIPPED the TensorBoard hparams check: {why}"),
    }
    for (kind, texts) in [("query", QUERIES), ("document", DOCUMENTS)] {
        let ours = dir.join(format!("{kind}.npy"));
        embed(&export, kind, &texts, &ours);
        if let Some(python) = &python {
            verify(python, &export, kind, &texts, &ours, true);
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_bf16_sharded_export_reloads_within_bf16_tolerance() {
    let dir = scratch_dir("ecosystem-bf16");
    let f32_export = train(&dir, "f32", &[]);
    // The tiny model's weights are 2.4 MB in bf16: 1 MB shards make three files and an index.
    let bf16_export = train(&dir, "bf16", &["export.dtype=\"bf16\"", "export.max_shard_mb=1"]);
    let files: Vec<String> = std::fs::read_dir(&bf16_export)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("model"))
        .collect();
    assert!(files.contains(&"model.safetensors.index.json".to_string()), "{files:?}");
    assert!(files.contains(&"model-00003-of-00003.safetensors".to_string()), "{files:?}");
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(bf16_export.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["torch_dtype"], "bfloat16");
    let exact = embed(&f32_export, "document", &DOCUMENTS, &dir.join("f32.npy"));
    let rounded = embed(&bf16_export, "document", &DOCUMENTS, &dir.join("bf16.npy"));
    let worst = exact.iter().zip(&rounded).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst > 0.0 && worst < 2e-2, "bf16 vs f32 embeddings: max abs diff {worst}");
    match python_with("torch, transformers") {
        Ok(python) => verify(&python, &bf16_export, "document", &DOCUMENTS, &dir.join("bf16.npy"), false),
        Err(why) => eprintln!("SKIPPED the transformers check of the bf16 export: {why}"),
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
    let ours = dir.join("source-docs.npy");
    embed(&export, "document", &DOCUMENTS, &ours);
    match python_with("torch, transformers, sentence_transformers") {
        Ok(python) => {
            verify(&python, &export, "document", &DOCUMENTS, &ours, true);
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
        Err(why) => eprintln!("SKIPPED the transformers checks of the export of a HF source: {why}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn grpo_completions_reach_tensorboards_text_tab() {
    let dir = scratch_dir("ecosystem-completions");
    // The default's recipe with its warm-up stage turned into a one-step GRPO stage that logs its completions.
    let text = recipe(&dir.join("run"))
        .replace("name = \"warmup\"\nkind = \"warmup\"", "name = \"grpo\"\nkind = \"grpo\"")
        .replace("train_warmup.parquet", "train_grpo.parquet")
        .replace(
        "batch_size = 2\n",
        "batch_size = 2\n[stage.grpo]\ngroup_size = 2\nlog_completions_every = 1\n[stage.grpo.sampling]\nmax_new_tokens = 4\n",
    );
    let file = dir.join("grpo.toml");
    std::fs::write(&file, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_trainer")).arg("--recipe").arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let logged: Vec<Value> = std::fs::read_to_string(dir.join("run/completions.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(logged.len(), 4, "2 queries × G = 2");
    match python_with("tensorboard") {
        Ok(python) => {
            let stdout = python_stdout(
                &python,
                "import sys\n\
                     from tensorboard.backend.event_processing.event_accumulator import EventAccumulator\n\
                     acc = EventAccumulator(sys.argv[1]); acc.Reload()\n\
                     assert 'grpo/completions' in acc.PluginTagToContent('text'), acc.Tags()\n\
                     (event,) = acc.Tensors('grpo/completions')\n\
                     print(event.step); print(event.tensor_proto.string_val[0].decode())",
                &dir.join("run/tensorboard"),
            );
            let mut lines = stdout.lines();
            assert_eq!(lines.next(), Some("1"), "logged at the step that sampled them: {stdout}");
            let rows: Vec<&str> = lines.skip(2).filter(|l| l.starts_with("| ")).collect();
            assert_eq!(rows.len(), 4, "one table row per rollout: {stdout}");
            for (row, line) in rows.iter().zip(&logged) {
                let completion = line["completion"].as_str().unwrap().replace('|', "\\|");
                assert!(row.contains(&format!("| {completion} |")), "{row} vs {line}");
            }
        }
        Err(why) => eprintln!("SKIPPED the TensorBoard text check: {why}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
