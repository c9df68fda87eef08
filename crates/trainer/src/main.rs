//! `trainer`: the project's one front door.
//!
//! - `trainer --recipe stage1_warmup.toml [--set key=value]... [--resume [auto|PATH]] [--dry-run]` trains;
//! - `trainer embed --model DIR --input FILE --output OUT.npy` encodes texts;
//! - `trainer data ...` inspects, imports and tokenizes data.

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "trainer", version, about = "Train reasoning retrievers: warm-up, contrastive alignment, GRPO")]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Encode texts with a model directory into a .npy matrix.
    Embed(trainer::embed::EmbedArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Some(Command::Embed(args)) => trainer::embed::run(args),
        None => Err(anyhow::anyhow!("nothing to do: pass --recipe FILE or a subcommand (see --help)")),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
