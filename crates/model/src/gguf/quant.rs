//! ggml storage types and their dequantisation to f32, following the block layouts of ggml's `ggml-common.h`
//! (the same layouts gguf-py's `quants.py` reads). The legacy quantised types store blocks of 32 values along
//! the fastest-varying dimension, each with its own f16 scale (and minimum, for the `_1` types); the k-quants
//! ([`crate::gguf::kquant`]) store super-blocks of 256.

use half::{bf16, f16};

use crate::gguf::kquant::{self, SUPER};

/// Values per block of the legacy quantised types.
const BLOCK: usize = 32;

/// The storage types this reader dequantises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GgmlType {
    /// 32-bit float (ggml id 0).
    F32,
    /// 16-bit float (1).
    F16,
    /// 4-bit, scale only: `d · (q − 8)` (2).
    Q4_0,
    /// 4-bit, scale and minimum: `d · q + m` (3).
    Q4_1,
    /// 5-bit, scale only: `d · (q − 16)` (6).
    Q5_0,
    /// 5-bit, scale and minimum: `d · q + m` (7).
    Q5_1,
    /// 8-bit, scale only: `d · q` (8).
    Q8_0,
    /// 2-bit k-quant (10).
    Q2K,
    /// 3-bit k-quant (11).
    Q3K,
    /// 4-bit k-quant (12).
    Q4K,
    /// 5-bit k-quant (13).
    Q5K,
    /// 6-bit k-quant (14).
    Q6K,
    /// bfloat16 (30).
    BF16,
}

impl GgmlType {
    /// The type with ggml id `id`, or what is supported.
    pub fn from_id(id: u32) -> Result<Self, String> {
        Ok(match id {
            0 => Self::F32,
            1 => Self::F16,
            2 => Self::Q4_0,
            3 => Self::Q4_1,
            6 => Self::Q5_0,
            7 => Self::Q5_1,
            8 => Self::Q8_0,
            10 => Self::Q2K,
            11 => Self::Q3K,
            12 => Self::Q4K,
            13 => Self::Q5K,
            14 => Self::Q6K,
            30 => Self::BF16,
            other => {
                return Err(format!(
                    "a ggml type this reader dequantises (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K), \
                     got type id {other} (i-quants and Q8_K are not supported: convert the model with \
                     scripts/gguf_to_hf.py, or re-quantise it to Q8_0)"
                ));
            }
        })
    }

    /// Bytes per block and values per block.
    fn block(self) -> (usize, usize) {
        match self {
            Self::F32 => (4, 1),
            Self::F16 | Self::BF16 => (2, 1),
            Self::Q4_0 => (2 + BLOCK / 2, BLOCK),
            Self::Q4_1 => (4 + BLOCK / 2, BLOCK),
            Self::Q5_0 => (2 + 4 + BLOCK / 2, BLOCK),
            Self::Q5_1 => (4 + 4 + BLOCK / 2, BLOCK),
            Self::Q8_0 => (2 + BLOCK, BLOCK),
            Self::Q2K => (84, SUPER),
            Self::Q3K => (110, SUPER),
            Self::Q4K => (144, SUPER),
            Self::Q5K => (176, SUPER),
            Self::Q6K => (210, SUPER),
        }
    }

    /// Bytes taken by a tensor of `elements` values whose rows are `row` values long.
    pub fn byte_size(self, row: usize, elements: usize) -> Result<usize, String> {
        let (bytes, values) = self.block();
        if !row.is_multiple_of(values) {
            return Err(format!("rows whose length ({row}) is a multiple of {values} for {self:?}"));
        }
        elements.checked_mul(bytes).map(|b| b / values).ok_or_else(|| "a tensor size that fits in memory".into())
    }

