//! Data parallelism over MPI (feature `mpi`; needs `mpirun`): two ranks with batch B equal one process with batch
//! 2B step for step, a known-wrong variant is caught, and a dead, hung or restarted rank behaves as documented.
#![cfg(feature = "mpi")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{losses, root, scratch_dir};

const BIN: &str = env!("CARGO_BIN_EXE_trainer");

/// The trainer under `ranks` processes (`mpirun` when more than one), with `env` set.
fn job(ranks: usize, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = if ranks == 1 {
        Command::new(BIN)
    } else {
        let mut c = Command::new("mpirun");
        c.args(["-np", &ranks.to_string(), "--oversubscribe", BIN]);
        c
    };
    cmd.args(args).current_dir(root());
    cmd.env("OMPI_ALLOW_RUN_AS_ROOT", "1").env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1").env("RAYON_NUM_THREADS", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn run(ranks: usize, args: &[&str], env: &[(&str, &str)]) -> Output {
    job(ranks, args, env).output().expect("starting the job (is mpirun installed?)")
}

/// A recipe whose stages cover every step-wide count: GRPO with the three sequence/token normalisers, SFT,
/// contrastive with in-batch negatives (+ SFT) and contrastive with GradCache. `b` is the per-process batch: queries
/// for stages 1–2, prompts for GRPO. The learning rate is negligible (1e-20: no f32 weight changes), so every
/// step's gradients of the two runs are taken at the same weights and new data, and compare exactly; otherwise
/// AdamW's early sign-like updates amplify float-order differences of 1e-7 into weights that drift apart.
fn recipe(out: &Path, b: usize) -> String {
    let d = |f: &str| root().join("data").join(f).display().to_string();
    // The untrained model's rollouts all run to `max_new_tokens`; dynamic sampling without refilling (one round:
    // groups of equal rewards, here most of them, are only masked) makes the ranks' loss-token counts differ, so the
    // `dapo` normaliser is tested. The last stage refills over three rounds: the job's groups are selected in job
    // order and dealt out to the ranks, as one process selects them.
    let grpo = |name: &str, loss: &str, rounds: usize| {
        format!(
            "[[stage]]\nname = \"{name}\"\nkind = \"grpo\"\ntrain = [\"{}\"]\nsteps = 1\nbatch_size = {}\n\
             [stage.optim]\nlr = 1e-20\n[stage.grpo]\ngroup_size = 2\nloss_type = \"{loss}\"\n\
             dynamic_sampling = true\nmax_generation_rounds = {rounds}\n\
             [stage.grpo.sampling]\ntemperature = 1.0\nmax_new_tokens = 6\n\n",
            d("train_grpo.parquet"),
            b / 2
        )
    };
    format!(
        "[run]\nname = \"dp\"\noutput = \"{out}\"\ncheckpoint_every = 0\nlog_every = 1\n\n\
         [model]\npreset = \"tiny\"\ntokenizer = \"{tok}\"\n\n[data]\ncorpus = [\"{corpus}\"]\n\n\
         {g1}{g2}{g3}\
         [[stage]]\nname = \"warmup\"\nkind = \"warmup\"\ntrain = [\"{warm}\"]\nsteps = 2\nbatch_size = {b}\n\
         [stage.optim]\nlr = 1e-20\n[stage.limits]\nquery = 40\nreasoning = 24\ndocument = 48\n\n\
         [[stage]]\nname = \"contrastive\"\nkind = \"contrastive\"\ntrain = [\"{con}\"]\nsteps = 2\nbatch_size = {b}\n\
         [stage.optim]\nlr = 1e-20\n[stage.loss]\nsft = 1.0\nhard_negatives = 2\n[stage.limits]\nquery = 40\nreasoning = 24\ndocument = 48\n\n\
         [[stage]]\nname = \"gradcache\"\nkind = \"contrastive\"\ntrain = [\"{con}\"]\nsteps = 2\nbatch_size = {b}\n\
         [stage.optim]\nlr = 1e-20\n[stage.loss]\nhard_negatives = 1\ngradcache_chunk = 3\n[stage.limits]\nquery = 40\nreasoning = 24\n\
         document = 48\n\n{g4}",
        out = out.display(),
        tok = d("tokenizer.json"),
        corpus = d("corpus.parquet"),
        warm = d("train_warmup.parquet"),
        con = d("train_contrastive.parquet"),
        g1 = grpo("grpo", "grpo", 1),
        g2 = grpo("dr_grpo", "dr_grpo", 1),
        g3 = grpo("dapo", "dapo", 1),
        g4 = grpo("refill", "dapo", 3),
    )
}

