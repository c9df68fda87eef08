//! Padding and truncation of token id sequences.

use serde::{Deserialize, Serialize};

/// Which side padding goes on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PadSide {
    /// Pad before the tokens (last token at the last position).
    Left,
    /// Pad after the tokens (the default).
    #[default]
    Right,
}

/// Which end tokens are removed from when truncating.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TruncateSide {
    /// Drop tokens from the start (keep the last `max_len`).
    Left,
    /// Drop tokens from the end (keep the first `max_len`; the default).
    #[default]
    Right,
}

/// A padded batch, row-major `[batch, seq_len]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PaddedBatch {
    /// Token ids, `batch * seq_len`, padded with the pad id.
    pub ids: Vec<u32>,
    /// `true` on real tokens, `false` on padding; same shape as `ids`.
    pub mask: Vec<bool>,
    /// Unpadded length of each row.
    pub lengths: Vec<usize>,
    /// Number of rows.
    pub batch: usize,
    /// Length of every row after padding (the longest input).
    pub seq_len: usize,
}

/// Pads `seqs` to the longest one.
pub fn pad_batch<S: AsRef<[u32]>>(seqs: &[S], pad_id: u32, side: PadSide) -> PaddedBatch {
    let lengths: Vec<usize> = seqs.iter().map(|s| s.as_ref().len()).collect();
    let seq_len = lengths.iter().copied().max().unwrap_or(0);
    let mut ids = Vec::with_capacity(seqs.len() * seq_len);
    let mut mask = Vec::with_capacity(seqs.len() * seq_len);
    for seq in seqs {
        let seq = seq.as_ref();
        let pad = seq_len - seq.len();
        let padding = std::iter::repeat_n(pad_id, pad);
        match side {
            PadSide::Left => {
                ids.extend(padding.chain(seq.iter().copied()));
                mask.extend(std::iter::repeat_n(false, pad).chain(std::iter::repeat_n(true, seq.len())));
            }
            PadSide::Right => {
                ids.extend(seq.iter().copied().chain(padding));
                mask.extend(std::iter::repeat_n(true, seq.len()).chain(std::iter::repeat_n(false, pad)));
            }
        }
    }
    PaddedBatch { ids, mask, lengths, batch: seqs.len(), seq_len }
}

/// Shortens `ids` to at most `max_len` tokens, removing from `side`; returns how many were
/// removed.
pub fn truncate(ids: &mut Vec<u32>, max_len: usize, side: TruncateSide) -> usize {
    let excess = ids.len().saturating_sub(max_len);
    match side {
        TruncateSide::Right => ids.truncate(max_len),
        TruncateSide::Left => {
            ids.drain(..excess);
        }
    }
    excess
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_right_and_left() {
        let seqs = vec![vec![1, 2, 3], vec![4]];
        let r = pad_batch(&seqs, 0, PadSide::Right);
        assert_eq!((r.batch, r.seq_len), (2, 3));
        assert_eq!(r.ids, vec![1, 2, 3, 4, 0, 0]);
        assert_eq!(r.mask, vec![true, true, true, true, false, false]);
        assert_eq!(r.lengths, vec![3, 1]);
        let l = pad_batch(&seqs, 9, PadSide::Left);
        assert_eq!(l.ids, vec![1, 2, 3, 9, 9, 4]);
        assert_eq!(l.mask, vec![true, true, true, false, false, true]);
    }

    #[test]
    fn pads_empty_input() {
        let p = pad_batch::<Vec<u32>>(&[], 0, PadSide::Right);
        assert_eq!((p.batch, p.seq_len, p.ids.len()), (0, 0, 0));
    }

    #[test]
    fn truncates_either_side() {
        let mut a = vec![1, 2, 3, 4];
        assert_eq!(truncate(&mut a, 2, TruncateSide::Right), 2);
        assert_eq!(a, vec![1, 2]);
        let mut b = vec![1, 2, 3, 4];
        assert_eq!(truncate(&mut b, 3, TruncateSide::Left), 1);
        assert_eq!(b, vec![2, 3, 4]);
        let mut c = vec![1];
        assert_eq!(truncate(&mut c, 5, TruncateSide::Left), 0);
        assert_eq!(c, vec![1]);
    }
}
