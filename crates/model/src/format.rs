//! How texts become model inputs, as in the seed paper: documents are `instruction + text + <embtoken>` (one
//! forward pass, no generation); queries are `instruction + query`, then the reasoning, then `<embtoken>`.
//! Templates are data (recipe strings), with placeholders `{instruction}`, `{text}`, `{query}`, `{reasoning}`.

use serde::{Deserialize, Serialize};

use crate::chat::ChatTemplate;
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
    /// Wrap the query prompt in the model's chat template: a user turn holding the prompt (the query template's
    /// part before `{reasoning}`), then the opening of the assistant's turn, where the reasoning is written — how
    /// an instruct model was tuned to be prompted. Needs a checkpoint with a chat template (`chat_template.jinja`,
    /// `tokenizer_config.json`, or a GGUF's `tokenizer.chat_template`); resolved once when the model loads, and
    /// exports store the resolved query template. Documents are not wrapped. Default false.
    pub chat_template: bool,
}

impl Default for TextFormat {
    fn default() -> Self {
        Self {
            emb_token: DEFAULT_EMB_TOKEN.into(),
            document_template: format!("{{instruction}}{{text}}{DEFAULT_EMB_TOKEN}"),
            query_template: format!("{{instruction}}{{query}}{{reasoning}}{DEFAULT_EMB_TOKEN}"),
            document_instruction: String::new(),
            query_instruction: "Query: ".into(),
            chat_template: false,
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

    /// The sentence-transformers prompts `(query, document)`: the text each template puts before the query or the
    /// document, instructions filled in — each `None` when the template puts anything but the embedding token
    /// after it (sentence-transformers prompts are prefixes; the exported tokenizer appends the token). Queries get
    /// no reasoning this way: the prompt embeds the query as `plain` evaluation does.
    pub fn sentence_transformers_prompts(&self) -> (Option<String>, Option<String>) {
        let prefix = |template: &str, slot: &str, tail: &str, instruction: &str| {
            let (before, after) = template.split_once(slot)?;
            let before = before.replace("{instruction}", instruction);
            (after == tail && !before.contains('{')).then_some(before)
        };
        let query_tail = format!("{{reasoning}}{}", self.emb_token);
        (
            prefix(&self.query_template, "{query}", &query_tail, &self.query_instruction),
            prefix(&self.document_template, "{text}", &self.emb_token, &self.document_instruction),
        )
    }

    /// This format with the query template wrapped in `chat` when [`TextFormat::chat_template`] asks for it
    /// (see there); otherwise unchanged.
    pub fn resolve(&self, chat: Option<&ChatTemplate>) -> Result<Self, ModelError> {
        if !self.chat_template {
            return Ok(self.clone());
        }
        let chat = chat.ok_or_else(|| ModelError::Config {
            file: "<text format>".into(),
            field: "format.chat_template".into(),
            expected: "a model with a chat template (chat_template.jinja, `chat_template` in tokenizer_config.json, \
                       or `tokenizer.chat_template` in a GGUF file); set it to false for this model"
                .into(),
        })?;
        // A private-use marker stands for the user's text, so the template's own markup is all that surrounds it.
        const MARK: &str = "\u{E000}query\u{E001}";
        let rendered = chat.generation_prompt(MARK)?;
        let Some((before, after)) = rendered.split_once(MARK).filter(|(_, after)| !after.contains(MARK)) else {
            return Err(ModelError::Tokenizer {
                file: chat.source.clone(),
                reason: "the chat template must render the user's message exactly once, unchanged".into(),
            });
        };
        let head = &self.query_template[..self.query_template.len() - "{reasoning}".len() - self.emb_token.len()];
        let query_template = format!("{before}{head}{after}{{reasoning}}{}", self.emb_token);
        Ok(Self { query_template, chat_template: false, ..self.clone() })
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
    fn chat_template_wraps_the_query_prompt_and_leaves_documents_alone() {
        let chat = ChatTemplate {
            source: "test".into(),
            text: "{% for m in messages %}<|user|>{{ m.content }}<|end|>{% endfor %}<|assistant|>".into(),
            bos_token: String::new(),
            eos_token: String::new(),
        };
        let plain = TextFormat::default();
        assert_eq!(plain.resolve(Some(&chat)).unwrap(), plain, "not asked for: unchanged");
        let asked = TextFormat { chat_template: true, ..TextFormat::default() };
        let f = asked.resolve(Some(&chat)).unwrap();
        f.validate().unwrap();
        assert_eq!(f.query_prompt("capital?"), "<|user|>Query: capital?<|end|><|assistant|>");
        assert_eq!(f.query("capital?", "Paris."), "<|user|>Query: capital?<|end|><|assistant|>Paris.<embtoken>");
        assert_eq!(f.document("Paris is big."), "Paris is big.<embtoken>");
        let err = asked.resolve(None).unwrap_err().to_string();
        assert!(err.contains("format.chat_template"), "{err}");
    }

    #[test]
    fn templates_must_end_with_the_embedding_token() {
        let f = TextFormat { document_template: "{instruction}{text}".into(), ..TextFormat::default() };
        let err = f.validate().unwrap_err().to_string();
        assert!(err.contains("format.document_template"), "{err}");
    }
}
