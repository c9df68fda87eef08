//! Evaluator throughput: documents encoded per second (tiny model, `instruction + text + <embtoken>` from the
//! embedded corpus) and queries searched per second by the blocked exact search against 100k random documents.
//!
//! `cargo bench -p trainer --bench evaluator`

use std::time::Instant;

use burn::tensor::Device;
use model::{CausalLm, ModelConfig, TextFormat, TextTokenizer};
use trainer::embed::embed_texts;
use trainer::eval::evaluator::exact_top_k;

fn main() {
    let device = Device::flex();
    let root = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run under cargo")).join("../..");
    let tokenizer = TextTokenizer::from_file(&root.join("data/tokenizer.json"), "<embtoken>").unwrap();
    let config = ModelConfig::preset("tiny", tokenizer.vocab_size()).unwrap();
    let model = CausalLm::init_random(config.clone(), 0, &device).unwrap();
    let corpus = data::read_string_column(&[root.join("data/corpus.parquet").display().to_string()], "text").unwrap();
    let format = TextFormat::default();
    let docs: Vec<String> = corpus.iter().take(512).map(|t| format.document(t)).collect();
    let start = Instant::now();
    let emb = embed_texts(&model, &tokenizer, &docs, 32, 128, false).unwrap();
    let docs_per_s = docs.len() as f64 / start.elapsed().as_secs_f64();

    let dim = config.hidden_size;
    let n_docs = 100_000;
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let pool: Vec<f32> = (0..n_docs * dim).map(|_| next()).collect();
    let queries: Vec<f32> = emb[..128 * dim].to_vec();
    let start = Instant::now();
    let top = exact_top_k(&model, &queries, &pool, dim, 1000);
    let queries_per_s = top.len() as f64 / start.elapsed().as_secs_f64();
    println!("| encode documents (tiny, ≤128 tokens, batch 32) | {docs_per_s:.0} docs/s |");
    println!("| exact top-1000 search, 100k × {dim} documents | {queries_per_s:.1} queries/s |");
}
