//! The kill-torture test: the whole curriculum — warm-up, contrastive, GRPO, with mid-stage and stage-final
//! checkpoints, pruning, a mid-stage evaluation, exports and end-of-stage evaluations — is killed with SIGKILL again
//! and again, each kill followed by `--resume`. Half the kills are aimed (through `T1_TEST_FAULT=kill:at=...`)
//! inside a checkpoint save, just after a checkpoint is published, in the middle of pruning, between two
//! evaluation sets, between an export's writing and its publication, and before a stage's record; the other half
//! land at random moments. The run must end exactly as the uninterrupted one: the same per-step losses (bitwise),
//! the same `metrics.jsonl` lines (timings aside), the same exports (the best model's included) and completions
//! byte for byte, the same evaluation records, the same checkpoints — every one verifying — and no leftovers.
//!
//! `T1_TORTURE_KILLS` sets the number of kills (default 24), `T1_TORTURE_SEED` the random moments (default 1).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{losses, root, scratch_dir};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn recipe(output: &Path) -> String {
    let r = root();
    let d = |f: &str| r.join("data").join(f).display().to_string();
    format!(
        r#"
[run]
name = "torture"
output = "{out}"
checkpoint_every = 2
keep_last = 2
log_every = 1

[export]
best_metric = "dev-plain/ndcg@10"

[model]
preset = "tiny"
tokenizer = "{tok}"

[data]
corpus = ["{corpus}"]

[[eval]]
name = "dev"
queries = ["{devq}"]
qrels = ["{devr}"]
mode = "generate"
max_new_tokens = 4
batch_size = 64

[[eval]]
name = "dev-plain"
queries = ["{devq}"]
qrels = ["{devr}"]
mode = "plain"
batch_size = 64

[[stage]]
name = "warmup"
kind = "warmup"
train = ["{warm}"]
steps = 6
batch_size = 4
eval_every = 4
[stage.optim]
lr = 3e-3
warmup_steps = 2
[stage.limits]
query = 32
reasoning = 16
document = 32

[[stage]]
name = "contrastive"
kind = "contrastive"
train = ["{con}"]
steps = 6
batch_size = 4
[stage.optim]
lr = 1e-3
warmup_steps = 2
[stage.limits]
query = 32
reasoning = 16
document = 32
[stage.loss]
hard_negatives = 1

[[stage]]
name = "grpo"
kind = "grpo"
train = ["{grpo}"]
steps = 4
batch_size = 2
[stage.optim]
lr = 1e-3
warmup_steps = 1
[stage.limits]
query = 32
document = 32
[stage.loss]
hard_negatives = 1
[stage.grpo]
group_size = 2
num_iterations = 2
beta = 0.04
log_completions_every = 1
[stage.grpo.sampling]
max_new_tokens = 4
"#,
        out = output.display(),
        tok = d("tokenizer.json"),
        corpus = d("corpus.parquet"),
        devq = d("dev_queries.parquet"),
        devr = d("dev_qrels.parquet"),
        warm = d("train_warmup.parquet"),
        con = d("train_contrastive.parquet"),
        grpo = d("train_grpo.parquet"),
    )
}

/// Where the kills are aimed, in turn (each counted afresh in every resumed process).
const AIMED: &[&str] = &["checkpoint-save", "checkpoint-published", "prune", "eval", "export", "stage-record"];

/// A small deterministic generator for the random moments (xorshift64*).
struct Moments(u64);

impl Moments {
    /// A delay in [lo, hi) milliseconds.
    fn next_ms(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        lo + self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % (hi - lo)
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn trainer(recipe_file: &Path, resume: bool, fault: Option<&str>) -> std::process::Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trainer"));
    cmd.args(["--recipe", recipe_file.to_str().unwrap()]);
    if resume {
        cmd.arg("--resume");
    }
    if let Some(spec) = fault {
        cmd.env("T1_TEST_FAULT", spec);
    }
    cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("starting the trainer")
}

/// The stage the run was in when it was killed: that of the last metrics line (the first stage when none).
fn current_stage(run: &Path) -> String {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap_or_default();
    text.lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Value>(l).ok()?["stage"].as_str().map(String::from))
        .unwrap_or_else(|| "warmup".into())
}

/// `metrics.jsonl` without the wall-clock measurements (the only fields that may differ between runs).
fn metric_lines(run: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    text.lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).expect("whole metrics lines");
            v.as_object_mut().unwrap().retain(|k, _| !k.starts_with("time/") && !k.ends_with("tokens_per_s"));
            v
        })
        .collect()
}

/// Every file under `dir` (relative path → bytes), hidden folders included.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else {
                out.insert(path.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

/// A stage record without its wall time (of a process, not of the run).
fn record(run: &Path, stage: &str) -> Value {
    let mut v: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("stages").join(format!("{stage}.json"))).unwrap())
            .unwrap();
    v.as_object_mut().unwrap().remove("seconds");
    v
}

