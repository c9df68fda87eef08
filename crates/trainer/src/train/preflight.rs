//! Checks of the data before the first training step: every document that a remaining stage's training rows or an
//! evaluation set's qrels name is in the corpus, and every evaluation set's query ids meet its qrels — so a bad
//! reference fails in seconds, naming the file, the query and the column, instead of hours into a run.

use anyhow::{Context, bail};
use data::{ContrastiveRow, Corpus, GrpoRow, ShardSet, WarmupRow, validate_doc_refs};

use crate::recipe::{Recipe, StageKind};

/// Validates the training shards of the enabled stages from `first_stage` on, and every evaluation set.
pub fn check_data(recipe: &Recipe, corpus: &Corpus, first_stage: usize) -> anyhow::Result<()> {
    let (names, policy) = (&recipe.data.columns, recipe.data.bad_rows);
    for stage in recipe.stage.iter().skip(first_stage).filter(|s| s.enabled) {
        let what = || format!("stage `{}`: training shards {}", stage.name, stage.train.join(", "));
        let shards = ShardSet::open(&stage.train).with_context(what)?;
        match stage.kind {
            StageKind::Warmup => validate_doc_refs::<WarmupRow>(&shards, names, policy, corpus),
            StageKind::Contrastive => validate_doc_refs::<ContrastiveRow>(&shards, names, policy, corpus),
            StageKind::Grpo => validate_doc_refs::<GrpoRow>(&shards, names, policy, corpus),
        }
        .with_context(what)?;
    }
    for set in &recipe.eval {
        let what =
            || format!("eval set `{}` (queries {}, qrels {})", set.name, set.queries.join(", "), set.qrels.join(", "));
        let loaded = set.load(names).with_context(what)?;
        loaded.validate_against(corpus).with_context(what)?;
        let unjudged = loaded.queries_without_qrels();
        if unjudged.len() == loaded.queries.len() {
            bail!(
                "{}: none of its {} queries has a judgment (no query id of the queries appears in the qrels): \
                 check that both files belong to the same set",
                what(),
                loaded.queries.len()
            );
        }
        if !unjudged.is_empty() {
            eprintln!(
                "warning: {}: {} of {} queries have no judgment and are not scored (first: {})",
                what(),
                unjudged.len(),
                loaded.queries.len(),
                unjudged[..unjudged.len().min(3)].join(", ")
            );
        }
    }
    Ok(())
}
