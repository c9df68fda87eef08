//! `trainer data ...`: the data tools of the `data` crate behind one command.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use data::tools::import::{FieldMap, import_beir, import_bright, import_jsonl};
use data::tools::tokenizer::{TextSource, TokenizerTrainConfig, train_tokenizer};
use data::tools::writer::WriteOptions;
use data::{ColumnNames, ShardSet};

/// Data subcommands.
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Schema, row count, row groups, sample rows and the stage a shard fits.
    Inspect {
        /// Parquet files or globs.
        #[arg(required = true)]
        shards: Vec<String>,
    },
    /// A BEIR folder (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv) → corpus, queries and qrels shards.
    ImportBeir {
        /// The BEIR dataset folder.
        dir: PathBuf,
        /// Qrels split to import.
        #[arg(long, default_value = "test")]
        split: String,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// A BRIGHT task (examples JSONL with id, query, gold_ids, excluded_ids; documents JSONL with id, content).
    ImportBright {
        /// Examples JSONL.
        #[arg(long)]
        examples: PathBuf,
        /// Documents JSONL.
        #[arg(long)]
        documents: PathBuf,
        /// Task name stored in the queries' `task` column.
        #[arg(long)]
        task: Option<String>,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Plain JSONL → one shard, with a field mapping per column (`column=source[:string|list|int32][?]`).
    ImportJsonl {
        /// Input JSONL.
        input: PathBuf,
        /// Output Parquet file.
        #[arg(long)]
        out: PathBuf,
        /// Column mappings, e.g. `--field query_id=id --field positive_ids=gold:list`.
        #[arg(long = "field", required = true)]
        fields: Vec<String>,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Train a byte-level BPE tokenizer with `<pad>`, `<eos>` and `<embtoken>` as ids 0, 1, 2.
    TrainTokenizer {
        /// Corpus shards (their title + text is used).
        #[arg(long, required = true)]
        corpus: Vec<String>,
        /// Vocabulary size.
        #[arg(long, default_value_t = 4000)]
        vocab_size: usize,
        /// Output tokenizer.json.
        #[arg(long)]
        out: PathBuf,
    },
}

/// Parquet writing options shared by the importers.
#[derive(Debug, Args)]
pub struct WriteArgs {
    /// Rows per row group.
    #[arg(long, default_value_t = 10_000)]
    pub row_group_rows: usize,
    /// zstd level (1–22).
    #[arg(long, default_value_t = 3)]
    pub zstd_level: i32,
}

impl WriteArgs {
    fn options(&self) -> WriteOptions {
        WriteOptions { row_group_rows: self.row_group_rows, zstd_level: self.zstd_level }
    }
}

/// Runs a data subcommand.
pub fn run(command: &DataCommand) -> anyhow::Result<()> {
    match command {
        DataCommand::Inspect { shards } => {
            print!("{}", data::tools::inspect::inspect(shards, &ColumnNames::default())?)
        }
        DataCommand::ImportBeir { dir, split, out, write } => {
            print!("{}", import_beir(dir, split, out, &write.options())?)
        }
        DataCommand::ImportBright { examples, documents, task, out, write } => {
            print!("{}", import_bright(examples, documents, out, task.as_deref(), &write.options())?)
        }
        DataCommand::ImportJsonl { input, out, fields, write } => {
            let fields = fields.iter().map(|f| FieldMap::parse(f)).collect::<Result<Vec<_>, _>>()?;
            let written = import_jsonl(input, out, &fields, &write.options())?;
            println!("wrote {} rows to {}", written.rows, written.path.display());
        }
        DataCommand::TrainTokenizer { corpus, vocab_size, out } => {
            let source = TextSource::Corpus { shards: ShardSet::open(corpus)?, columns: Box::default() };
            let config = TokenizerTrainConfig { vocab_size: *vocab_size, ..TokenizerTrainConfig::default() };
            let trained = train_tokenizer(&source, &config, out)?;
            println!(
                "wrote {} (vocabulary {}, from {} texts)",
                trained.path.display(),
                trained.vocab_size,
                trained.sequences
            );
        }
    }
    Ok(())
}
