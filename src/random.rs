//! A seeded random stream whose values do not change across crate upgrades.
//!
//! ChaCha8 is a fixed, portable algorithm; the normal samples (Box-Muller) and the
//! shuffle (Fisher-Yates with rejection sampling) are written here rather than
//! taken from `rand`/`rand_distr`, whose value streams may change between versions.
//!
//! ```
//! use softreg::random::SeededRng;
//! let mut a = SeededRng::new(7);
//! let mut b = SeededRng::new(7);
//! assert_eq!(a.normal(0.0, 1.0), b.normal(0.0, 1.0));
//! ```

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

/// A deterministic random stream from a `u64` seed.
pub struct SeededRng(ChaCha8Rng);

impl SeededRng {
    /// The stream for `seed`.
    pub fn new(seed: u64) -> Self {
        Self(ChaCha8Rng::seed_from_u64(seed))
    }

    /// The stream for `seed`, moved to the 32-bit word `word` (where
    /// [`SeededRng::word_pos`] said an earlier stream of `seed` stood).
    pub fn at_word(seed: u64, word: u128) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_word_pos(word);
        Self(rng)
    }

    /// How many 32-bit words of the stream have been drawn.
    pub fn word_pos(&self) -> u128 {
        self.0.get_word_pos()
    }

    /// A uniform sample in `(0, 1]`, with 53 random bits.
    fn uniform_open0(&mut self) -> f64 {
        ((self.0.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A sample from Normal(`mean`, `std`) by the Box-Muller transform.
    pub fn normal(&mut self, mean: f64, std: f64) -> f64 {
        let u1 = self.uniform_open0();
        let u2 = self.uniform_open0();
        mean + std * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Moves the stream past `n` draws of [`SeededRng::normal`] without
    /// computing them (each takes two 64-bit words of the stream).
    pub fn skip_normals(&mut self, n: u64) {
        let words = u128::from(n) * 4;
        self.0.set_word_pos(self.0.get_word_pos() + words);
    }

    /// A uniform integer in `0..n`, without modulo bias. `n` must be positive.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0) has no value");
        let zone = u64::MAX - (u64::MAX - n + 1) % n;
        loop {
            let v = self.0.next_u64();
            if v <= zone {
                return v % n;
            }
        }
    }

    /// Shuffles `items` in place (Fisher-Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}