/// Stage names in recipe order with their global steps.
const STEPS: [(&str, &[u64]); 7] = [
    ("grpo", &[1]),
    ("dr_grpo", &[2]),
    ("dapo", &[3]),
    ("warmup", &[4, 5]),
    ("contrastive", &[6, 7]),
    ("gradcache", &[8, 9]),
    ("refill", &[10]),
];

/// Trains the recipe with `ranks` processes of batch `b`, dumping each step's reduced gradient; returns the dump
/// folder.
fn train(tag: &str, ranks: usize, b: usize, extra: &[&str], fault: &str) -> PathBuf {
    let dir = scratch_dir(&format!("dp-{tag}"));
    let file = dir.join("recipe.toml");
    std::fs::write(&file, recipe(&dir.join("run"), b)).unwrap();
    let dumps = dir.join("grads");
    std::fs::create_dir_all(&dumps).unwrap();
    let mut args = vec!["--recipe", file.to_str().unwrap()];
    args.extend(extra);
    let out = run(ranks, &args, &[("T1_DUMP_GRADS", dumps.to_str().unwrap()), ("T1_TEST_FAULT", fault)]);
    assert!(out.status.success(), "{tag}: {}", String::from_utf8_lossy(&out.stderr));
    dumps
}

/// A dumped gradient (`.npy`, one f32 row).
fn read_grad(dir: &Path, step: u64) -> Vec<f32> {
    let bytes = std::fs::read(dir.join(format!("step-{step:05}.npy"))).unwrap();
    let header = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    bytes[10 + header..].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

/// max |a − b| / max |b| over one step's gradients.
fn relative_diff(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0f64, |m, &x| m.max(x.abs() as f64)).max(1e-12);
    a.iter().zip(b).fold(0.0f64, |m, (&x, &y)| m.max((x as f64 - y as f64).abs())) / scale
}

/// Per stage: the largest relative gradient difference over its steps.
fn compare(a: &Path, b: &Path) -> BTreeMap<&'static str, f64> {
    STEPS
        .iter()
        .map(|(stage, steps)| {
            let worst = steps.iter().map(|&s| relative_diff(&read_grad(a, s), &read_grad(b, s))).fold(0.0, f64::max);
            (*stage, worst)
        })
        .collect()
}

/// Relative gradient agreement that float summation order allows (measured on 2 cores: ≤ 6.6e-7 in every stage);
/// the known-wrong variants differ by 0.16 or more.
const TOLERANCE: f64 = 1e-5;

#[test]
fn two_ranks_equal_one_process_with_the_whole_batch_and_a_wrong_variant_is_caught() {
    let one = train("one", 1, 8, &[], "");
    let two = train("two", 2, 4, &[], "");
    let diffs = compare(&two, &one);
    eprintln!("2 ranks × 4 vs 1 × 8, max relative gradient difference per stage: {diffs:?}");
    for (stage, d) in &diffs {
        assert!(*d <= TOLERANCE, "stage `{stage}`: 2 ranks differ from one process by {d:e} (relative)");
    }
    // The refilling stage did refill: its equality covers groups drawn in later rounds and dealt across ranks.
    let metrics = std::fs::read_to_string(one.parent().unwrap().join("run/metrics.jsonl")).unwrap();
    let refill: serde_json::Value = metrics
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["step"] == 10 && v.get("train/generation_rounds").is_some())
        .expect("the refill step's metrics");
    assert!(refill["train/generation_rounds"].as_f64().unwrap() > 1.0, "{refill}");

    // Negative control: rank-local token normalisers and no cross-rank gather must break the equality, so the
    // comparison above cannot pass vacuously.
    let off = ["--set", "stage.4.loss.gather_across_ranks=false", "--set", "stage.5.loss.gather_across_ranks=false"];
    let wrong = train("wrong", 2, 4, &off, "local-normaliser");
    let diffs = compare(&wrong, &one);
    eprintln!("known-wrong variant: {diffs:?}");
    for stage in ["dapo", "warmup", "contrastive", "gradcache"] {
        assert!(
            diffs[stage] > 10.0 * TOLERANCE,
            "stage `{stage}`: the wrong variant was not caught ({:e})",
            diffs[stage]
        );
    }
}

