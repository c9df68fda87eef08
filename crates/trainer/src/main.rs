//! `trainer`: the project's one front door.
//!
//! - `trainer --recipe stage1_warmup.toml [--set key.path=value]... [--resume [auto|PATH] | --overwrite] [--dry-run]`
//!   trains (`--list-keys` lists every key `--set` can change);
//! - `trainer embed --model DIR --input FILE --output OUT.npy` encodes texts;
//! - `trainer eval --model DIR --queries Q --qrels R --corpus C` scores a model (table, JSON, TREC run);
//! - `trainer data inspect|import-beir|import-bright|import-jsonl|train-tokenizer` prepares data;
//! - `trainer sweep FILE [--parallel N] [--report] [--slurm]` runs an ablation sweep;
//! - `trainer completions bash|zsh|fish|...` prints a shell completion script.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, CommandFactory, Parser, Subcommand};
use trainer::recipe::Recipe;
use trainer::train::runner::{Resume, train};

#[derive(Debug, Parser)]
#[command(name = "trainer", version, about = "Train reasoning retrievers: warm-up, contrastive alignment, GRPO")]
#[command(args_conflicts_with_subcommands = true, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    train: TrainArgs,
}

/// Shown after `--help`.
const EXAMPLES: &str = "\
Examples:
  trainer --recipe curriculum.toml                         # the three stages on the embedded default (CPU)
  trainer --recipe curriculum.toml --set stage.0.steps=20 --set run.seed=3 --output runs/s3
  trainer --recipe curriculum.toml --resume                # continue from the newest checkpoint
  trainer --recipe curriculum.toml --list-keys             # every --set key: value, type, default, meaning
  trainer --recipe curriculum.toml --dry-run               # the resolved recipe and the plan
  trainer --recipe curriculum.toml --set 'model.path=\"Qwen/Qwen3-0.6B\"'   # from the local HF cache
  trainer eval --model checkpoints/curriculum/grpo/final --queries data/test_queries.parquet \\
               --qrels data/test_qrels.parquet --corpus data/corpus.parquet
  trainer sweep sweeps/curriculum_ablation.toml --parallel 2
Recipe reference: recipes/README.md";

#[derive(Debug, Args)]
struct TrainArgs {
    /// Recipe file; a bare name is also looked up in recipes/ (e.g. `--recipe curriculum.toml`).
    #[arg(long)]
    recipe: Option<PathBuf>,
    /// Override a recipe field, e.g. `--set stage.0.steps=20` or `--set run.seed=3` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Backend (overrides run.device): cpu, wgpu[:N], cuda[:N].
    #[arg(long)]
    device: Option<String>,
    /// Run folder (overrides run.output).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Resume from the newest checkpoint of the run (`auto`, the default value) or from a checkpoint folder.
    #[arg(long, num_args = 0..=1, default_missing_value = "auto", value_name = "auto|PATH")]
    resume: Option<String>,
    /// Start afresh in a run folder that holds an earlier run, removing that run's metrics, checkpoints and
    /// exports first (without it, such a folder is an error).
    #[arg(long, conflicts_with = "resume")]
    overwrite: bool,
    /// Print the resolved recipe and the plan, then exit.
    #[arg(long)]
    dry_run: bool,
    /// List every key `--set` can change — its value in this recipe, type, default and meaning — then exit.
    #[arg(long)]
    list_keys: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Encode texts with a model directory into a .npy matrix.
    Embed(trainer::embed::EmbedArgs),
    /// Evaluate a model directory: per-task table, report.json and a TREC run file.
    Eval(trainer::eval::command::EvalArgs),
    /// Inspect, import and tokenize data.
    #[command(subcommand)]
    Data(trainer::data_cmd::DataCommand),
    /// Run an ablation sweep (variants × seeds of one recipe): locally, resumable, or as a Slurm job array.
    Sweep(trainer::sweep::SweepArgs),
    /// Print a shell completion script (for bash: `trainer completions bash > /etc/bash_completion.d/trainer`).
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

fn main() {
    model::host::keep_freed_memory();
    let cli = Cli::parse();
    let result = match &cli.command {
        Some(Command::Embed(args)) => trainer::embed::run(args),
        Some(Command::Data(cmd)) => trainer::data_cmd::run(cmd),
        Some(Command::Eval(args)) => trainer::eval::command::run(args),
        Some(Command::Sweep(args)) => trainer::sweep::run(args),
        Some(Command::Completions { shell }) => {
            clap_complete::generate(*shell, &mut Cli::command(), "trainer", &mut std::io::stdout());
            Ok(())
        }
        None => run_training(&cli.train),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run_training(args: &TrainArgs) -> anyhow::Result<()> {
    let path = args.recipe.as_ref().context("nothing to do: pass --recipe FILE or a subcommand (see --help)")?;
    let mut overrides = args.set.clone();
    // As TOML strings, escaped: a quote or backslash in a path stays part of the path.
    let quoted = |text: String| toml::Value::String(text).to_string();
    if let Some(device) = &args.device {
        overrides.push(format!("run.device={}", quoted(device.clone())));
    }
    if let Some(output) = &args.output {
        overrides.push(format!("run.output={}", quoted(output.display().to_string())));
    }
    let (recipe, file) = Recipe::load(path, &overrides)?;
    let resolved = toml::to_string_pretty(&recipe).context("serialising the resolved recipe")?;
    if args.list_keys {
        print!("{}", trainer::recipe_keys::list(&recipe)?);
        return Ok(());
    }
    if args.dry_run {
        println!("# resolved recipe ({})\n{resolved}", file.display());
        println!("{}", trainer::recipe::plan(&recipe));
        return Ok(());
    }
    let resume = match args.resume.as_deref() {
        None if args.overwrite => Resume::Overwrite,
        None => Resume::Fresh,
        Some("auto") => Resume::Auto,
        Some(p) => Resume::From(PathBuf::from(p)),
    };
    let summaries = train(&recipe, &resolved, resume)?;
    for s in summaries {
        println!(
            "{}: {} steps, final loss {:.4}, {:.1}s → {}",
            s.name,
            s.steps,
            s.final_loss,
            s.seconds,
            s.export.display()
        );
    }
    Ok(())
}
