//! The embedding token's row: making room for `<embtoken>` in a pretrained checkpoint and initialising its row.
//!
//! When the tokenizer had to add the embedding token, the row at its id is untrained — either because the
//! matrix has no row there (Llama, SmolLM2: the vocabulary is full, so it grows) or because the row is one of the
//! spare padding rows Qwen checkpoints carry. Either way the row is set to the mean of the trained token rows, as
//! HF's `resize_token_embeddings(mean_resizing=True)` centres new rows. This happens on the host while the model
//! is built, so it works the same on every device, autodiff included, and the parameter is a leaf from the start.

use crate::error::ModelError;
use crate::weights::{Init, WeightSource};

/// Names of the `[vocab, hidden]` matrices that hold one row per token, in HF layout.
const TOKEN_MATRICES: &[&str] = &["model.embed_tokens.weight", "lm_head.weight"];

/// What loading does to the embedding token's row (logged by the trainer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbRowInit {
    /// The embedding token's id.
    pub emb_id: usize,
    /// Vocabulary rows in the checkpoint.
    pub stored_vocab: usize,
    /// Vocabulary rows of the built model (larger than `stored_vocab` when the matrix grew).
    pub vocab: usize,
    /// The row is set to the mean of rows `0..mean_of` (the tokens the tokenizer knew before the embedding token
    /// was added); `None` when the checkpoint's own row is kept (the tokenizer already had the token).
    pub mean_of: Option<usize>,
}

impl EmbRowInit {
    /// The plan for a checkpoint with `stored_vocab` rows and a tokenizer whose embedding token has id `emb_id`
    /// (`added`: the tokenizer lacked it and it was just added, so its row is untrained).
    pub fn plan(stored_vocab: usize, emb_id: usize, added: bool) -> Self {
        let vocab = stored_vocab.max(emb_id + 1);
        // A token the checkpoint has no row for is untrained even if the tokenizer already knew it.
        let untrained = added || emb_id >= stored_vocab;
        let mean_of = untrained.then_some(emb_id.min(stored_vocab));
        Self { emb_id, stored_vocab, vocab, mean_of }
    }

    /// Whether the token matrices differ from the checkpoint's.
    pub fn changes_weights(&self) -> bool {
        self.mean_of.is_some() || self.vocab != self.stored_vocab
    }
}

impl std::fmt::Display for EmbRowInit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (id, stored, vocab) = (self.emb_id, self.stored_vocab, self.vocab);
        match self.mean_of {
            None => write!(f, "embedding token id {id}: the checkpoint's own row is used ({stored} rows)"),
            Some(n) if vocab > stored => write!(
                f,
                "embedding token id {id}: vocabulary grown from {stored} to {vocab} rows; the new row is the mean \
                 of the {n} trained token rows"
            ),
            Some(n) => write!(
                f,
                "embedding token id {id}: spare row of the {stored}-row vocabulary set to the mean of the {n} \
                 trained token rows"
            ),
        }
    }
}

/// A [`WeightSource`] that applies an [`EmbRowInit`] to the token matrices of the source it wraps.
pub struct WithEmbRow {
    inner: Box<dyn WeightSource>,
    plan: EmbRowInit,
}

impl WithEmbRow {
    /// Wraps `inner`; the model must be built with `plan.vocab` rows.
    pub fn new(inner: Box<dyn WeightSource>, plan: EmbRowInit) -> Self {
        Self { inner, plan }
    }
}

impl WeightSource for WithEmbRow {
    fn take(&mut self, name: &str, shape: &[usize], init: Init) -> Vec<f32> {
        if !self.plan.changes_weights()
            || !TOKEN_MATRICES.contains(&name)
            || shape.len() != 2
            || shape[0] != self.plan.vocab
        {
            return self.inner.take(name, shape, init);
        }
        let hidden = shape[1];
        let mut rows = self.inner.take(name, &[self.plan.stored_vocab, hidden], init);
        let mean = mean_row(&rows, hidden, self.plan.mean_of.unwrap_or(self.plan.stored_vocab));
        rows.resize(self.plan.vocab * hidden, 0.0);
        // Every row the checkpoint lacks, and the embedding token's own row when it is untrained, start at the mean.
        for r in self.plan.stored_vocab..self.plan.vocab {
            rows[r * hidden..(r + 1) * hidden].copy_from_slice(&mean);
        }
        if self.plan.mean_of.is_some() {
            let id = self.plan.emb_id;
            rows[id * hidden..(id + 1) * hidden].copy_from_slice(&mean);
        }
        rows
    }

    fn has(&self, name: &str) -> bool {
        self.inner.has(name)
    }

    fn finish(self: Box<Self>) -> Result<Vec<String>, ModelError> {
        self.inner.finish()
    }
}

/// The mean of the first `n` rows of a row-major `[_, hidden]` matrix, accumulated in f64.
fn mean_row(rows: &[f32], hidden: usize, n: usize) -> Vec<f32> {
    let mut sum = vec![0.0f64; hidden];
    for row in rows.chunks_exact(hidden).take(n) {
        for (s, &x) in sum.iter_mut().zip(row) {
            *s += x as f64;
        }
    }
    sum.iter().map(|s| (s / n.max(1) as f64) as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source holding one `[4, 2]` matrix under both token-matrix names.
    struct Fixed;

    impl WeightSource for Fixed {
        fn take(&mut self, _name: &str, shape: &[usize], _init: Init) -> Vec<f32> {
            assert_eq!(shape, [4, 2], "the stored shape is asked for");
            vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 100.0, 100.0]
        }
        fn has(&self, _name: &str) -> bool {
            true
        }
        fn finish(self: Box<Self>) -> Result<Vec<String>, ModelError> {
            Ok(Vec::new())
        }
    }

    #[test]
    fn full_vocabulary_grows_by_a_mean_row() {
        let plan = EmbRowInit::plan(4, 4, true);
        assert_eq!((plan.vocab, plan.mean_of), (5, Some(4)));
        let rows = WithEmbRow::new(Box::new(Fixed), plan).take("lm_head.weight", &[5, 2], Init::Normal);
        assert_eq!(&rows[8..], &[27.25, 28.0]);
    }

    #[test]
    fn spare_row_is_set_to_the_mean_of_the_trained_rows_only() {
        let plan = EmbRowInit::plan(4, 3, true);
        assert_eq!((plan.vocab, plan.mean_of), (4, Some(3)));
        let rows = WithEmbRow::new(Box::new(Fixed), plan).take("model.embed_tokens.weight", &[4, 2], Init::Normal);
        assert_eq!(rows, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 3.0, 4.0]);
    }

    #[test]
    fn a_known_token_keeps_its_row() {
        let plan = EmbRowInit::plan(4, 3, false);
        assert!(!plan.changes_weights());
        let rows = WithEmbRow::new(Box::new(Fixed), plan).take("model.embed_tokens.weight", &[4, 2], Init::Normal);
        assert_eq!(rows[6..], [100.0, 100.0]);
    }
}
