//! The text side of the model: a HF `tokenizer.json` plus the ids the framework needs — the embedding token
//! (added as a special token when missing), padding and end-of-sequence.

use std::path::Path;

use tokenizers::processors::PostProcessorWrapper;
use tokenizers::processors::sequence::Sequence;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, Tokenizer};

use crate::chat::ChatTemplate;
use crate::error::ModelError;

/// The default text of the embedding token (T1's released model card writes `<emb_token>`; configurable).
pub const DEFAULT_EMB_TOKEN: &str = "<embtoken>";

/// Candidates for the padding token, in order of preference.
const PAD_CANDIDATES: &[&str] = &["<pad>", "<|endoftext|>", "<|finetune_right_pad_id|>", "<eos>", "</s>"];
/// Candidates for the end-of-sequence token, in order of preference.
const EOS_CANDIDATES: &[&str] = &["<eos>", "<|im_end|>", "<|endoftext|>", "<|eot_id|>", "</s>"];

/// A tokenizer that knows the framework's special tokens.
#[derive(Clone)]
pub struct TextTokenizer {
    inner: Tokenizer,
    source: String,
    /// The embedding token's text.
    pub emb_token: String,
    /// The embedding token's id.
    pub emb_id: u32,
    /// The padding id (never attended to, so any token works; a real pad token when there is one).
    pub pad_id: u32,
    /// The end-of-sequence id, when the tokenizer has one.
    pub eos_id: Option<u32>,
    /// Whether the embedding token was added by us (the model's vocabulary may need to grow, and export must
    /// carry the token).
    pub added_emb_token: bool,
    /// The checkpoint's chat template, when it has one (used when `format.chat_template` asks for it).
    pub chat_template: Option<ChatTemplate>,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("source", &self.source)
            .field("emb_token", &self.emb_token)
            .field("emb_id", &self.emb_id)
            .field("pad_id", &self.pad_id)
            .field("eos_id", &self.eos_id)
            .finish()
    }
}

impl TextTokenizer {
    /// Loads `tokenizer.json`, registering `emb_token` as a special token if it is not one already.
    pub fn from_file(path: &Path, emb_token: &str) -> Result<Self, ModelError> {
        let err = |reason: String| ModelError::Tokenizer { file: path.display().to_string(), reason };
        if !path.is_file() {
            return Err(err("file not found (expected a HF tokenizer.json)".into()));
        }
        let inner = Tokenizer::from_file(path).map_err(|e| err(e.to_string()))?;
        Self::from_tokenizer(inner, &path.display().to_string(), emb_token)
    }

    /// Wraps an in-memory tokenizer; `source` names it in errors.
    pub fn from_tokenizer(mut inner: Tokenizer, source: &str, emb_token: &str) -> Result<Self, ModelError> {
        if emb_token.is_empty() {
            return Err(ModelError::Tokenizer {
                file: source.into(),
                reason: "the embedding token text is empty".into(),
            });
        }
        let added_emb_token = inner.token_to_id(emb_token).is_none();
        if added_emb_token {
            inner.add_special_tokens([AddedToken::from(emb_token.to_string(), true)]).map_err(|e| {
                ModelError::Tokenizer { file: source.into(), reason: format!("cannot add {emb_token:?}: {e}") }
            })?;
        }
        let emb_id = inner.token_to_id(emb_token).ok_or_else(|| ModelError::Tokenizer {
            file: source.into(),
            reason: format!("{emb_token:?} has no id after being added"),
        })?;
        let find = |candidates: &[&str]| candidates.iter().find_map(|t| inner.token_to_id(t));
        let eos_id = find(EOS_CANDIDATES);
        let pad_id = find(PAD_CANDIDATES).or(eos_id).unwrap_or(0);
        Ok(Self {
            inner,
            source: source.into(),
            emb_token: emb_token.into(),
            emb_id,
            pad_id,
            eos_id,
            added_emb_token,
            chat_template: None,
        })
    }

    /// Number of ids the tokenizer can produce (added tokens included).
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Token ids of `text`, without any template tokens (the text formats say exactly what is encoded).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        self.inner.encode(text, false).map(|e| e.get_ids().to_vec()).map_err(|e| ModelError::Tokenizer {
            file: self.source.clone(),
            reason: format!("cannot encode text: {e}"),
        })
    }

    /// Text of `ids`; special tokens are kept when `keep_special` is set.
    pub fn decode(&self, ids: &[u32], keep_special: bool) -> Result<String, ModelError> {
        self.inner
            .decode(ids, !keep_special)
            .map_err(|e| ModelError::Tokenizer { file: self.source.clone(), reason: format!("cannot decode ids: {e}") })
    }

    /// The text of token `id`, if it exists.
    pub fn token_text(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// The tokenizer (with the embedding token) as the text of a `tokenizer.json`.
    pub fn to_json(&self) -> Result<String, ModelError> {
        self.inner.to_string(false).map_err(|e| ModelError::Tokenizer {
            file: "tokenizer.json".into(),
            reason: format!("cannot serialise: {e}"),
        })
    }

    /// The tokenizer as an export ships it: [`TextTokenizer::to_json`] plus a post-processor that appends the
    /// embedding token when special tokens are added — what `AutoTokenizer(text)` and sentence-transformers do by
    /// default — so a plain text encodes to the ids the model embeds. Encoding without special tokens (as the
    /// framework does, the token already in the text) is unchanged. A source post-processor that adds tokens of
    /// its own (BOS, CLS) is replaced, as the model never saw them; a byte-level one (offsets only) is kept.
    pub fn to_export_json(&self) -> Result<String, ModelError> {
        let err = |e: String| ModelError::Tokenizer {
            file: self.source.clone(),
            reason: format!("cannot add the post-processor that appends {:?}: {e}", self.emb_token),
        };
        let emb = self.emb_token.as_str();
        let append: PostProcessorWrapper = TemplateProcessing::builder()
            .try_single(vec!["$A", emb])
            .and_then(|b| b.try_pair(vec!["$A", "$B", emb]))
            .map_err(|e| err(e.to_string()))?
            .special_tokens(vec![(emb, self.emb_id)])
            .build()
            .map_err(|e| err(e.to_string()))?
            .into();
        let mut byte_level: Vec<PostProcessorWrapper> = match self.inner.get_post_processor() {
            Some(p @ PostProcessorWrapper::ByteLevel(_)) => vec![p.clone()],
            Some(PostProcessorWrapper::Sequence(seq)) => (0..)
                .map_while(|i| seq.get(i))
                .filter(|p| matches!(p, PostProcessorWrapper::ByteLevel(_)))
                .cloned()
                .collect(),
            _ => Vec::new(),
        };
        let processor = if byte_level.is_empty() {
            append
        } else {
            byte_level.push(append);
            PostProcessorWrapper::Sequence(Sequence::new(byte_level))
        };
        let mut inner = self.inner.clone();
        inner.with_post_processor(Some(processor));
        inner.to_string(false).map_err(|e| err(e.to_string()))
    }

    /// Writes the tokenizer (with the embedding token) as `tokenizer.json`, durably.
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        crate::hf::write_atomic(path, self.to_json()?.as_bytes())
    }
}
