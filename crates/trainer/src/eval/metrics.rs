//! Retrieval metrics exactly as trec_eval (and pytrec_eval) compute them.
//!
//! - A ranking is ordered by score descending, ties by document id descending (byte order), whatever the
//!   input order.
//! - nDCG@k: linear gain (the relevance value), log2(rank + 1) discount; the ideal DCG uses all judged positive
//!   relevances of the query, truncated at k. A query without relevant documents scores 0.
//! - Recall@k: relevant (rel ≥ 1) documents in the top k over all relevant documents in the qrels.
//! - MRR (`recip_rank`): 1 / rank of the first relevant document, no cut-off.
//! - P@k: relevant documents in the top k over k.
//! - Only queries present in both the run and the qrels are scored; means are over those queries.

use std::collections::{BTreeMap, HashMap};

/// Judgements of one query: document id → relevance.
pub type QueryQrels = HashMap<String, i32>;

/// Orders `(doc_id, score)` pairs as trec_eval does: score descending, then doc id descending.
pub fn trec_order(run: &mut [(String, f32)]) {
    run.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| b.0.as_bytes().cmp(a.0.as_bytes())));
}

/// The measures of one query, from its trec-ordered ranking.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct QueryMetrics {
    /// nDCG@10.
    pub ndcg_10: f64,
    /// nDCG@5.
    pub ndcg_5: f64,
    /// Recall@10.
    pub recall_10: f64,
    /// Recall@100.
    pub recall_100: f64,
    /// Reciprocal rank of the first relevant document.
    pub mrr: f64,
    /// Precision@10.
    pub p_10: f64,
}

/// nDCG@k of a ranked list of document ids.
pub fn ndcg_at(ranked: &[&str], qrels: &QueryQrels, k: usize) -> f64 {
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, d)| qrels.get(*d).copied().unwrap_or(0).max(0) as f64 / (i as f64 + 2.0).log2())
        .sum();
    let mut ideal: Vec<i32> = qrels.values().copied().filter(|&r| r > 0).collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = ideal.iter().take(k).enumerate().map(|(i, &r)| r as f64 / (i as f64 + 2.0).log2()).sum();
    if idcg > 0.0 { dcg / idcg } else { 0.0 }
}

fn relevant(qrels: &QueryQrels, doc: &str) -> bool {
    qrels.get(doc).is_some_and(|&r| r >= 1)
}

/// Recall@k of a ranked list.
pub fn recall_at(ranked: &[&str], qrels: &QueryQrels, k: usize) -> f64 {
    let total = qrels.values().filter(|&&r| r >= 1).count();
    if total == 0 {
        return 0.0;
    }
    ranked.iter().take(k).filter(|d| relevant(qrels, d)).count() as f64 / total as f64
}

/// All measures of one query from its trec-ordered ranking.
pub fn query_metrics(ranked: &[&str], qrels: &QueryQrels) -> QueryMetrics {
    let first = ranked.iter().position(|d| relevant(qrels, d));
    QueryMetrics {
        ndcg_10: ndcg_at(ranked, qrels, 10),
        ndcg_5: ndcg_at(ranked, qrels, 5),
        recall_10: recall_at(ranked, qrels, 10),
        recall_100: recall_at(ranked, qrels, 100),
        mrr: first.map_or(0.0, |r| 1.0 / (r as f64 + 1.0)),
        p_10: ranked.iter().take(10).filter(|d| relevant(qrels, d)).count() as f64 / 10.0,
    }
}

/// Scores a run (query → scored documents, any order) against qrels: per-query measures for the queries present
/// in both, in query-id order.
pub fn evaluate(
    run: &HashMap<String, Vec<(String, f32)>>,
    qrels: &HashMap<String, QueryQrels>,
) -> BTreeMap<String, QueryMetrics> {
    let mut out = BTreeMap::new();
    for (qid, docs) in run {
        let Some(judged) = qrels.get(qid) else { continue };
        let mut docs = docs.clone();
        trec_order(&mut docs);
        let ranked: Vec<&str> = docs.iter().map(|(d, _)| d.as_str()).collect();
        out.insert(qid.clone(), query_metrics(&ranked, judged));
    }
    out
}

/// The mean of each measure over `per_query` (zeros when empty).
pub fn mean(per_query: &BTreeMap<String, QueryMetrics>) -> QueryMetrics {
    let n = per_query.len().max(1) as f64;
    let mut m = QueryMetrics::default();
    for q in per_query.values() {
        m.ndcg_10 += q.ndcg_10 / n;
        m.ndcg_5 += q.ndcg_5 / n;
        m.recall_10 += q.recall_10 / n;
        m.recall_100 += q.recall_100 / n;
        m.mrr += q.mrr / n;
        m.p_10 += q.p_10 / n;
    }
    m
}
