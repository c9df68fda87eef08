//! The embedding anchor of stage 3: stage 2's InfoNCE on the rollouts' own embeddings, so the embedding space keeps
//! fitting the text the policy now writes (the reward is not differentiated through the embedding).
//!
//! As in stage 2: each query's positive is the per-query hash pick among its positives (not always the lead
//! paragraph), its hard negatives join the candidates, and an in-batch document that is another positive of the
//! rollout's own query is left out of its denominator (two queries of one entity share positives: counting one's
//! positive as the other's negative gives gradients that cannot be satisfied). Rollouts outside the loss (dropped
//! groups, masked truncations) are left out of the term too.

use serde::{Deserialize, Serialize};

/// What the anchor needs of one query.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AnchorDocs {
    /// The chosen positive: (id, tokens).
    pub positive: (String, Vec<u32>),
    /// Every positive id of the query.
    pub positive_ids: Vec<String>,
    /// Hard negatives: (id, tokens).
    pub negatives: Vec<(String, Vec<u32>)>,
}

/// The candidates of one micro-batch: documents to embed, each kept rollout's target column and the false-negative
/// mask (row-major `[rollouts, documents]`).
#[derive(Debug, Clone, PartialEq)]
pub struct AnchorLayout {
    /// Document token rows: the queries' positives (query order), then their negatives.
    pub docs: Vec<Vec<u32>>,
    /// Target column per kept rollout.
    pub targets: Vec<usize>,
    /// `true` = left out of that rollout's denominator.
    pub excluded: Vec<bool>,
}

/// The layout for rollouts whose queries are `rollout_queries` (indices into `anchors`; only the kept rollouts).
pub fn layout(anchors: &[AnchorDocs], rollout_queries: &[usize]) -> AnchorLayout {
    let mut queries: Vec<usize> = rollout_queries.to_vec();
    queries.sort_unstable();
    queries.dedup();
    let mut ids: Vec<&str> = queries.iter().map(|&q| anchors[q].positive.0.as_str()).collect();
    let mut docs: Vec<Vec<u32>> = queries.iter().map(|&q| anchors[q].positive.1.clone()).collect();
    for &q in &queries {
        for (id, tokens) in &anchors[q].negatives {
            ids.push(id);
            docs.push(tokens.clone());
        }
    }
    let mut targets = Vec::with_capacity(rollout_queries.len());
    let mut excluded = Vec::with_capacity(rollout_queries.len() * docs.len());
    for &q in rollout_queries {
        let target = queries.iter().position(|&x| x == q).expect("listed above");
        targets.push(target);
        let own = &anchors[q].positive_ids;
        excluded.extend(ids.iter().enumerate().map(|(j, id)| j != target && own.iter().any(|p| p == id)));
    }
    AnchorLayout { docs, targets, excluded }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anchor(pos: &str, ids: &[&str], negs: &[&str]) -> AnchorDocs {
        AnchorDocs {
            positive: (pos.into(), vec![pos.len() as u32]),
            positive_ids: ids.iter().map(|s| s.to_string()).collect(),
            negatives: negs.iter().map(|n| (n.to_string(), vec![n.len() as u32])).collect(),
        }
    }

    #[test]
    fn same_entity_positives_are_masked_and_negatives_join_the_candidates() {
        // Queries 0 and 1 are about one entity (positives p1..p3); query 2 is another.
        let anchors = [
            anchor("p1", &["p1", "p2", "p3"], &["n1"]),
            anchor("p2", &["p1", "p2", "p3"], &[]),
            anchor("q1", &["q1"], &["p3"]),
        ];
        let l = layout(&anchors, &[0, 0, 1, 2]);
        // Columns: p1, p2, q1 (positives), then n1, p3 (negatives of queries 0 and 2).
        assert_eq!(l.docs.len(), 5);
        assert_eq!(l.targets, vec![0, 0, 1, 2]);
        let row = |r: usize| l.excluded[r * 5..(r + 1) * 5].to_vec();
        assert_eq!(row(0), vec![false, true, false, false, true], "query 0: p2 and p3 are its own positives");
        assert_eq!(row(2), vec![true, false, false, false, true], "query 1: p1 and p3 likewise");
        assert_eq!(row(3), vec![false, false, false, false, false], "query 2 sees every other document as a negative");
    }
}
