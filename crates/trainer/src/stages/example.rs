//! A training example as token ids, and the one place where stage rows become them: the query prompt
//! (`instruction + query`), its reasoning, and the documents (`instruction + text + <embtoken>`), each cut to the
//! stage's token limits.

use std::sync::Arc;

use anyhow::{Context, bail};
use data::Corpus;
use model::{TextFormat, TextTokenizer, rng::derive_seed};

use crate::embed::encode_with_emb_tail;
use crate::recipe::TokenLimits;

/// A document ready to embed.
#[derive(Debug, Clone, PartialEq)]
pub struct Doc {
    /// Corpus id (empty for inline texts).
    pub id: String,
    /// `instruction + text + <embtoken>` as ids, ending with the embedding token.
    pub tokens: Vec<u32>,
}

/// One query with its reasoning and documents.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// The query's id.
    pub query_id: String,
    /// `instruction + query` as ids (the generation prompt).
    pub prompt: Vec<u32>,
    /// The reasoning trace as ids (may be empty).
    pub reasoning: Vec<u32>,
    /// The positive document used in this example (one of the query's positives).
    pub positive: Option<Doc>,
    /// Hard negatives, hardest first as listed in the data.
    pub negatives: Vec<Doc>,
    /// Every positive id of the query (in-batch documents with these ids are false negatives).
    pub positive_ids: Vec<String>,
}

impl Example {
    /// `prompt + reasoning + <embtoken>`: the query-side input of stages 1 and 2.
    pub fn query_tokens(&self, emb_id: u32) -> Vec<u32> {
        let mut ids = Vec::with_capacity(self.prompt.len() + self.reasoning.len() + 1);
        ids.extend_from_slice(&self.prompt);
        ids.extend_from_slice(&self.reasoning);
        ids.push(emb_id);
        ids
    }
}

/// Turns stage rows into [`Example`]s; shared by the worker threads of the data pipeline.
pub struct ExampleEncoder {
    /// The tokenizer (with the embedding token).
    pub tokenizer: TextTokenizer,
    /// Text templates.
    pub format: TextFormat,
    /// Truncation limits.
    pub limits: TokenLimits,
    /// Corpus that document ids resolve against.
    pub corpus: Arc<Corpus>,
    /// Hard negatives kept per query.
    pub hard_negatives: usize,
    /// Seed for the choice among several positives.
    pub seed: u64,
}

impl ExampleEncoder {
    /// `instruction + query`, cut to `limits.query` tokens (the end is dropped).
    pub fn prompt(&self, query: &str) -> anyhow::Result<Vec<u32>> {
        let mut ids = self.tokenizer.encode(&self.format.query_prompt(query))?;
        ids.truncate(self.limits.query);
        Ok(ids)
    }

    /// The reasoning, cut to `limits.reasoning` tokens.
    pub fn reasoning(&self, reasoning: &str) -> anyhow::Result<Vec<u32>> {
        let mut ids = self.tokenizer.encode(reasoning)?;
        ids.truncate(self.limits.reasoning);
        Ok(ids)
    }

    /// A document from its text, cut to `limits.document` tokens before the embedding token.
    pub fn document(&self, id: &str, text: &str) -> anyhow::Result<Doc> {
        let tokens = encode_with_emb_tail(&self.tokenizer, &self.format.document(text), self.limits.document)?;
        Ok(Doc { id: id.to_string(), tokens })
    }

    /// Documents by corpus id; an unknown id is an error naming it.
    pub fn documents(&self, ids: &[String]) -> anyhow::Result<Vec<Doc>> {
        ids.iter()
            .map(|id| {
                let doc = self.corpus.get(id).with_context(|| format!("document id `{id}` is not in the corpus"))?;
                self.document(id, &doc.joined(" "))
            })
            .collect()
    }

    /// The positive of `query_id` among `ids`: a fixed choice per query (a hash of the seed and the id), so every
    /// epoch and every rank agree.
    pub fn pick<'a>(&self, query_id: &str, ids: &'a [String]) -> Option<&'a String> {
        if ids.is_empty() {
            return None;
        }
        let h = query_id.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64));
        Some(&ids[(derive_seed(self.seed, &[h]) % ids.len() as u64) as usize])
    }

    /// Stage 1 rows: query, reasoning and (optionally) positives for the embedding terms.
    pub fn warmup(&self, row: data::WarmupRow) -> anyhow::Result<Example> {
        let positive = match self.pick(&row.query_id, &row.positive_ids) {
            Some(id) => Some(self.documents(std::slice::from_ref(id))?.remove(0)),
            None => None,
        };
        Ok(Example {
            prompt: self.prompt(&row.query)?,
            reasoning: self.reasoning(&row.reasoning)?,
            positive,
            negatives: Vec::new(),
            positive_ids: row.positive_ids,
            query_id: row.query_id,
        })
    }

    /// Stage 2 rows: query, optional reasoning, positives and hard negatives (by id or inline).
    pub fn contrastive(&self, row: data::ContrastiveRow) -> anyhow::Result<Example> {
        let (positive, positive_ids) = match &row.positives {
            data::Passages::Ids(ids) => {
                let id = self.pick(&row.query_id, ids).context("row has no positive")?;
                (self.documents(std::slice::from_ref(id))?.remove(0), ids.clone())
            }
            data::Passages::Texts(texts) => {
                if texts.is_empty() {
                    bail!("query `{}` has no positive", row.query_id);
                }
                (self.document("", &texts[0])?, Vec::new())
            }
        };
        let negatives = match &row.negatives {
            data::Passages::Ids(ids) => {
                let kept: Vec<String> = ids.iter().take(self.hard_negatives).cloned().collect();
                self.documents(&kept)?
            }
            data::Passages::Texts(texts) => {
                texts.iter().take(self.hard_negatives).map(|t| self.document("", t)).collect::<Result<_, _>>()?
            }
        };
        Ok(Example {
            prompt: self.prompt(&row.query)?,
            reasoning: self.reasoning(row.reasoning.as_deref().unwrap_or(""))?,
            positive: Some(positive),
            negatives,
            positive_ids,
            query_id: row.query_id,
        })
    }
}
