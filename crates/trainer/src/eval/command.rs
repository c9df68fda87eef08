//! `trainer eval`: evaluate a model directory on evaluation sets and write what the field uses to compare —
//! a per-task table on stdout, a JSON report and a standard TREC run file (`qid Q0 docid rank score tag`) that
//! trec_eval or pytrec_eval can re-score.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde_json::json;

use crate::eval::evaluator::{EvalOptions, EvalReport, QueryMode, evaluate};
use crate::eval::metrics::trec_order;
use crate::model_source;

/// Arguments of `trainer eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// HF model directory.
    #[arg(long)]
    pub model: PathBuf,
    /// Queries shards (`query_id`, `query`, optional `task`, `excluded_ids`).
    #[arg(long, required = true)]
    pub queries: Vec<String>,
    /// Qrels shards (`query_id`, `doc_id`, `relevance`).
    #[arg(long, required = true)]
    pub qrels: Vec<String>,
    /// Corpus shards.
    #[arg(long, required = true)]
    pub corpus: Vec<String>,
    /// `plain` (query only) or `generate` (greedy reasoning first).
    #[arg(long, value_enum, default_value = "generate")]
    pub mode: ModeArg,
    /// Reasoning length cap in generate mode.
    #[arg(long, default_value_t = 48)]
    pub max_new_tokens: usize,
    /// Reasoning sampling temperature in generate mode (0: greedy).
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    /// Document length cap in tokens (default: training's `stage.limits.document`, as in-run evaluation uses).
    #[arg(long, default_value_t = 128)]
    pub max_doc_tokens: usize,
    /// Query prompt length cap in tokens (default: training's `stage.limits.query`, as in-run evaluation uses).
    #[arg(long, default_value_t = 64)]
    pub max_query_tokens: usize,
    /// Texts per forward pass.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Drop retrieved documents whose id equals the query id (BEIR's rule).
    #[arg(long)]
    pub drop_query_id_docs: bool,
    /// Print the generated reasoning of the first N queries (generate mode).
    #[arg(long, default_value_t = 0)]
    pub show: usize,
    /// Output folder for `report.json` and `run.trec`.
    #[arg(long, default_value = "eval_out")]
    pub out: PathBuf,
    /// Backend.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// Query encoding on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModeArg {
    /// Query only.
    Plain,
    /// Generated reasoning.
    Generate,
}

/// Runs `trainer eval`.
pub fn run(args: &EvalArgs) -> anyhow::Result<()> {
    if args.batch_size == 0 || args.max_doc_tokens < 2 || args.max_query_tokens < 2 {
        anyhow::bail!(
            "--batch-size must be ≥ 1 and --max-doc-tokens / --max-query-tokens ≥ 2 (a text and its embedding token)"
        );
    }
    let device = model::parse_device(&args.device)?;
    let format = model_source::stored_format(&args.model)?;
    let loaded = model_source::open_dir(&args.model, &format.emb_token, &device)?;
    let names = data::ColumnNames::default();
    let corpus = data::Corpus::load(&data::ShardSet::open(&args.corpus)?, &names, data::BadRowPolicy::Error)?;
    let set = data::EvalSet::load(
        &data::ShardSet::open(&args.queries)?,
        &data::ShardSet::open(&args.qrels)?,
        &names,
        data::BadRowPolicy::Error,
    )?;
    let mode = match args.mode {
        ModeArg::Plain => QueryMode::Plain,
        ModeArg::Generate => QueryMode::Generate,
    };
    let options = EvalOptions {
        mode,
        batch_size: args.batch_size,
        max_new_tokens: args.max_new_tokens,
        temperature: args.temperature,
        max_doc_tokens: args.max_doc_tokens,
        max_query_tokens: args.max_query_tokens,
        drop_query_id_docs: args.drop_query_id_docs,
    };
    let report = evaluate(&loaded.model, &loaded.tokenizer, &format, &corpus, &set, &options)?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    print!("{}", table(&report));
    let queries: std::collections::HashMap<&str, &str> =
        set.queries.iter().map(|q| (q.query_id.as_str(), q.query.as_str())).collect();
    for (qid, text) in report.reasoning.iter().take(args.show) {
        println!("{qid}: {}\n  → {text}", queries.get(qid.as_str()).unwrap_or(&""));
    }
    let json = json!({
        "model": args.model,
        "mode": format!("{mode:?}").to_lowercase(),
        "options": {
            "max_new_tokens": args.max_new_tokens,
            "temperature": args.temperature,
            "max_doc_tokens": args.max_doc_tokens,
            "max_query_tokens": args.max_query_tokens,
            "drop_query_id_docs": args.drop_query_id_docs,
        },
        "queries_scored": report.per_query.len(),
        "mean": report.mean,
        "per_task": report.per_task,
        "per_query": report.per_query,
        "reasoning": report.reasoning,
    });
    model::hf::write_atomic(&args.out.join("report.json"), serde_json::to_string_pretty(&json)?.as_bytes())?;
    write_trec_run(&args.out.join("run.trec"), &report, "reasoning-retriever")?;
    eprintln!("wrote {} and {}", args.out.join("report.json").display(), args.out.join("run.trec").display());
    Ok(())
}

/// The per-task table (and the average over tasks, as BRIGHT reports it).
pub fn table(report: &EvalReport) -> String {
    let mut out = String::from("| task | nDCG@10 | Recall@10 | Recall@100 | MRR |\n| --- | --- | --- | --- | --- |\n");
    for (task, m) in &report.per_task {
        out.push_str(&format!(
            "| {task} | {:.4} | {:.4} | {:.4} | {:.4} |\n",
            m.ndcg_10, m.recall_10, m.recall_100, m.mrr
        ));
    }
    let n = report.per_task.len().max(1) as f64;
    let avg = |f: fn(&crate::eval::metrics::QueryMetrics) -> f64| report.per_task.values().map(f).sum::<f64>() / n;
    out.push_str(&format!(
        "| average over tasks | {:.4} | {:.4} | {:.4} | {:.4} |\n",
        avg(|m| m.ndcg_10),
        avg(|m| m.recall_10),
        avg(|m| m.recall_100),
        avg(|m| m.mrr)
    ));
    out
}

/// Writes `qid Q0 docid rank score tag` lines, each query in trec_eval's order, atomically (a killed run leaves no
/// truncated file for trec_eval to score). Scores are written with every digit of their shortest exact form, so
/// re-scoring the file orders near-ties as the reported metrics did.
pub fn write_trec_run(path: &std::path::Path, report: &EvalReport, tag: &str) -> anyhow::Result<()> {
    let mut text = String::new();
    let mut qids: Vec<&String> = report.run.keys().collect();
    qids.sort();
    for qid in qids {
        let mut docs = report.run[qid].clone();
        trec_order(&mut docs);
        for (rank, (doc, score)) in docs.iter().enumerate() {
            text.push_str(&format!("{qid} Q0 {doc} {} {score} {tag}\n", rank + 1));
        }
    }
    Ok(model::hf::write_atomic(path, text.as_bytes())?)
}