/// A warm-up recipe of `steps` steps with a checkpoint every 2 and a watchdog deadline of `timeout` seconds.
fn warmup_recipe(dir: &Path, steps: usize, timeout: u64) -> PathBuf {
    let d = |f: &str| root().join("data").join(f).display().to_string();
    let text = format!(
        "[run]\nname = \"dp\"\noutput = \"{}\"\ncheckpoint_every = 2\ncollective_timeout_s = {timeout}\n\n\
         [model]\npreset = \"tiny\"\ntokenizer = \"{}\"\n\n[data]\ncorpus = [\"{}\"]\n\n\
         [[stage]]\nname = \"warmup\"\nkind = \"warmup\"\ntrain = [\"{}\"]\nsteps = {steps}\nbatch_size = 2\n\
         [stage.limits]\nquery = 40\nreasoning = 24\ndocument = 48\n",
        dir.join("run").display(),
        d("tokenizer.json"),
        d("corpus.parquet"),
        d("train_warmup.parquet"),
    );
    let file = dir.join("recipe.toml");
    std::fs::write(&file, text).unwrap();
    file
}

#[test]
fn a_crashed_rank_resumes_to_the_uninterrupted_losses_and_needs_the_same_world_size() {
    let full = scratch_dir("dp-full");
    let file = warmup_recipe(&full, 4, 600);
    let out = run(2, &["--recipe", file.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let want = losses(&full.join("run"));
    assert_eq!(want.len(), 4);

    let cut = scratch_dir("dp-cut");
    let file = warmup_recipe(&cut, 4, 600);
    let recipe = ["--recipe", file.to_str().unwrap()];
    let out = run(2, &recipe, &[("T1_TEST_FAULT", "exit:rank=1:step=3")]);
    assert!(!out.status.success(), "the job must fail when a rank dies");

    let alone = run(1, &[&recipe[..], &["--resume"]].concat(), &[]);
    let stderr = String::from_utf8_lossy(&alone.stderr);
    assert!(!alone.status.success() && stderr.contains("mpirun -np 2"), "a 1-process resume must be refused: {stderr}");

    let out = run(2, &[&recipe[..], &["--resume"]].concat(), &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got = losses(&cut.join("run"));
    for (step, loss) in &want {
        let again = got.get(step).unwrap_or_else(|| panic!("step {step} missing after resume"));
        assert!((loss - again).abs() <= 1e-6 * loss.abs(), "step {step}: {again} after resume vs {loss}");
    }
}

#[test]
fn a_hung_rank_is_ended_by_the_watchdog() {
    let dir = scratch_dir("dp-hang");
    let file = warmup_recipe(&dir, 6, 4);
    let start = Instant::now();
    let out = run(2, &["--recipe", file.to_str().unwrap()], &[("T1_TEST_FAULT", "hang:rank=1:step=2")]);
    let took = start.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("rank 0 waited") && stderr.contains("run.collective_timeout_s"),
        "rank 0's watchdog ends the job and says why: {stderr}"
    );
    assert!(took < Duration::from_secs(60), "the job ended {took:?} after start (deadline 4 s)");
}

#[test]
fn a_killed_rank_ends_the_job() {
    let dir = scratch_dir("dp-kill");
    let file = warmup_recipe(&dir, 100_000, 600);
    let mut child = job(2, &["--recipe", file.to_str().unwrap()], &[]).stderr(Stdio::null()).spawn().unwrap();
    let started = Instant::now();
    while losses(&dir.join("run")).len() < 2 {
        assert!(started.elapsed() < Duration::from_secs(120), "the job made no progress");
        assert!(child.try_wait().unwrap().is_none(), "the job ended early");
        std::thread::sleep(Duration::from_millis(100));
    }
    let ranks = children_named(child.id(), "trainer");
    assert_eq!(ranks.len(), 2, "mpirun's trainer processes: {ranks:?}");
    let killed = Instant::now();
    Command::new("kill").args(["-9", &ranks[1].to_string()]).status().unwrap();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(!status.success());
            break;
        }
        assert!(killed.elapsed() < Duration::from_secs(60), "the job outlived a killed rank by 60 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Descendants of `pid` whose command name is `name`.
fn children_named(pid: u32, name: &str) -> Vec<u32> {
    let mut found = Vec::new();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
            // Fields after the parenthesised command: state, ppid, ...
            let Some(close) = stat.rfind(')') else { continue };
            let command = &stat[stat.find('(').unwrap_or(0) + 1..close];
            let ppid: u32 = stat[close + 2..].split(' ').nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
            if ppid == parent {
                frontier.push(child);
                if command == name {
                    found.push(child);
                }
            }
        }
    }
    found
}

#[test]
fn a_launcher_without_mpi_is_named() {
    let dir = scratch_dir("dp-misfire");
    let file = warmup_recipe(&dir, 2, 600);
    let out = run(1, &["--recipe", file.to_str().unwrap()], &[("WORLD_SIZE", "2")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("mpirun -np 2"), "{stderr}");
}
