//! Streams Parquet shards for the warm-up, contrastive and GRPO stages of reasoning-retriever
//! training, with a bounded shuffle buffer, rank sharding and exact, cheap resume.
//!
//! # Layers
//!
//! * [`ShardSet`]: Parquet files from paths, folders and globs, known from their footers.
//!   Its *units* are (shard, row group) pairs; data is only ever read one row group at a time.
//! * [`FromBatch`] row types ([`CorpusDoc`], [`WarmupRow`], [`ContrastiveRow`], [`GrpoRow`],
//!   [`EvalQuery`], [`Qrel`]) decode Arrow batches under configurable [`ColumnNames`].
//! * [`Stream`]: one rank's rows, epoch after epoch, with a serialisable [`DataState`].
//! * [`Prefetch`]: runs a preparation closure (tokenization) on worker threads and returns
//!   the results in stream order, each with the state after its row.
//! * [`TokenBudgetBatcher`], [`pad_batch`], [`truncate`]: batching over token ids.
//! * [`Corpus`], [`EvalSet`], [`validate_doc_refs`]: in-memory corpus and evaluation data.
//! * [`tools`]: `inspect`, importers (BEIR, BRIGHT, mapped JSONL) and tokenizer training.
//!
//! # Schemas
//!
//! Names below are the [`ColumnNames`] defaults; every one can be renamed. Columns not named
//! are ignored. "string" accepts Arrow `Utf8`, `LargeUtf8`, `Utf8View` and dictionaries of
//! those; "list" accepts `List` and `LargeList` of strings; any other type is an error naming
//! the file, the column and the expected type.
//!
//! | rows | required | optional |
//! |---|---|---|
//! | corpus ([`CorpusDoc`]) | `doc_id`, `text` | `title` |
//! | stage 1 warm-up ([`WarmupRow`]) | `query_id`, `query`, `reasoning` | `positive_ids: list` |
//! | stage 2 contrastive ([`ContrastiveRow`]) | `query_id`, `query`, and `positives: list` or `positive_ids: list` | `reasoning`, `negatives: list`, `negative_ids: list` |
//! | stage 3 GRPO ([`GrpoRow`]) | `query_id`, `query`, `positive_ids: list` | `reasoning` (gold, for the logged reference reward), `negative_ids: list`, `excluded_ids: list` |
//! | eval queries ([`EvalQuery`]) | `query_id`, `query` | `task`, `excluded_ids: list` |
//! | qrels ([`Qrel`]) | `query_id`, `doc_id`, `relevance: Int32 or Int64` (must fit `i32`) | |
//!
//! Contrastive rows may name passages by corpus id or inline their texts. Per row, a non-null
//! inline list (`positives` / `negatives`) wins over the id list (`positive_ids` /
//! `negative_ids`); the result is a [`Passages::Texts`] or [`Passages::Ids`]. Negatives are
//! optional (absent or null means none).
//!
//! Optional strings that are null or blank read as `None`; optional lists that are absent or
//! null read as empty.
//!
//! # Order: epochs, windows and ranks
//!
//! For epoch `e`, the units are shuffled with a ChaCha8 generator seeded from
//! `mix(seed, [EPOCH_DOMAIN, e])` (see [`seed`] for the exact, platform-independent mixing
//! and shuffle). The shuffled units are cut into consecutive *windows* of
//! [`StreamConfig::shuffle_window`] units. A window's rows are read, decoded and permuted with
//! a generator seeded from `mix(seed, [WINDOW_DOMAIN, e, w])`: this is the bounded shuffle
//! buffer, and memory is about one window of row groups. With shuffling off, units and rows
//! keep their natural order (shards sorted by path, row groups and rows in file order).
//!
//! Rank `r` of `world_size` takes the permuted rows at positions `p` with
//! `p % world_size == r`: ranks are disjoint and together cover the epoch. Every rank reads
//! (and decodes) the whole window, so all ranks agree on which rows were skipped. Per window
//! the ranks' counts differ by at most one; [`Stream::rows_per_rank_per_epoch`] (or
//! [`EpochPlan::min_rows_per_rank`]) gives the smallest rank's count from metadata so the
//! trainer can cap steps and keep ranks in lock-step.
//!
//! [`StreamConfig::num_epochs`] bounds the epochs (`None`: until stopped; a stream also ends
//! after an epoch that gave its rank no row). A row or step limit is the consumer's
//! business (`stream.take(n)`).
//!
//! # Resume
//!
//! [`Stream::state`] returns a small [`DataState`] — epoch, window, and `offset` (rows this
//! rank already returned from that window), cumulative skip counters, and a [`Fingerprint`]
//! of the seed, shuffle settings, rank, world size and shard list (file names with
//! row-group sizes). [`Stream::restore`] checks the fingerprint (a mismatch is an error naming
//! the differing field), re-reads only the current window and skips `offset` rows. Since the
//! unit order and the window permutation are pure functions of (seed, epoch, window), the
//! shuffle buffer and generator state are rebuilt exactly, and the restored stream yields
//! exactly what the interrupted one would have yielded next.
//!
//! With [`Prefetch`], each [`Prepared`] item carries the state after its own row: checkpoint
//! the state of the last item consumed, not the stream's (which is ahead by the queue).
//!
//! # Bad data
//!
//! Structural problems are always errors naming the file and, where they apply, the row
//! group and column: an input matching nothing, a non-Parquet or truncated file, a missing
//! column, an unsupported Arrow type, an undecodable page. Row problems — null or blank
//! required strings, a null or empty positive list, null or blank list elements, an
//! out-of-range relevance — follow [`BadRowPolicy`]: `Error` (the default) fails naming file,
//! row group, row and column; `Skip` drops the row and counts it per [`SkipReason`] in
//! [`SkipStats`] ([`Stream::skipped`], also carried in [`DataState`]). Nothing is dropped
//! silently. The token-budget batcher applies the same policy to an item longer than a whole
//! batch. Duplicate corpus ids, duplicate query ids and conflicting qrels are errors naming
//! both places; [`validate_doc_refs`] lists the first missing referenced ids with their query
//! ids and file positions.

#![warn(missing_docs)]

pub mod batch;
pub mod budget;
pub mod column;
mod columns;
pub mod corpus;
mod error;
pub mod eval;
pub mod plan;
pub mod policy;
pub mod prefetch;
mod reader;
pub mod rows;
pub mod schema;
pub mod seed;
pub mod shards;
pub mod state;
pub mod stream;
pub mod tools;

pub use batch::{PadSide, PaddedBatch, TruncateSide, pad_batch, truncate};
pub use budget::{TokenBudget, TokenBudgetBatcher};
pub use column::read_string_column;
pub use columns::{RowIssue, SchemaIssue};
pub use corpus::{Corpus, RefReport, validate_doc_refs};
pub use error::{DataError, Origin, Result};
pub use eval::EvalSet;
pub use plan::EpochPlan;
pub use policy::{BadRowPolicy, SkipReason, SkipStats};
pub use prefetch::{Prefetch, PrefetchConfig, Prepared};
pub use rows::{ContrastiveRow, CorpusDoc, DocRefs, EvalQuery, GrpoRow, Passages, Qrel, RefColumn, WarmupRow};
pub use schema::{ColumnNames, FromBatch, check_schema};
pub use shards::{Shard, ShardSet, Unit};
pub use state::{DataState, Fingerprint};
pub use stream::{Stream, StreamConfig};
