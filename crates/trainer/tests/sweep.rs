//! `trainer sweep`: expansion and validation of sweep files, pinned indices, the Slurm script, and a small sweep
//! run end to end — killed mid-way and re-run, it finishes without re-running finished runs and resumes the killed
//! one to the same losses.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use trainer::sweep::manifest::pin;
use trainer::sweep::plan::Sweep;
use trainer::sweep::slurm;

mod common;

use common::{losses, root, scratch_dir};

const BIN: &str = env!("CARGO_BIN_EXE_trainer");

/// A small base recipe: warm-up, 3 steps with a checkpoint after each, one plain evaluation on dev.
fn base_recipe(dir: &Path) -> PathBuf {
    let d = |f: &str| root().join("data").join(f).display().to_string();
    let text = format!(
        "[run]\nname = \"base\"\ncheckpoint_every = 1\n\n[model]\npreset = \"tiny\"\ntokenizer = \"{}\"\n\n\
         [data]\ncorpus = [\"{}\"]\n\n[[stage]]\nname = \"warmup\"\nkind = \"warmup\"\ntrain = [\"{}\"]\nsteps = 3\n\
         batch_size = 4\n[stage.limits]\nquery = 40\nreasoning = 24\ndocument = 48\n\n[[eval]]\nname = \"dev\"\n\
         queries = [\"{}\"]\nqrels = [\"{}\"]\nmode = \"plain\"\nbatch_size = 64\n",
        d("tokenizer.json"),
        d("corpus.parquet"),
        d("train_warmup.parquet"),
        d("dev_queries.parquet"),
        d("dev_qrels.parquet"),
    );
    let path = dir.join("base.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn sweep_text(recipe: &Path, out: &Path, extra: &str) -> String {
    format!(
        "[sweep]\nname = \"t\"\nrecipe = \"{}\"\nseeds = [0, 1]\nmetric = \"dev/ndcg@10\"\ncolumns = [\"dev/mrr\"]\n\
         output = \"{}\"\n\n[[variant]]\nname = \"base\"\n\n[[variant]]\nname = \"low lr\"\n\
         set = {{ \"stage.warmup.optim.lr\" = 1e-4 }}\n{extra}",
        recipe.display(),
        out.display()
    )
}

fn parse(text: &str) -> anyhow::Result<Sweep> {
    Sweep::parse(text, Path::new("sweeps/test.toml"))
}

#[test]
fn expansion_crosses_variants_grids_axes_and_seeds_and_errors_name_the_variant() {
    let dir = scratch_dir("sweep-expand");
    let recipe = base_recipe(&dir);
    let out = dir.join("out");
    let grid = "\n[[variant]]\nname = \"batch\"\ngrid = { \"stage.warmup.batch_size\" = [2, 8] }\n\
                \n[[axis]]\nkeys = [\"stage.warmup.steps\", \"stage.warmup.optim.warmup_steps\"]\n\
                values = [[3, 1], [4, 2]]\n";
    let sweep = parse(&sweep_text(&recipe, &out, grid)).unwrap();
    // (base + low lr + 2 grid values) × 2 zipped axis values × 2 seeds.
    assert_eq!(sweep.runs.len(), 4 * 2 * 2);
    let ids: Vec<&str> = sweep.runs.iter().map(|r| r.id.as_str()).collect();
    assert!(ids.contains(&"batch-batch-size-8-steps-4-warmup-steps-2__s1"), "{ids:?}");
    let run = sweep
        .runs
        .iter()
        .find(|r| r.label.contains("batch_size=8") && r.label.contains("steps=4") && r.seed == 1)
        .unwrap();
    for want in [
        "stage.warmup.batch_size=8",
        "stage.warmup.steps=4",
        "stage.warmup.optim.warmup_steps=2",
        "run.seed=1",
        "model.init_seed=1",
    ] {
        assert!(run.overrides.iter().any(|o| o == want), "{want} missing from {:?}", run.overrides);
    }

    let cases = [
        (sweep_text(&recipe, &out, "").replace("optim.lr", "optim.lrr"), "variant `low lr`"),
        (sweep_text(&recipe, &out, "").replace("seeds = [0, 1]", "seeds = []"), "seeds is empty"),
        (sweep_text(&recipe, &out, "").replace("name = \"t\"", "name = \"t\"\nbaseline = \"nope\""), "baseline `nope`"),
        (
            sweep_text(&recipe, &out, "\n[[axis]]\nkeys = [\"run.seed\", \"run.log_every\"]\nvalues = [[1]]\n"),
            "[[axis]] 0",
        ),
        (sweep_text(&recipe, &out, "\n[[variant]]\nname = \"Low LR\"\n"), "same id"),
        (sweep_text(&recipe, &out, "").replace("metric", "metrik"), "sweeps/test.toml"),
    ];
    for (text, want) in cases {
        let err = format!("{:#}", parse(&text).unwrap_err());
        assert!(err.contains("sweeps/test.toml") && err.contains(want), "expected `{want}` in: {err}");
    }
}

#[test]
fn indices_stay_pinned_when_the_file_grows() {
    let dir = scratch_dir("sweep-pin");
    let recipe = base_recipe(&dir);
    let out = dir.join("out");
    let first = pin(&parse(&sweep_text(&recipe, &out, "")).unwrap()).unwrap();
    let grown = sweep_text(&recipe, &out, "").replacen(
        "[[variant]]\nname = \"base\"",
        "[[variant]]\nname = \"new first\"\nset = { \"run.log_every\" = 2 }\n\n[[variant]]\nname = \"base\"",
        1,
    );
    let second = pin(&parse(&grown).unwrap()).unwrap();
    for (index, run) in &first {
        let again = second.iter().find(|(_, r)| r.id == run.id).unwrap();
        assert_eq!(again.0, *index, "{} moved", run.id);
    }
    assert_eq!(second.len(), first.len() + 2);
    assert!(second.iter().filter(|(_, r)| r.variant == "new first").all(|(i, _)| *i >= first.len()));
}

#[test]
fn the_slurm_script_is_valid_bash_and_runs_one_pinned_run_per_task() {
    let dir = scratch_dir("sweep-slurm");
    let recipe = base_recipe(&dir);
    let text = sweep_text(
        &recipe,
        &dir.join("out"),
        "\n[slurm]\npartition = \"gpu\"\ngres = \"gpu:1\"\nsetup = [\"module load openmpi\"]\n",
    );
    let sweep = parse(&text).unwrap();
    let script = slurm::script(&sweep, 4, Path::new("/opt/t1/trainer"), Path::new("/work/t1 repo"));
    for want in [
        "#SBATCH --array=0-3%8",
        "#SBATCH --partition=gpu",
        "#SBATCH --gres=gpu:1",
        "--requeue",
        "module load openmpi",
        "--run-one \"$SLURM_ARRAY_TASK_ID\"",
        "cd '/work/t1 repo'",
    ] {
        assert!(script.contains(want), "{want} missing:\n{script}");
    }
    let file = dir.join("sweep.sbatch");
    std::fs::write(&file, &script).unwrap();
    let status = Command::new("bash").arg("-n").arg(&file).status().unwrap();
    assert!(status.success(), "bash -n rejects:\n{script}");
}

#[test]
fn every_shipped_sweep_expands() {
    for entry in std::fs::read_dir(root().join("sweeps")).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "toml") {
            // From the repository root, where its base recipe and data paths resolve (as `trainer sweep` runs).
            let out = Command::new(BIN).arg("sweep").arg(&path).arg("--plan").current_dir(root()).output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
            assert!(stdout.contains(" runs → "), "{stdout}");
        }
    }
}

