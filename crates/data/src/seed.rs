//! Portable seed derivation and shuffling.
//!
//! Every random choice the crate makes is a pure function of the user seed and a few counters,
//! computed with integer arithmetic only, so it is identical on every machine, thread count and
//! platform word size:
//!
//! * [`mix`]: `h = splitmix64(seed)`, then for each word `w`: `h = splitmix64(h ^ w)`, where
//!   `splitmix64` is the finaliser of Steele et al.'s SplitMix64 (increment `0x9E3779B97F4A7C15`,
//!   multipliers `0xBF58476D1CE4E5B9` and `0x94D049BB133111EB`).
//! * [`rng`]: a ChaCha8 generator keyed with four SplitMix64 outputs of the mixed seed,
//!   little-endian.
//! * [`shuffle`]: Fisher–Yates from the last index down, drawing `j` in `[0, i]` with Lemire's
//!   multiply-and-reject method on 64-bit outputs (no modulo bias, no `usize` dependence).
//!
//! The unit order of epoch `e` uses `mix(seed, [EPOCH_DOMAIN, e])`; the row order of window
//! `w` of epoch `e` uses `mix(seed, [WINDOW_DOMAIN, e, w])`.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Domain tag for the per-epoch unit order (`"EPOCH"` in ASCII).
pub const EPOCH_DOMAIN: u64 = 0x45_50_4F_43_48;
/// Domain tag for the per-window row order (`"WINDOW"` in ASCII).
pub const WINDOW_DOMAIN: u64 = 0x57_49_4E_44_4F_57;

const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// The SplitMix64 output function applied to `x + GOLDEN_GAMMA`.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(GOLDEN_GAMMA);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Mixes a seed with a list of words into one 64-bit seed (see the module docs).
pub fn mix(seed: u64, words: &[u64]) -> u64 {
    words.iter().fold(splitmix64(seed), |h, &w| splitmix64(h ^ w))
}

/// A ChaCha8 generator keyed from a 64-bit seed (see the module docs).
pub fn rng(seed: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    let mut state = seed;
    for chunk in key.chunks_exact_mut(8) {
        chunk.copy_from_slice(&splitmix64(state).to_le_bytes());
        state = state.wrapping_add(GOLDEN_GAMMA);
    }
    ChaCha8Rng::from_seed(key)
}

/// The seed of epoch `epoch`'s unit order.
pub fn epoch_seed(seed: u64, epoch: u64) -> u64 {
    mix(seed, &[EPOCH_DOMAIN, epoch])
}

/// The seed of the row order of window `window` in epoch `epoch`.
pub fn window_seed(seed: u64, epoch: u64, window: u64) -> u64 {
    mix(seed, &[WINDOW_DOMAIN, epoch, window])
}

/// A uniform integer in `[0, n)` (`n > 0`), by Lemire's method.
fn below<R: Rng>(rng: &mut R, n: u64) -> u64 {
    debug_assert!(n > 0);
    let mut m = u128::from(rng.next_u64()) * u128::from(n);
    if (m as u64) < n {
        let threshold = n.wrapping_neg() % n;
        while (m as u64) < threshold {
            m = u128::from(rng.next_u64()) * u128::from(n);
        }
    }
    (m >> 64) as u64
}

/// Shuffles `items` in place with Fisher–Yates (see the module docs).
pub fn shuffle<T, R: Rng>(items: &mut [T], rng: &mut R) {
    for i in (1..items.len()).rev() {
        let j = below(rng, i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PINNED: [u32; 10] = [6, 5, 8, 0, 2, 3, 1, 9, 7, 4];

    #[test]
    fn splitmix_reference_values() {
        // First outputs of SplitMix64 seeded with 0 (reference implementation).
        assert_eq!(splitmix64(0), 0xE220_A839_7B1D_CDAF);
        assert_eq!(splitmix64(GOLDEN_GAMMA), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn shuffle_is_a_deterministic_permutation() {
        let mut a: Vec<u32> = (0..100).collect();
        let mut b = a.clone();
        shuffle(&mut a, &mut rng(7));
        shuffle(&mut b, &mut rng(7));
        assert_eq!(a, b);
        assert_ne!(a, (0..100).collect::<Vec<_>>());
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        let mut c: Vec<u32> = (0..100).collect();
        shuffle(&mut c, &mut rng(8));
        assert_ne!(a, c);
    }

    #[test]
    fn shuffle_is_pinned() {
        // Guards the documented order against changes in rand_chacha or this code: a
        // different value here silently changes every run's data order.
        let mut v: Vec<u32> = (0..10).collect();
        shuffle(&mut v, &mut rng(window_seed(42, 1, 2)));
        assert_eq!(v, PINNED);
    }

    #[test]
    fn seeds_differ_by_domain_and_counter() {
        assert_ne!(epoch_seed(1, 0), epoch_seed(1, 1));
        assert_ne!(epoch_seed(1, 0), window_seed(1, 0, 0));
        assert_ne!(window_seed(1, 0, 1), window_seed(1, 1, 0));
    }
}
