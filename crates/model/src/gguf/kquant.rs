//! Dequantisation of ggml's k-quants (super-blocks of 256 values with 6-bit or 8-bit sub-block scales), following
//! the block layouts and `dequantize_row_q*_K` of ggml's `ggml-quants.c`. Each function turns one block into 256
//! values appended to `out`.

use half::f16;

/// Values per k-quant super-block.
pub const SUPER: usize = 256;

fn half(b: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([b[at], b[at + 1]]).to_f32()
}

/// Scale and minimum `j` (0..8) of a Q4_K/Q5_K block's 12 packed scale bytes (`get_scale_min_k4`).
fn scale_min(j: usize, q: &[u8]) -> (f32, f32) {
    let (sc, m) = if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        ((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    };
    (sc as f32, m as f32)
}

/// Q2_K (84 bytes): scales[16] (4-bit scale, 4-bit min), qs[64] (2 bits each), d, dmin.
pub fn q2_k(out: &mut Vec<f32>, b: &[u8]) {
    let (scales, qs, d, dmin) = (&b[..16], &b[16..80], half(b, 80), half(b, 82));
    let mut is = 0;
    for half_block in 0..2 {
        let q = &qs[half_block * 32..half_block * 32 + 32];
        for shift in [0, 2, 4, 6] {
            for part in 0..2 {
                let sc = scales[is];
                is += 1;
                let (dl, ml) = (d * (sc & 0x0F) as f32, dmin * (sc >> 4) as f32);
                out.extend(q[part * 16..part * 16 + 16].iter().map(|&x| dl * ((x >> shift) & 3) as f32 - ml));
            }
        }
    }
}

/// Q3_K (110 bytes): hmask[32] (high bit), qs[64] (low 2 bits), scales[12] (sixteen 6-bit scales), d.
pub fn q3_k(out: &mut Vec<f32>, b: &[u8]) {
    let (hmask, qs, packed, d) = (&b[..32], &b[32..96], &b[96..108], half(b, 108));
    let word = |i: usize| u32::from_le_bytes([packed[4 * i], packed[4 * i + 1], packed[4 * i + 2], packed[4 * i + 3]]);
    let (a0, a1, tmp) = (word(0), word(1), word(2));
    let (k1, k2) = (0x0303_0303u32, 0x0f0f_0f0fu32);
    let words = [
        (a0 & k2) | ((tmp & k1) << 4),
        (a1 & k2) | (((tmp >> 2) & k1) << 4),
        ((a0 >> 4) & k2) | (((tmp >> 4) & k1) << 4),
        ((a1 >> 4) & k2) | (((tmp >> 6) & k1) << 4),
    ];
    let scales: Vec<i8> = words.iter().flat_map(|w| w.to_le_bytes()).map(|x| x as i8).collect();
    let (mut is, mut bit) = (0, 1u8);
    for half_block in 0..2 {
        let q = &qs[half_block * 32..half_block * 32 + 32];
        for shift in [0, 2, 4, 6] {
            for part in 0..2 {
                let dl = d * (scales[is] as f32 - 32.0);
                is += 1;
                for l in part * 16..part * 16 + 16 {
                    let low = ((q[l] >> shift) & 3) as i8;
                    let value = low - if hmask[l] & bit != 0 { 0 } else { 4 };
                    out.push(dl * value as f32);
                }
            }
            bit <<= 1;
        }
    }
}

/// Q4_K (144 bytes): d, dmin, scales[12] (eight 6-bit scales and mins), qs[128] (4 bits each).
pub fn q4_k(out: &mut Vec<f32>, b: &[u8]) {
    let (d, dmin, scales, qs) = (half(b, 0), half(b, 2), &b[4..16], &b[16..144]);
    for (chunk, q) in qs.chunks_exact(32).enumerate() {
        let ((s1, m1), (s2, m2)) = (scale_min(2 * chunk, scales), scale_min(2 * chunk + 1, scales));
        out.extend(q.iter().map(|&x| d * s1 * (x & 0x0F) as f32 - dmin * m1));
        out.extend(q.iter().map(|&x| d * s2 * (x >> 4) as f32 - dmin * m2));
    }
}

/// Q5_K (176 bytes): d, dmin, scales[12], qh[32] (fifth bits), qs[128] (low 4 bits).
pub fn q5_k(out: &mut Vec<f32>, b: &[u8]) {
    let (d, dmin, scales, qh, qs) = (half(b, 0), half(b, 2), &b[4..16], &b[16..48], &b[48..176]);
    for (chunk, q) in qs.chunks_exact(32).enumerate() {
        let ((s1, m1), (s2, m2)) = (scale_min(2 * chunk, scales), scale_min(2 * chunk + 1, scales));
        let (u1, u2) = (1u8 << (2 * chunk), 2u8 << (2 * chunk));
        let high = |l: usize, u: u8| if qh[l] & u != 0 { 16.0 } else { 0.0 };
        out.extend(q.iter().enumerate().map(|(l, &x)| d * s1 * ((x & 0x0F) as f32 + high(l, u1)) - dmin * m1));
        out.extend(q.iter().enumerate().map(|(l, &x)| d * s2 * ((x >> 4) as f32 + high(l, u2)) - dmin * m2));
    }
}

/// Q6_K (210 bytes): ql[128] (low 4 bits), qh[64] (high 2 bits), scales[16] (i8), d.
pub fn q6_k(out: &mut Vec<f32>, b: &[u8]) {
    let (ql, qh, scales, d) = (&b[..128], &b[128..192], &b[192..208], half(b, 208));
    for n in 0..2 {
        let (ql, qh, sc) = (&ql[n * 64..], &qh[n * 32..], &scales[n * 8..]);
        let mut values = [0.0f32; 128];
        for l in 0..32 {
            let is = l / 16;
            let q = |low: u8, shift: u32| ((low | (((qh[l] >> shift) & 3) << 4)) as i8 - 32) as f32;
            values[l] = d * sc[is] as i8 as f32 * q(ql[l] & 0x0F, 0);
            values[l + 32] = d * sc[is + 2] as i8 as f32 * q(ql[l + 32] & 0x0F, 2);
            values[l + 64] = d * sc[is + 4] as i8 as f32 * q(ql[l] >> 4, 4);
            values[l + 96] = d * sc[is + 6] as i8 as f32 * q(ql[l + 32] >> 4, 6);
        }
        out.extend(values);
    }
}