    /// Dequantises `raw` (exactly [`GgmlType::byte_size`] bytes) into `elements` f32 values.
    pub fn dequantize(self, raw: &[u8], elements: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(elements);
        let (bytes, _) = self.block();
        let half = |b: &[u8], at: usize| f16::from_le_bytes([b[at], b[at + 1]]).to_f32();
        for b in raw.chunks_exact(bytes) {
            match self {
                Self::F32 => out.push(f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                Self::F16 => out.push(half(b, 0)),
                Self::BF16 => out.push(bf16::from_le_bytes([b[0], b[1]]).to_f32()),
                Self::Q4_0 => nibbles(&mut out, half(b, 0), -8.0 * half(b, 0), &b[2..], 0),
                Self::Q4_1 => nibbles(&mut out, half(b, 0), half(b, 2), &b[4..], 0),
                Self::Q5_0 => {
                    let high = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
                    nibbles(&mut out, half(b, 0), -16.0 * half(b, 0), &b[6..], high)
                }
                Self::Q5_1 => {
                    let high = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
                    nibbles(&mut out, half(b, 0), half(b, 2), &b[8..], high)
                }
                Self::Q8_0 => {
                    let d = half(b, 0);
                    out.extend(b[2..].iter().map(|&q| d * q as i8 as f32));
                }
                Self::Q2K => kquant::q2_k(&mut out, b),
                Self::Q3K => kquant::q3_k(&mut out, b),
                Self::Q4K => kquant::q4_k(&mut out, b),
                Self::Q5K => kquant::q5_k(&mut out, b),
                Self::Q6K => kquant::q6_k(&mut out, b),
            }
        }
        out
    }
}

/// One block of 4-bit quants (`qs`: 16 bytes, low nibbles are values 0..16, high nibbles 16..32), with an
/// optional fifth bit per value from `high` (bit j for value j): value = `d · q + offset`.
fn nibbles(out: &mut Vec<f32>, d: f32, offset: f32, qs: &[u8], high: u32) {
    let fifth = |j: usize| (((high >> j) & 1) << 4) as u8;
    for (j, &q) in qs.iter().enumerate() {
        out.push(d * ((q & 0x0F) | fifth(j)) as f32 + offset);
    }
    for (j, &q) in qs.iter().enumerate() {
        out.push(d * ((q >> 4) | fifth(j + 16)) as f32 + offset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f16_bytes(x: f32) -> [u8; 2] {
        f16::from_f32(x).to_le_bytes()
    }

    #[test]
    fn q4_1_block_is_scale_times_nibble_plus_min() {
        let mut block = Vec::new();
        block.extend(f16_bytes(0.5));
        block.extend(f16_bytes(-1.0));
        block.extend((0..16u8).map(|j| j | ((15 - j) << 4)));
        let v = GgmlType::Q4_1.dequantize(&block, 32);
        assert_eq!(v[0], -1.0);
        assert_eq!(v[3], 0.5);
        assert_eq!(v[16], 6.5);
        assert_eq!(v[31], -1.0);
    }

    #[test]
    fn q5_0_uses_the_fifth_bit_and_centres_at_16() {
        let mut block = Vec::new();
        block.extend(f16_bytes(2.0));
        block.extend((1u32 | (1 << 16)).to_le_bytes());
        block.extend([0u8; 16]);
        let v = GgmlType::Q5_0.dequantize(&block, 32);
        assert_eq!((v[0], v[1], v[16], v[17]), (0.0, -32.0, 0.0, -32.0));
    }

    #[test]
    fn q8_0_is_signed() {
        let mut block = Vec::new();
        block.extend(f16_bytes(0.25));
        block.extend((0..32).map(|j| (j as i8 - 16) as u8));
        let v = GgmlType::Q8_0.dequantize(&block, 32);
        assert_eq!((v[0], v[16], v[31]), (-4.0, 0.0, 3.75));
    }

    #[test]
    fn rows_must_hold_whole_blocks() {
        assert!(GgmlType::Q4_0.byte_size(48, 96).is_err());
        assert_eq!(GgmlType::Q4_0.byte_size(64, 128).unwrap(), 4 * 18);
        assert!(GgmlType::from_id(20).unwrap_err().contains("i-quants"));
    }
}