fn sweep_cmd(file: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("sweep").arg(file).current_dir(root()).stdout(Stdio::null()).stderr(Stdio::null());
    cmd
}

#[test]
fn a_killed_sweep_reruns_to_completion_without_repeating_finished_runs() {
    let dir = scratch_dir("sweep-e2e");
    let recipe = base_recipe(&dir);
    let (out, reference) = (dir.join("out"), dir.join("reference"));
    let file = dir.join("sweep.toml");
    std::fs::write(&file, sweep_text(&recipe, &out, "")).unwrap();
    let ids = ["base__s0", "base__s1", "low-lr__s0", "low-lr__s1"];

    // Kill the whole sweep (its process group) once the first run finished and the second has a checkpoint.
    let mut child = sweep_cmd(&file).process_group(0).spawn().unwrap();
    let started = Instant::now();
    let runs = out.join("runs");
    loop {
        let second_checkpoint = std::fs::read_dir(runs.join(ids[1]).join("checkpoints"))
            .map(|d| d.flatten().any(|e| e.file_name().to_string_lossy().starts_with("step-")))
            .unwrap_or(false);
        if runs.join(ids[0]).join("summary.json").exists() && second_checkpoint {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "the sweep ended before it could be killed");
        assert!(started.elapsed() < Duration::from_secs(300), "the sweep made no progress");
        std::thread::sleep(Duration::from_millis(50));
    }
    Command::new("kill").args(["-s", "KILL", "--", &format!("-{}", child.id())]).status().unwrap();
    child.wait().unwrap();
    let finished = std::fs::read(runs.join(ids[0]).join("summary.json")).unwrap();
    let finished_time = std::fs::metadata(runs.join(ids[0]).join("summary.json")).unwrap().modified().unwrap();
    assert!(!runs.join(ids[1]).join("summary.json").exists());

    let status = sweep_cmd(&file).status().unwrap();
    assert!(status.success());
    assert_eq!(std::fs::read(runs.join(ids[0]).join("summary.json")).unwrap(), finished, "a finished run was re-run");
    assert_eq!(std::fs::metadata(runs.join(ids[0]).join("summary.json")).unwrap().modified().unwrap(), finished_time);
    let log = std::fs::read_to_string(runs.join(ids[1]).join("log.txt")).unwrap();
    assert!(log.contains("resuming from"), "the killed run was not resumed:\n{log}");

    // The same sweep uninterrupted, two runs at a time: the same losses for every run.
    std::fs::write(&file, sweep_text(&recipe, &reference, "")).unwrap();
    let status = sweep_cmd(&file).arg("--parallel").arg("2").status().unwrap();
    assert!(status.success());
    for id in ids {
        let (got, want) = (losses(&runs.join(id)), losses(&reference.join("runs").join(id)));
        assert_eq!(got.len(), 3, "{id}: {got:?}");
        for (step, loss) in &want {
            assert!((got[step] - loss).abs() <= 1e-6 * loss.abs(), "{id} step {step}: {} vs {loss}", got[step]);
        }
    }

    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "header + 4 runs:\n{csv}");
    assert!(csv.lines().nth(1).unwrap().contains(",done,"), "{csv}");
    let table = std::fs::read_to_string(out.join("ablation.md")).unwrap();
    assert!(
        table.contains("| base | — | 2 |") && table.contains("| low lr | `stage.warmup.optim.lr=0.0001` | 2 |"),
        "{table}"
    );
    let plot = std::fs::read_to_string(out.join("plots").join("dev-ndcg-10.svg")).unwrap();
    assert!(plot.starts_with("<svg") && plot.matches("<circle").count() == 2, "{plot}");
    assert!(std::fs::read_to_string(out.join("plots").join("curves_train-loss.svg")).unwrap().contains("<polyline"));
}

