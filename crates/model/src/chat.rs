//! A checkpoint's chat template (the Jinja text HF's `apply_chat_template` renders), so an instruct model's query
//! prompt can be written the way the model was tuned: a user turn holding the query, then the opening of the
//! assistant's turn, where the reasoning is generated. Rendered like transformers does (`trim_blocks`,
//! `lstrip_blocks`, Python string methods, `raise_exception`).

use std::path::Path;

use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, Error, ErrorKind, context};
use serde_json::Value;

use crate::error::ModelError;

/// A chat template and the special-token texts it may refer to.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatTemplate {
    /// Where the template came from (for errors).
    pub source: String,
    /// The Jinja text.
    pub text: String,
    /// `bos_token` as the template sees it (empty when the tokenizer has none).
    pub bos_token: String,
    /// `eos_token` as the template sees it.
    pub eos_token: String,
}

impl ChatTemplate {
    /// The chat template of a HF model folder: `chat_template.jinja`, else `tokenizer_config.json`'s
    /// `chat_template` (a string, or a list of named templates of which `default` is taken). `None` when the
    /// folder has neither.
    pub fn from_dir(dir: &Path) -> Result<Option<Self>, ModelError> {
        let config_path = dir.join("tokenizer_config.json");
        let config: Value = match std::fs::read_to_string(&config_path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| ModelError::Config {
                file: config_path.display().to_string(),
                field: "<json>".into(),
                expected: format!("valid JSON: {e}"),
            })?,
            Err(_) => Value::Null,
        };
        let token = |key: &str| match &config[key] {
            Value::String(s) => s.clone(),
            Value::Object(o) => o.get("content").and_then(Value::as_str).unwrap_or_default().to_string(),
            _ => String::new(),
        };
        let jinja = dir.join("chat_template.jinja");
        let (source, text) = if jinja.is_file() {
            (jinja.display().to_string(), std::fs::read_to_string(&jinja).map_err(|e| ModelError::io(&jinja, e))?)
        } else {
            let text = match &config["chat_template"] {
                Value::String(s) => s.clone(),
                Value::Array(named) => named
                    .iter()
                    .find(|t| t["name"] == "default")
                    .and_then(|t| t["template"].as_str())
                    .unwrap_or_default()
                    .to_string(),
                _ => String::new(),
            };
            if text.is_empty() {
                return Ok(None);
            }
            (format!("{}: chat_template", config_path.display()), text)
        };
        Ok(Some(Self { source, text, bos_token: token("bos_token"), eos_token: token("eos_token") }))
    }

    /// The conversation so far for one user turn holding `content`, ending where the assistant starts writing.
    pub fn generation_prompt(&self, content: &str) -> Result<String, ModelError> {
        let mut env = Environment::new();
        let syntax = SyntaxConfig::builder().trim_blocks(true).lstrip_blocks(true).build();
        env.set_syntax(syntax.map_err(|e| self.error(e))?);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", |message: String| -> Result<String, Error> {
            Err(Error::new(ErrorKind::InvalidOperation, message))
        });
        let messages = vec![context! { role => "user", content => content }];
        let ctx = context! {
            messages => messages,
            add_generation_prompt => true,
            bos_token => &self.bos_token,
            eos_token => &self.eos_token,
        };
        env.render_str(&self.text, ctx).map_err(|e| self.error(e))
    }

    fn error(&self, e: Error) -> ModelError {
        ModelError::Tokenizer { file: self.source.clone(), reason: format!("chat template does not render: {e:#}") }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SmolLM2-Instruct's template (as its tokenizer_config.json ships it).
    const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    fn template(text: &str) -> ChatTemplate {
        ChatTemplate { source: "test".into(), text: text.into(), bos_token: "<s>".into(), eos_token: "</s>".into() }
    }

    #[test]
    fn renders_a_user_turn_and_opens_the_assistant_turn() {
        let out = template(SMOLLM2).generation_prompt("Where is Paris?").unwrap();
        assert_eq!(
            out,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n\
             <|im_start|>user\nWhere is Paris?<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn python_methods_and_block_trimming_work_as_in_transformers() {
        let text = "{{ bos_token }}{% for m in messages %}\n  {{ m.content.strip().upper() }}\n{% endfor %}";
        assert_eq!(template(text).generation_prompt("  hi ").unwrap(), "<s>  HI\n", "as jinja2 renders it");
        let err = template("{{ raise_exception('no system role') }}").generation_prompt("x").unwrap_err();
        assert!(err.to_string().contains("no system role"), "{err}");
    }
}
