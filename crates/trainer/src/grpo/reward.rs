//! Rewards from retrieval: a rollout's embedding ranks a candidate pool, and the reward is a function of where the
//! query's positives land — plus an optional format bonus (the rollout wrote `<embtoken>` itself) and a length
//! penalty.

use serde::{Deserialize, Serialize};

/// The retrieval part of the reward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RewardKind {
    /// 1 / rank of the best-ranked positive.
    ReciprocalRank,
    /// nDCG@k with binary gains over the positives in the pool.
    Ndcg,
    /// 1 if a positive is in the top k.
    Hit,
    /// Similarity of the best positive minus that of the best negative (in [−2, 2]).
    Margin,
}

/// Which documents a rollout is ranked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CandidatePool {
    /// The batch's positives and hard negatives (every query's), embedded with the current weights each generation.
    Batch,
    /// The whole corpus, re-embedded every `corpus_refresh_every` generations.
    Corpus,
}

/// The retrieval reward of one rollout from its similarity to every pool document (`scores`) and which of them
/// are relevant; documents with `excluded[i]` are left out of the ranking. Ties rank the positive last.
pub fn retrieval_reward(scores: &[f32], relevant: &[bool], excluded: &[bool], kind: RewardKind, k: usize) -> f64 {
    let live = |i: usize| !excluded[i];
    let best_pos =
        (0..scores.len()).filter(|&i| live(i) && relevant[i]).map(|i| scores[i]).fold(f32::NEG_INFINITY, f32::max);
    if best_pos == f32::NEG_INFINITY {
        return 0.0;
    }
    match kind {
        RewardKind::Margin => {
            let best_neg = (0..scores.len())
                .filter(|&i| live(i) && !relevant[i])
                .map(|i| scores[i])
                .fold(f32::NEG_INFINITY, f32::max);
            if best_neg == f32::NEG_INFINITY { 1.0 } else { (best_pos - best_neg) as f64 }
        }
        RewardKind::ReciprocalRank | RewardKind::Hit => {
            let rank = 1 + (0..scores.len()).filter(|&i| live(i) && !relevant[i] && scores[i] >= best_pos).count();
            match kind {
                RewardKind::ReciprocalRank => 1.0 / rank as f64,
                _ => (rank <= k) as u8 as f64,
            }
        }
        RewardKind::Ndcg => {
            let mut order: Vec<usize> = (0..scores.len()).filter(|&i| live(i)).collect();
            // Ties: non-relevant first (pessimistic), so a collapsed embedding earns nothing.
            order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(relevant[a].cmp(&relevant[b])));
            let dcg: f64 = order
                .iter()
                .take(k)
                .enumerate()
                .filter(|(_, i)| relevant[**i])
                .map(|(r, _)| 1.0 / (r as f64 + 2.0).log2())
                .sum();
            let n_rel = (0..scores.len()).filter(|&i| live(i) && relevant[i]).count();
            let idcg: f64 = (0..n_rel.min(k)).map(|r| 1.0 / (r as f64 + 2.0).log2()).sum();
            dcg / idcg
        }
    }
}

/// The expected retrieval reward of a uniformly random ranking of a pool of `live` documents of which `positives`
/// are relevant — the level a reward must beat to say the embeddings carry any signal. `None` for `margin`, whose
/// chance level depends on the embedding geometry, and when the pool holds no positive.
pub fn chance_reward(live: usize, positives: usize, kind: RewardKind, k: usize) -> Option<f64> {
    if positives == 0 || positives > live {
        return None;
    }
    let (n, p) = (live as f64, positives as f64);
    // P(the first r ranks hold no positive), built up rank by rank.
    let none_in_first = |r: usize| (0..r).map(|i| ((n - p - i as f64) / (n - i as f64)).max(0.0)).product::<f64>();
    match kind {
        RewardKind::Margin => None,
        RewardKind::Hit => Some(1.0 - none_in_first(k.min(live))),
        RewardKind::ReciprocalRank => {
            // P(first positive at rank r) = P(none in the first r − 1) · p / (n − r + 1).
            let mut expected = 0.0;
            let mut none_before = 1.0;
            for r in 1..=live - positives + 1 {
                let here = none_before * p / (n - r as f64 + 1.0);
                expected += here / r as f64;
                none_before *= (n - p - r as f64 + 1.0) / (n - r as f64 + 1.0);
            }
            Some(expected)
        }
        RewardKind::Ndcg => {
            // Each rank holds a positive with probability p / n.
            let dcg: f64 = (0..k.min(live)).map(|r| p / n / (r as f64 + 2.0).log2()).sum();
            let idcg: f64 = (0..positives.min(k)).map(|r| 1.0 / (r as f64 + 2.0).log2()).sum();
            Some(dcg / idcg)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    /// The closed forms against the mean reward of many random rankings (same tie rule as the trainer).
    #[test]
    fn chance_level_matches_random_rankings() {
        let mut rng = model::rng::stream(5, &[]);
        for (live, positives, k) in [(87, 9, 10), (12, 1, 3), (5, 5, 2)] {
            let relevant: Vec<bool> = (0..live).map(|i| i < positives).collect();
            let none = vec![false; live];
            for kind in [RewardKind::ReciprocalRank, RewardKind::Hit, RewardKind::Ndcg] {
                let trials = 20_000;
                let mean = (0..trials)
                    .map(|_| {
                        let scores: Vec<f32> = (0..live).map(|_| rng.random::<f32>()).collect();
                        retrieval_reward(&scores, &relevant, &none, kind, k)
                    })
                    .sum::<f64>()
                    / trials as f64;
                let chance = chance_reward(live, positives, kind, k).unwrap();
                assert!((mean - chance).abs() < 0.01, "{kind:?} N={live} P={positives} k={k}: {mean} vs {chance}");
            }
        }
        assert_eq!(chance_reward(10, 0, RewardKind::Hit, 3), None);
        assert_eq!(chance_reward(10, 2, RewardKind::Margin, 3), None);
    }

    #[test]
    fn rewards_follow_the_rank_of_the_positives() {
        let scores = [0.9, 0.5, 0.7, 0.1];
        let relevant = [false, true, false, true];
        let none = [false; 4];
        assert_eq!(retrieval_reward(&scores, &relevant, &none, RewardKind::ReciprocalRank, 10), 1.0 / 3.0);
        assert_eq!(retrieval_reward(&scores, &relevant, &none, RewardKind::Hit, 2), 0.0);
        assert_eq!(retrieval_reward(&scores, &relevant, &none, RewardKind::Hit, 3), 1.0);
        let m = retrieval_reward(&scores, &relevant, &none, RewardKind::Margin, 10);
        assert!((m + 0.4).abs() < 1e-6);
        let excluded = [true, false, true, false];
        assert_eq!(retrieval_reward(&scores, &relevant, &excluded, RewardKind::ReciprocalRank, 10), 1.0);
        assert_eq!(retrieval_reward(&scores, &relevant, &excluded, RewardKind::Ndcg, 10), 1.0);
        let ndcg = retrieval_reward(&scores, &relevant, &none, RewardKind::Ndcg, 10);
        // Positives at ranks 3 and 4; ideal ranks 1 and 2.
        let want = (1.0 / 4f64.log2() + 1.0 / 5f64.log2()) / (1.0 + 1.0 / 3f64.log2());
        assert!((ndcg - want).abs() < 1e-12);
        assert_eq!(retrieval_reward(&[0.5, 0.5], &[true, false], &[false, false], RewardKind::ReciprocalRank, 10), 0.5);
    }
}