#[test]
fn a_run_killed_many_times_ends_exactly_as_an_uninterrupted_one() {
    let dir = scratch_dir("torture");
    let kills_wanted = env_number("T1_TORTURE_KILLS", 24) as usize;
    let seed = env_number("T1_TORTURE_SEED", 1);
    // Both runs write to the same folder (the resolved recipe, saved in every checkpoint, names it); the
    // uninterrupted one is moved aside when done.
    let (run, full) = (dir.join("run"), dir.join("full"));
    let recipe_file = dir.join("recipe.toml");
    std::fs::write(&recipe_file, recipe(&run)).unwrap();
    let started = Instant::now();
    let out = trainer(&recipe_file, false, None).wait_with_output().unwrap();
    assert!(out.status.success(), "the uninterrupted run failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let run_time = started.elapsed();
    std::fs::rename(&run, &full).unwrap();

    // Kill, resume, kill again — aimed and random kills in turn — until the run finishes; then check it against
    // the uninterrupted one and, while kills are still wanted, start over. Random moments span a third of a run, so
    // they land in start-up, training steps, generation, saves and evaluations alike.
    let mut moments = Moments(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut kills: Vec<(String, String)> = Vec::new();
    let mut aimed = AIMED.iter().cycle();
    let (mut launches, mut passes) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        assert!(Instant::now() < deadline, "the torture run made no progress; kills so far: {kills:?}");
        let wanted = kills.len() < kills_wanted;
        let random = kills.len() % 2 == 1;
        let fault = (wanted && !random).then(|| format!("kill:at={}:n=1", aimed.next().unwrap()));
        let mut child = trainer(&recipe_file, launches > 0, fault.as_deref());
        launches += 1;
        if wanted && random {
            let delay = moments.next_ms(200, (run_time.as_millis() as u64 / 3).max(1_000));
            let until = Instant::now() + Duration::from_millis(delay);
            while Instant::now() < until && child.try_wait().unwrap().is_none() {
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = child.kill();
        }
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            passes += 1;
            check_same_run(&run, &full);
            if !wanted {
                break;
            }
            std::fs::remove_dir_all(&run).unwrap();
            launches = 0;
            continue;
        }
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(out.status.signal(), Some(9), "launch {launches} failed instead of being killed:\n{stderr}");
        let at = fault.map_or("random".to_string(), |f| f.trim_start_matches("kill:at=").replace(":n=1", ""));
        kills.push((at, current_stage(&run)));
    }
    eprintln!("{} kills (seed {seed}), {passes} finished run(s), each as uninterrupted: {kills:?}", kills.len());
    // The kills reached every stage and every aimed moment.
    for stage in STAGES {
        assert!(kills.iter().any(|(_, s)| s == stage), "no kill landed in stage {stage}: {kills:?}");
    }
    for point in AIMED {
        assert!(kills.iter().any(|(at, _)| at == point), "no kill landed at {point}: {kills:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

const STAGES: [&str; 3] = ["warmup", "contrastive", "grpo"];

/// Asserts that the run in `run` (killed and resumed) ended exactly as the uninterrupted one in `full`.
fn check_same_run(run: &Path, full: &Path) {
    let (want, got) = (losses(full), losses(run));
    assert_eq!(want.len(), 16);
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>());
    for (step, loss) in &want {
        assert_eq!(got[step].to_bits(), loss.to_bits(), "step {step}: {} after the kills vs {loss}", got[step]);
    }
    assert_eq!(metric_lines(run), metric_lines(full), "metrics.jsonl after the kills vs uninterrupted");
    for stage in STAGES {
        assert_eq!(record(run, stage), record(full, stage), "stages/{stage}.json");
        assert_eq!(files(&run.join(stage)), files(&full.join(stage)), "the {stage} export (and nothing beside it)");
    }
    let summary = |run: &Path| {
        let mut v: Value = serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
        v.as_object_mut().unwrap().remove("seconds");
        v["stages"].as_array_mut().unwrap().iter_mut().for_each(|s| {
            s.as_object_mut().unwrap().remove("seconds");
        });
        v
    };
    assert_eq!(summary(run), summary(full), "summary.json");
    assert_eq!(files(&run.join("best")), files(&full.join("best")), "the best model's export");
    let text = |run: &Path, f: &str| std::fs::read_to_string(run.join(f)).unwrap();
    assert_eq!(text(run, "best.json"), text(full, "best.json"), "best.json");
    assert_eq!(text(run, "completions.jsonl"), text(full, "completions.jsonl"), "completions.jsonl");
    assert_eq!(text(run, "recipe.toml"), text(full, "recipe.toml"), "recipe.toml");
    // The same checkpoints — byte for byte, except the optimizer state, whose serialisation order varies between
    // processes (its contents are what the bitwise-equal losses after every resume prove) — each whole by its
    // manifest, and nothing left behind by a killed save, prune or export.
    let (ours, theirs) = (files(&run.join("checkpoints")), files(&full.join("checkpoints")));
    assert_eq!(ours.keys().collect::<Vec<_>>(), theirs.keys().collect::<Vec<_>>(), "checkpoint files");
    let varies = |p: &Path| p.ends_with("optimizer.bpk") || p.ends_with("manifest.json");
    for (path, bytes) in ours.iter().filter(|(p, _)| !varies(p)) {
        assert!(bytes == &theirs[path], "{}: differs from the uninterrupted run's", path.display());
    }
    for manifest in ours.keys().filter(|p| p.ends_with("manifest.json")) {
        let folder = manifest.parent().unwrap();
        let entries: Value = serde_json::from_slice(&ours[manifest]).unwrap();
        for (file, entry) in entries.as_object().unwrap() {
            let bytes = &ours[&folder.join(file)];
            let sha: String = Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(Some(sha.as_str()), entry["sha256"].as_str(), "{}/{file}: checksum", folder.display());
        }
    }
}
