//! The bad-input corpus (`tests/bad_inputs.toml`): every malformed recipe, flag, shard, model folder, checkpoint,
//! import and sweep file there is an error (exit status 1) whose message names what is wrong — never a panic.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

mod common;

use common::root;

const BIN: &str = env!("CARGO_BIN_EXE_trainer");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Corpus {
    case: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    args: Vec<String>,
    expect: Vec<String>,
    #[serde(default)]
    files: BTreeMap<String, FileSpec>,
    #[serde(default)]
    model_edit: BTreeMap<String, FileSpec>,
    #[serde(default)]
    ckpt_edit: BTreeMap<String, FileSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    text: Option<String>,
    copy: Option<String>,
    truncate: Option<usize>,
    #[serde(default)]
    remove: bool,
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Replaces the placeholders of the corpus file.
fn fill(text: &str, vars: &[(&str, &Path)]) -> String {
    vars.iter().fold(text.to_string(), |t, (k, v)| t.replace(&format!("{{{k}}}"), &v.display().to_string()))
}

fn apply(dir: &Path, specs: &BTreeMap<String, FileSpec>, vars: &[(&str, &Path)]) {
    for (name, spec) in specs {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        if spec.remove {
            std::fs::remove_file(&path).unwrap();
        } else if let Some(text) = &spec.text {
            std::fs::write(&path, fill(text, vars)).unwrap();
        } else if let Some(from) = &spec.copy {
            let mut bytes = std::fs::read(root().join(from)).unwrap();
            bytes.truncate(spec.truncate.unwrap_or(bytes.len()));
            std::fs::write(&path, bytes).unwrap();
        }
    }
}

/// A valid one-step warm-up recipe (with one plain evaluation set) writing to `dir/run`.
fn recipe(dir: &Path) -> PathBuf {
    let d = |f: &str| root().join("data").join(f).display().to_string();
    let text = format!(
        "[run]\nname = \"bad-inputs\"\noutput = \"{}\"\n\n[model]\npreset = \"tiny\"\ntokenizer = \"{}\"\n\n\
         [[stage]]\nname = \"warmup\"\nkind = \"warmup\"\ntrain = [\"{}\"]\nsteps = 1\nbatch_size = 2\n\n\
         [[eval]]\nname = \"dev\"\nqueries = [\"{}\"]\nqrels = [\"{}\"]\nmode = \"plain\"\n",
        dir.join("run").display(),
        d("tokenizer.json"),
        d("train_warmup.parquet"),
        d("dev_queries.parquet"),
        d("dev_qrels.parquet"),
    );
    let path = dir.join("recipe.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn every_bad_input_is_an_error_that_names_it() {
    let corpus: Corpus =
        toml::from_str(&std::fs::read_to_string(root().join("tests/bad_inputs.toml")).unwrap()).unwrap();
    assert!(corpus.case.len() >= 40, "the corpus holds {} cases", corpus.case.len());
    let base = std::env::temp_dir().join(format!("trainer-bad-inputs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    // One valid checkpoint, copied into every case that edits one.
    let made = base.join("made");
    std::fs::create_dir_all(&made).unwrap();
    let out = Command::new(BIN).arg("--recipe").arg(recipe(&made)).current_dir(root()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let checkpoint = made.join("run/checkpoints/warmup-final");

    let mut failures = Vec::new();
    for (i, case) in corpus.case.iter().enumerate() {
        let dir = base.join(format!("case-{i:02}"));
        std::fs::create_dir_all(&dir).unwrap();
        let (model, ckpt) = (dir.join("model"), dir.join("ckpt"));
        copy_dir(&root().join("tests/fixtures/models/qwen3_gqa_untied"), &model);
        copy_dir(&checkpoint, &ckpt);
        let recipe = recipe(&dir);
        let data = root().join("data");
        let vars = [("dir", dir.as_path()), ("recipe", &recipe), ("data", &data), ("model", &model), ("ckpt", &ckpt)];
        apply(&dir, &case.files, &vars);
        apply(&model, &case.model_edit, &vars);
        apply(&ckpt, &case.ckpt_edit, &vars);
        let args: Vec<String> = case.args.iter().map(|a| fill(a, &vars)).collect();
        let out = Command::new(BIN).args(&args).current_dir(root()).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let missing: Vec<String> =
            case.expect.iter().map(|e| fill(e, &vars)).filter(|e| !stderr.contains(e.as_str())).collect();
        if out.status.code() != Some(1) || !missing.is_empty() || stderr.contains("panicked") {
            failures.push(format!(
                "`{}`: exit {:?}, missing {missing:?}\n    {}",
                case.name,
                out.status.code(),
                stderr.trim().replace('\n', "\n    ")
            ));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases:\n{}", failures.len(), corpus.case.len(), failures.join("\n"));
    std::fs::remove_dir_all(&base).unwrap();
}

/// Property test: mutated shipped recipes (characters replaced, spans deleted or duplicated) and the same recipe
/// with arbitrary `--set` values are parsed into a recipe or an error — never a panic. Seeded; a failure names
/// its seed.
#[test]
fn mutated_recipes_never_panic() {
    use rand::{RngExt, SeedableRng};
    const ALPHABET: &[u8] = b" \n=[]{}\".,-_0123456789abcdefghijklmnopqrstuvwxyz#'\\";
    let original = std::fs::read_to_string(root().join("recipes/curriculum.toml")).unwrap();
    // From the repository root the recipe's data paths resolve, so validation runs past them. (The other test of
    // this binary uses absolute paths only.)
    std::env::set_current_dir(root()).unwrap();
    assert!(trainer::recipe::Recipe::parse(&original, "curriculum.toml", &[]).is_ok());
    let values =
        ["0", "-1", "1e400", "nan", "\"\"", "[]", "{}", "true", "\"../x\"", "18446744073709551616", "[1, \"a\"]"];
    let keys =
        ["run.seed", "stage.0.steps", "stage.grpo.grpo.group_size", "eval.0.batch_size", "model", "stage", "x.y.z"];
    for seed in 0..400u64 {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut bytes = original.clone().into_bytes();
        for _ in 0..rng.random_range(1..6) {
            let i = rng.random_range(0..bytes.len());
            match rng.random_range(0..3) {
                0 => bytes[i] = ALPHABET[rng.random_range(0..ALPHABET.len())],
                1 => {
                    let end = (i + rng.random_range(1..40)).min(bytes.len());
                    bytes.drain(i..end);
                }
                _ => {
                    let end = (i + rng.random_range(1..40)).min(bytes.len());
                    let span: Vec<u8> = bytes[i..end].to_vec();
                    bytes.splice(i..i, span);
                }
            }
            if bytes.is_empty() {
                break;
            }
        }
        // Replacements are ASCII and cuts land on ASCII here, but stay safe: take the valid UTF-8 prefix.
        let text = String::from_utf8_lossy(&bytes).to_string();
        let set = format!("{}={}", keys[rng.random_range(0..keys.len())], values[rng.random_range(0..values.len())]);
        for (text, sets) in [(text.as_str(), vec![]), (original.as_str(), vec![set])] {
            let result = std::panic::catch_unwind(|| {
                let _ = trainer::recipe::Recipe::parse(text, "mutated.toml", &sets);
            });
            assert!(result.is_ok(), "mutation seed {seed} panicked the recipe parser (sets {sets:?})");
        }
    }
}
