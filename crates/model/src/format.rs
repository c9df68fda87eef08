//! How texts become model inputs, as in the seed paper: documents are `instruction + text + <embtoken>` (one
//! forward pass, no generation); queries are `instruction + query`, then the reasoning, then `<embtoken>`.
//! Templates are data (recipe strings), with placeholders `{instruction}`, `{text}`, `{query}`, `{reasoning}`.

use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::tokenizer::DEFAULT_EMB_TOKEN;

/// The text formats of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TextFormat {
    /// Text of the embedding token. Default `<embtoken>`.
    pub emb_token: String,
    /// Document template. Default `{instruction}{text}<embtoken>` — plain concatenation, no separator: a
    /// separator belongs in the instruction.
    pub document_template: String,
    /// Query template; the part before `{reasoning}` is the generation prompt. It must end with
    /// `{reasoning}` followed by the embedding token. Default `{instruction}{query}{reasoning}<embtoken>`.
    pub query_template: String,
    /// Instruction put before documents. Default empty.
    pub document_instruction: String,
    /// Instruction put before queries. Default `"Query: "`.
    pub query_instruction: String,
}

impl Default for TextFormat {
    fn default() -> Self {
        Self {
            emb_token: DEFAULT_EMB_TOKEN.into(),
            document_template: format!("{{instruction}}{{text}}{DEFAULT_EMB_TOKEN}"),
            query_template: format!("{{instruction}}{{query}}{{reasoning}}{DEFAULT_EMB_TOKEN}"),
            document_instruction: String::new(),
            query_instruction: "Query: ".into(),
        }
    }
}

impl TextFormat {
    /// Checks that the templates place the embedding token where pooling expects it.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |field: &str, expected: String| ModelError::Config {
            file: "<text format>".into(),
            field: field.into(),
            expected,
        };
        if !self.document_template.contains("{text}") || !self.document_template.ends_with(&self.emb_token) {
            return Err(bad(
                "format.document_template",
                format!("a template containing {{text}} and ending with {:?}", self.emb_token),
            ));
        }
        let tail = format!("{{reasoning}}{}", self.emb_token);
        if !self.query_template.contains("{query}") || !self.query_template.ends_with(&tail) {
            return Err(bad(
                "format.query_template",
                format!("a template containing {{query}} and ending with {tail:?}"),
            ));
        }
        Ok(())
    }

    /// The full document input.
    pub fn document(&self, text: &str) -> String {
        self.document_template.replace("{instruction}", &self.document_instruction).replace("{text}", text)
    }

    /// The generation prompt of a query (everything before the reasoning).
    pub fn query_prompt(&self, query: &str) -> String {
        let head = &self.query_template[..self.query_template.len() - "{reasoning}".len() - self.emb_token.len()];
        head.replace("{instruction}", &self.query_instruction).replace("{query}", query)
    }

    /// The full query input with a given (or generated) reasoning, ending with the embedding token.
    pub fn query(&self, query: &str, reasoning: &str) -> String {
        format!("{}{reasoning}{}", self.query_prompt(query), self.emb_token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_templates_concatenate_without_separators() {
        let f = TextFormat::default();
        f.validate().unwrap();
        assert_eq!(f.document("Paris is big."), "Paris is big.<embtoken>");
        assert_eq!(f.query_prompt("capital?"), "Query: capital?");
        assert_eq!(f.query("capital?", " It is Paris."), "Query: capital? It is Paris.<embtoken>");
    }

    #[test]
    fn templates_must_end_with_the_embedding_token() {
        let f = TextFormat { document_template: "{instruction}{text}".into(), ..TextFormat::default() };
        let err = f.validate().unwrap_err().to_string();
        assert!(err.contains("format.document_template"), "{err}");
    }
}
