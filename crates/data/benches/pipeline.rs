//! Parquet → tokenized, padded batches: rows/s and tokens/s with 1 and 2 worker threads,
//! and (opt-in) the peak RSS of streaming a ≥ 1 GB shard.
//!
//! ```text
//! cargo bench -p data --bench pipeline                      # ~100k-row shard
//! DATA_BENCH_ROWS=500000 cargo bench -p data --bench pipeline
//! DATA_BENCH_BIG=1 cargo bench -p data --bench pipeline     # + 1 GB streaming RSS case
//! DATA_BENCH_DIR=/tmp/bench cargo bench -p data --bench pipeline
//!     # keeps shard.parquet and tokenizer.json there for benches/data_pipeline_baseline.py
//! ```

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use data::tools::tokenizer::{TextSource, TokenizerTrainConfig, train_tokenizer};
use data::tools::writer::{ColumnKind, ParquetSink, Value, WriteOptions};
use data::{
    BadRowPolicy, CorpusDoc, PadSide, Prefetch, PrefetchConfig, ShardSet, Stream, StreamConfig, TokenBudget,
    TokenBudgetBatcher, TruncateSide, WarmupRow, pad_batch, truncate,
};

const MAX_LEN: usize = 256;
const TOKEN_BUDGET: usize = 32 * MAX_LEN;
const PAD_ID: u32 = 0;

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

/// A deterministic pseudo-text generator (xorshift over a fixed word list).
struct Words {
    state: u64,
    words: Vec<String>,
}

impl Words {
    fn new() -> Self {
        let syllables = [
            "ka", "lo", "mi", "ten", "ra", "sol", "vek", "an", "tu", "pre", "dis", "ion", "ber", "gra", "phy", "lu",
            "cel", "nor",
        ];
        let mut words = Vec::new();
        for a in syllables {
            for b in syllables {
                words.push(format!("{a}{b}"));
            }
        }
        Self { state: 0x9E37_79B9_7F4A_7C15, words }
    }

    fn next(&mut self) -> u64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state
    }

    fn sentence(&mut self, words: usize) -> String {
        let mut s = String::with_capacity(words * 7);
        for i in 0..words {
            if i > 0 {
                s.push(' ');
            }
            let w = (self.next() % self.words.len() as u64) as usize;
            s.push_str(&self.words[w]);
        }
        s
    }
}

fn write_warmup_shard(path: &Path, rows: usize) -> BenchResult<()> {
    let mut words = Words::new();
    let mut sink = ParquetSink::create(
        path,
        &[("query_id", ColumnKind::String), ("query", ColumnKind::String), ("reasoning", ColumnKind::String)],
        &WriteOptions::default(),
    )?;
    for i in 0..rows {
        let query_words = 12 + (words.next() % 20) as usize;
        let reasoning_words = 40 + (words.next() % 120) as usize;
        sink.push(vec![
            Value::Str(format!("q{i}")),
            Value::Str(words.sentence(query_words)),
            Value::Str(words.sentence(reasoning_words)),
        ])?;
    }
    sink.finish()?;
    Ok(())
}

fn train_bench_tokenizer(dir: &Path) -> BenchResult<tokenizers::Tokenizer> {
    let mut words = Words::new();
    let sample = dir.join("sample.txt");
    let text: Vec<String> = (0..2000).map(|_| words.sentence(50)).collect();
    std::fs::write(&sample, text.join("\n"))?;
    let config = TokenizerTrainConfig { vocab_size: 2000, ..TokenizerTrainConfig::default() };
    let path = dir.join("tokenizer.json");
    train_tokenizer(&TextSource::Files(vec![sample]), &config, &path)?;
    tokenizers::Tokenizer::from_file(&path).map_err(|e| e.to_string().into())
}

fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Parquet → Stream → Prefetch(tokenize + truncate) → token-budget batches → padded batches.
fn run_pipeline(
    shards: &ShardSet,
    tokenizer: &Arc<tokenizers::Tokenizer>,
    workers: usize,
) -> BenchResult<(u64, u64, f64)> {
    let stream = Stream::<WarmupRow>::new(shards, StreamConfig::default())?;
    let tok = Arc::clone(tokenizer);
    let tokenize = move |row: WarmupRow| -> Result<Vec<u32>, tokenizers::Error> {
        let text = format!("{}\n{}", row.query, row.reasoning);
        let mut ids = tok.encode(text, false)?.get_ids().to_vec();
        truncate(&mut ids, MAX_LEN, TruncateSide::Right);
        Ok(ids)
    };
    let config = PrefetchConfig { workers, capacity: 256 };
    let prefetch = Prefetch::new(stream, config, tokenize)?;
    let budget = TokenBudget { max_tokens: TOKEN_BUDGET, max_items: None, oversized: BadRowPolicy::Error };
    let batches = TokenBudgetBatcher::new(prefetch, budget, |p| p.item.len(), |p| p.origin.to_string())?;
    let start = Instant::now();
    let (mut rows, mut tokens) = (0u64, 0u64);
    for batch in batches {
        let batch = batch?;
        let seqs: Vec<&[u32]> = batch.iter().map(|p| p.item.as_slice()).collect();
        let padded = pad_batch(&seqs, PAD_ID, PadSide::Right);
        rows += padded.batch as u64;
        tokens += padded.lengths.iter().sum::<usize>() as u64;
        std::hint::black_box(&padded.ids);
    }
    Ok((rows, tokens, start.elapsed().as_secs_f64()))
}

fn big_rss_case(dir: &Path) -> BenchResult<()> {
    let path = dir.join("big.parquet");
    let mut words = Words::new();
    let opts = WriteOptions { row_group_rows: 10_000, zstd_level: 1 };
    let mut sink = ParquetSink::create(&path, &[("doc_id", ColumnKind::String), ("text", ColumnKind::String)], &opts)?;
    let (mut bytes, mut i) = (0usize, 0usize);
    let start = Instant::now();
    while bytes < 1 << 30 {
        let text = words.sentence(300);
        bytes += text.len();
        sink.push(vec![Value::Str(format!("d{i}")), Value::Str(text)])?;
        i += 1;
    }
    sink.finish()?;
    let written_hwm = vm_hwm_kib().unwrap_or(0);
    println!(
        "big: wrote {i} docs, {:.2} GiB of text in {:.1}s (VmHWM after writing: {} MiB)",
        bytes as f64 / f64::from(1 << 30),
        start.elapsed().as_secs_f64(),
        written_hwm / 1024
    );
    let shards = ShardSet::open(&[path.display().to_string()])?;
    let start = Instant::now();
    let mut streamed = 0usize;
    for doc in Stream::<CorpusDoc>::new(&shards, StreamConfig::default())? {
        streamed += doc?.text.len();
    }
    println!(
        "big: streamed {:.2} GiB in {:.1}s; peak RSS (VmHWM) {} MiB",
        streamed as f64 / f64::from(1 << 30),
        start.elapsed().as_secs_f64(),
        vm_hwm_kib().unwrap_or(0) / 1024
    );
    Ok(())
}

fn main() -> BenchResult<()> {
    let rows: usize = std::env::var("DATA_BENCH_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let big = std::env::var_os("DATA_BENCH_BIG").is_some() || std::env::args().any(|a| a == "--big");
    let temp = tempfile::tempdir()?;
    let dir = match std::env::var_os("DATA_BENCH_DIR") {
        Some(d) => {
            std::fs::create_dir_all(&d)?;
            std::path::PathBuf::from(d)
        }
        None => temp.path().to_path_buf(),
    };

    let shard = dir.join("shard.parquet");
    let start = Instant::now();
    write_warmup_shard(&shard, rows)?;
    println!(
        "generated {rows} warm-up rows ({} MiB) in {:.1}s",
        std::fs::metadata(&shard)?.len() >> 20,
        start.elapsed().as_secs_f64()
    );
    let tokenizer = Arc::new(train_bench_tokenizer(&dir)?);
    let shards = ShardSet::open(&[shard.display().to_string()])?;
    for workers in [1, 2] {
        let (rows, tokens, secs) = run_pipeline(&shards, &tokenizer, workers)?;
        println!(
            "pipeline, {workers} worker(s): {rows} rows, {tokens} tokens in {secs:.2}s = {:.0} rows/s, {:.0} tokens/s",
            rows as f64 / secs,
            tokens as f64 / secs
        );
    }
    if std::env::var_os("DATA_BENCH_DIR").is_some() {
        println!(
            "baseline: python crates/data/benches/data_pipeline_baseline.py {} {}",
            shard.display(),
            dir.join("tokenizer.json").display()
        );
    }
    if big {
        big_rss_case(&dir)?;
    } else {
        println!("big streaming case skipped (set DATA_BENCH_BIG=1)");
    }
    Ok(())
}
