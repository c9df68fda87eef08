//! `exp` for f32 written so that loops over it vectorise, and a fixed-order f64 sum of exponentials.
//!
//! libm's `expf` is an opaque scalar call: in the softmaxes of the token log-prob and the attention and in the SwiGLU
//! sigmoid it was 6–9 % of a tiny training step (benches/README.md). This is Cephes' `expf` (Moshier): `x` split as
//! `n·ln 2 + r` with `|r| ≤ ln 2 / 2` (ln 2 in two parts for an exact reduction), a degree-7 polynomial for `e^r`,
//! and `2^n` assembled from its exponent bits; relative error ≤ 2 ulp on the normal range (tested below).

/// `e^x`, within 2 ulp on the normal f32 range: 0 below it (`x < −87.33`), `e^88.3` above `x = 88.3`, NaN for NaN.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5·2²³ rounds to an integer held in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let clamped = x.clamp(-87.5, 88.3);
    let shifted = clamped * LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = clamped - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let e_r = p * r * r + r + 1.0;
    let two_n = f32::from_bits((shifted.to_bits().wrapping_sub(ROUND.to_bits()).wrapping_add(127)) << 23);
    let y = e_r * two_n;
    if x < -87.33 { 0.0 } else { y }
}

/// `Σ e^(v − shift)` over `values`, summed in f64 over eight interleaved lanes in one fixed order (independent of
/// threads, and without the serial dependency of a single accumulator).
pub fn sum_exp(values: &[f32], shift: f32) -> f64 {
    let mut lanes = [0f64; 8];
    let chunks = values.chunks_exact(8);
    let tail: f64 = chunks.remainder().iter().map(|&v| f64::from(exp(v - shift))).sum();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane += f64::from(exp(v - shift));
        }
    }
    lanes.iter().sum::<f64>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place.
    fn ulps(a: f32, b: f32) -> u32 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
    }

    #[test]
    fn exp_is_within_two_ulp_of_the_correctly_rounded_value_on_the_normal_range() {
        let mut worst = (0, 0.0);
        for i in 0..=2_000_000 {
            let x = -87.0 + 175.0 * i as f32 / 2_000_000.0;
            let want = (f64::from(x)).exp() as f32;
            let err = ulps(exp(x), want);
            if err > worst.0 {
                worst = (err, x);
            }
        }
        assert!(worst.0 <= 2, "{} ulp at x = {}", worst.0, worst.1);
        assert_eq!(exp(0.0), 1.0);
    }

    #[test]
    fn exp_saturates_and_propagates_nan() {
        assert_eq!(exp(-88.0), 0.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert!(exp(f32::INFINITY).is_finite() && exp(f32::INFINITY) > 1e38);
        assert!(exp(f32::NAN).is_nan());
    }

    #[test]
    fn sum_exp_matches_an_f64_sum() {
        let values: Vec<f32> = (0..1003).map(|i| ((i * 7919) % 997) as f32 / 50.0 - 10.0).collect();
        let want: f64 = values.iter().map(|&v| (f64::from(v) - 3.0).exp()).sum();
        let got = sum_exp(&values, 3.0);
        assert!(((got - want) / want).abs() < 1e-7, "{got} vs {want}");
    }
}