#[test]
fn sweep_reference_lists_every_field() {
    use trainer::sweep::plan::{AxisSpec, SlurmSpec, SweepFile, SweepSpec, VariantSpec};
    let some = toml::Table::from_iter([("k".to_string(), toml::Value::Integer(1))]);
    let file = SweepFile {
        sweep: SweepSpec {
            name: "n".into(),
            recipe: "r.toml".into(),
            seeds: vec![0],
            seed_keys: vec![],
            baseline: Some("b".into()),
            metric: "m".into(),
            columns: vec![],
            delta_from: Some("d".into()),
            set: some.clone(),
            output: Some("o".into()),
        },
        variant: vec![VariantSpec { name: "v".into(), set: some.clone(), grid: some }],
        axis: vec![AxisSpec { key: Some("k".into()), keys: Some(vec![]), values: vec![] }],
        slurm: SlurmSpec { partition: Some("p".into()), gres: Some("g".into()), ..SlurmSpec::default() },
    };
    let value = toml::Value::try_from(&file).unwrap();
    let doc = std::fs::read_to_string(root().join("sweeps/README.md")).unwrap();
    let tables = [
        ("[sweep]", &value["sweep"]),
        ("[[variant]]", &value["variant"][0]),
        ("[[axis]]", &value["axis"][0]),
        ("[slurm]", &value["slurm"]),
    ];
    for (heading, table) in tables {
        let start = doc.find(&format!("## `{heading}`")).unwrap_or_else(|| panic!("no section {heading}"));
        let rest = &doc[start + 3..];
        let section = &rest[..rest.find("\n## ").unwrap_or(rest.len())];
        for key in table.as_table().unwrap().keys() {
            assert!(section.contains(&format!("| `{key}` |")), "sweeps/README.md: `{heading}` lacks `{key}`");
        }
    }
}
