//! A padded batch of token ids on the host, and the attention inputs derived from it: position ids and the
//! causal + padding mask. Rows may be padded on either side; every computation here follows the validity mask,
//! so results for the real tokens do not depend on the padding side.

use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

use crate::error::ModelError;

/// Which end of a row receives the padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PadSide {
    /// Pad before the tokens (what generation uses, so every row ends at the last column).
    Left,
    /// Pad after the tokens (what training uses).
    Right,
}

/// Token ids `[batch, seq_len]` (row-major) with a validity mask (`false` = padding).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBatch {
    /// Token ids, padding filled with the pad id.
    pub ids: Vec<u32>,
    /// `true` where `ids` holds a real token.
    pub valid: Vec<bool>,
    /// Number of rows.
    pub batch: usize,
    /// Columns per row (the longest row).
    pub seq_len: usize,
}

impl TokenBatch {
    /// Pads `rows` to the longest one with `pad_id` on `side`. Empty batches and empty rows are errors.
    pub fn new(rows: &[Vec<u32>], pad_id: u32, side: PadSide) -> Result<Self, ModelError> {
        if rows.is_empty() {
            return Err(ModelError::Input("empty batch".into()));
        }
        if let Some(i) = rows.iter().position(Vec::is_empty) {
            return Err(ModelError::Input(format!("row {i} of the batch has no tokens")));
        }
        let seq_len = rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(rows.len() * seq_len);
        let mut valid = Vec::with_capacity(rows.len() * seq_len);
        for row in rows {
            let pad = seq_len - row.len();
            if side == PadSide::Left {
                ids.extend(std::iter::repeat_n(pad_id, pad));
                valid.extend(std::iter::repeat_n(false, pad));
            }
            ids.extend_from_slice(row);
            valid.extend(std::iter::repeat_n(true, row.len()));
            if side == PadSide::Right {
                ids.extend(std::iter::repeat_n(pad_id, pad));
                valid.extend(std::iter::repeat_n(false, pad));
            }
        }
        Ok(Self { ids, valid, batch: rows.len(), seq_len })
    }

    /// The real tokens of row `r`.
    pub fn row(&self, r: usize) -> Vec<u32> {
        let span = r * self.seq_len..(r + 1) * self.seq_len;
        self.ids[span.clone()].iter().zip(&self.valid[span]).filter(|(_, v)| **v).map(|(id, _)| *id).collect()
    }

    /// Position id of every column: the number of real tokens before it in its row (padding gets the position
    /// of the next real token, which nothing attends to).
    pub fn positions(&self) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.ids.len());
        for r in 0..self.batch {
            let mut seen = 0;
            for t in 0..self.seq_len {
                out.push(seen);
                if self.valid[r * self.seq_len + t] {
                    seen += 1;
                }
            }
        }
        out
    }

    /// Column of the last real occurrence of `token` in each row; an error names the first row without one.
    pub fn last_index_of(&self, token: u32) -> Result<Vec<usize>, ModelError> {
        (0..self.batch)
            .map(|r| {
                (0..self.seq_len)
                    .rev()
                    .find(|&t| {
                        let i = r * self.seq_len + t;
                        self.valid[i] && self.ids[i] == token
                    })
                    .ok_or_else(|| {
                        ModelError::Input(format!(
                            "row {r} has no embedding token (id {token}); texts must end with it"
                        ))
                    })
            })
            .collect()
    }

    /// Ids as an int tensor `[batch, seq_len]`.
    pub fn ids_tensor(&self, device: &Device) -> Tensor<2, Int> {
        ids_tensor(&self.ids, self.batch, self.seq_len, device)
    }

    /// The self-attention mask of this batch, `[batch, 1, seq, seq]`, `true` = masked (see [`attention_mask`]).
    pub fn mask(&self, device: &Device) -> Tensor<4, Bool> {
        attention_mask(&self.valid, self.batch, self.seq_len, 0, device)
    }
}

/// Ids (row-major `[batch, seq]`) as an int tensor.
pub fn ids_tensor(ids: &[u32], batch: usize, seq: usize, device: &Device) -> Tensor<2, Int> {
    let data: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
    Tensor::from_data(TensorData::new(data, [batch, seq]), device)
}

/// Mask for `queries` new positions attending over `key_valid` (`[batch, keys]`, keys = `past + queries`),
/// `true` = masked: a query at absolute position `past + q` sees real keys at positions ≤ its own. Its own
/// position is never masked, so padding rows stay finite (they are ignored downstream) instead of producing NaN.
pub fn attention_mask(
    key_valid: &[bool],
    batch: usize,
    queries: usize,
    past: usize,
    device: &Device,
) -> Tensor<4, Bool> {
    let keys = past + queries;
    debug_assert_eq!(key_valid.len(), batch * keys);
    let mut masked = Vec::with_capacity(batch * queries * keys);
    for b in 0..batch {
        for q in 0..queries {
            let qpos = past + q;
            for k in 0..keys {
                let visible = k == qpos || (k < qpos && key_valid[b * keys + k]);
                masked.push(!visible);
            }
        }
    }
    Tensor::from_data(TensorData::new(masked, [batch, 1, queries, keys]), device)
}
