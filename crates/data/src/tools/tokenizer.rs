//! Byte-level BPE tokenizer training with the `tokenizers` crate.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::normalizers::NFC;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer, TokenizerBuilder};

use crate::error::{DataError, Result};
use crate::rows::CorpusDoc;
use crate::schema::ColumnNames;
use crate::shards::ShardSet;
use crate::stream::{Stream, StreamConfig};

/// The special tokens of the project, in id order (0, 1, 2).
pub const DEFAULT_SPECIAL_TOKENS: [&str; 3] = ["<pad>", "<eos>", "<embtoken>"];

/// Where training text comes from.
#[derive(Clone, Debug)]
pub enum TextSource {
    /// Plain-text files, one sequence per non-blank line.
    Files(Vec<PathBuf>),
    /// Corpus shards; each document's title and text joined by a newline.
    Corpus {
        /// The corpus shards.
        shards: ShardSet,
        /// Column names of the corpus (boxed: the struct is large).
        columns: Box<ColumnNames>,
    },
}

/// Vocabulary size, frequency cut-off and special tokens of a trained tokenizer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenizerTrainConfig {
    /// Target vocabulary size, special tokens and the 256 byte symbols included. Default 32 000.
    pub vocab_size: usize,
    /// Least count for a merge. Default 2.
    pub min_frequency: u64,
    /// Special tokens, given ids 0.. in order. Default [`DEFAULT_SPECIAL_TOKENS`].
    pub special_tokens: Vec<String>,
}

impl Default for TokenizerTrainConfig {
    fn default() -> Self {
        Self { vocab_size: 32_000, min_frequency: 2, special_tokens: DEFAULT_SPECIAL_TOKENS.map(String::from).to_vec() }
    }
}

/// What [`train_tokenizer`] produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TrainedTokenizer {
    /// The `tokenizer.json` written.
    pub path: PathBuf,
    /// Final vocabulary size (with special tokens).
    pub vocab_size: usize,
    /// `(special token, id)`.
    pub special_ids: Vec<(String, u32)>,
    /// Sequences trained on.
    pub sequences: u64,
}

/// Trains a byte-level BPE tokenizer (NFC normalisation, GPT-2 style byte-level
/// pre-tokenizer without prefix space) and writes it to `output` as `tokenizer.json`.
///
/// The result loads with `tokenizers::Tokenizer::from_file`; special tokens get ids
/// `0..special_tokens.len()` in order.
pub fn train_tokenizer(source: &TextSource, config: &TokenizerTrainConfig, output: &Path) -> Result<TrainedTokenizer> {
    let tok_err = |e: tokenizers::Error| DataError::Tokenizer(e.to_string());
    let specials: Vec<AddedToken> = config.special_tokens.iter().map(|t| AddedToken::from(t.clone(), true)).collect();
    let mut trainer = BpeTrainerBuilder::new()
        .show_progress(false)
        .vocab_size(config.vocab_size)
        .min_frequency(config.min_frequency)
        .special_tokens(specials)
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build();
    let byte_level = ByteLevel::new(false, true, true);
    let mut tokenizer = TokenizerBuilder::<BPE, NFC, ByteLevel, ByteLevel, ByteLevel>::new()
        .with_model(BPE::default())
        .with_normalizer(Some(NFC))
        .with_pre_tokenizer(Some(byte_level))
        .with_post_processor(Some(byte_level))
        .with_decoder(Some(byte_level))
        .build()
        .map_err(tok_err)?;

    let failure = Arc::new(Mutex::new(None));
    let sequences = Arc::new(AtomicU64::new(0));
    let texts = Texts { inner: texts(source)?, failure: Arc::clone(&failure), count: Arc::clone(&sequences) };
    tokenizer.train(&mut trainer, texts).map_err(tok_err)?;
    if let Some(e) = failure.lock().ok().and_then(|mut f| f.take()) {
        return Err(e);
    }
    tokenizer.save(output, false).map_err(tok_err)?;

    let saved = Tokenizer::from_file(output).map_err(tok_err)?;
    let special_ids = config
        .special_tokens
        .iter()
        .map(|t| {
            saved
                .token_to_id(t)
                .map(|id| (t.clone(), id))
                .ok_or_else(|| DataError::Tokenizer(format!("special token {t} missing after training")))
        })
        .collect::<Result<_>>()?;
    let sequences = sequences.load(Ordering::Relaxed);
    Ok(TrainedTokenizer { path: output.to_path_buf(), vocab_size: saved.get_vocab_size(true), special_ids, sequences })
}

type TextIter = Box<dyn Iterator<Item = Result<String>> + Send>;

/// Adapts a fallible text iterator to the infallible one the trainer wants: the first error
/// is kept aside and ends the iteration.
struct Texts {
    inner: TextIter,
    failure: Arc<Mutex<Option<DataError>>>,
    count: Arc<AtomicU64>,
}

impl Iterator for Texts {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        match self.inner.next()? {
            Ok(text) => {
                self.count.fetch_add(1, Ordering::Relaxed);
                Some(text)
            }
            Err(e) => {
                if let Ok(mut f) = self.failure.lock() {
                    *f = Some(e);
                }
                None
            }
        }
    }
}

fn texts(source: &TextSource) -> Result<TextIter> {
    match source {
        TextSource::Files(paths) => {
            let mut files = Vec::with_capacity(paths.len());
            for path in paths {
                let file = File::open(path).map_err(|e| DataError::io(path, e))?;
                files.push((path.clone(), BufReader::new(file)));
            }
            Ok(Box::new(files.into_iter().flat_map(|(path, reader)| {
                reader
                    .lines()
                    .map(move |line| line.map_err(|e| DataError::io(&path, e)))
                    .filter(|line| line.as_ref().map_or(true, |l| !l.trim().is_empty()))
            })))
        }
        TextSource::Corpus { shards, columns } => {
            let config = StreamConfig { shuffle: false, columns: (**columns).clone(), ..StreamConfig::default() };
            let stream = Stream::<CorpusDoc>::new(shards, config)?;
            Ok(Box::new(stream.map(|doc| doc.map(|d| d.joined("\n")))))
        }
    }
}
