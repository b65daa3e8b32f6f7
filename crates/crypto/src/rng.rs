//! Random number sources.
//!
//! The protocol core never reads the OS random source itself: a [`Rng`] is passed in, so tests
//! and fuzzing can use the deterministic [`SeededRng`] (DESIGN.md, "sans-IO core").

use rand_chacha::rand_core::{RngCore as _, SeedableRng as _};

/// A source of cryptographically strong random bytes.
///
/// Every primitive that needs randomness takes a `&mut dyn Rng`, so a caller picks the source:
///
/// ```
/// use nacre_crypto::{Rng, SystemRng};
///
/// fn nonce(rng: &mut dyn Rng) -> [u8; 16] {
///     let mut n = [0u8; 16];
///     rng.fill(&mut n);
///     n
/// }
///
/// let (a, b) = (nonce(&mut SystemRng), nonce(&mut SystemRng));
/// assert_ne!(a, b); // 2^-128 chance of a false failure
/// ```
pub trait Rng: Send {
    /// Fills `dest` entirely with random bytes.
    fn fill(&mut self, dest: &mut [u8]);
}

/// The operating system's random source (`getrandom`).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemRng;

impl Rng for SystemRng {
    fn fill(&mut self, dest: &mut [u8]) {
        rand_core::OsRng.fill_bytes(dest);
    }
}

/// A deterministic ChaCha20 stream seeded from a `u64`.
///
/// For tests and fuzzing only: the whole stream is known to anyone who knows the seed.
///
/// ```
/// use nacre_crypto::{Rng, SeededRng};
///
/// let (mut a, mut b, mut c) = (SeededRng::new(42), SeededRng::new(42), SeededRng::new(43));
/// let (mut x, mut y, mut z) = ([0u8; 32], [0u8; 32], [0u8; 32]);
/// a.fill(&mut x);
/// b.fill(&mut y);
/// c.fill(&mut z);
/// assert_eq!(x, y); // same seed, same stream
/// assert_ne!(x, z);
/// ```
#[derive(Clone, Debug)]
pub struct SeededRng(rand_chacha::ChaCha20Rng);

impl SeededRng {
    /// A generator whose output depends only on `seed`.
    pub fn new(seed: u64) -> Self {
        Self(rand_chacha::ChaCha20Rng::seed_from_u64(seed))
    }
}

impl Rng for SeededRng {
    fn fill(&mut self, dest: &mut [u8]) {
        self.0.fill_bytes(dest);
    }
}

/// Adapts a `&mut dyn Rng` to the `rand_core` traits used by the curve crates.
pub(crate) struct RngAdapter<'a>(pub(crate) &'a mut dyn Rng);

impl rand_core::RngCore for RngAdapter<'_> {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.0.fill(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.0.fill(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill(dest);
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0.fill(dest);
        Ok(())
    }
}

/// Every [`Rng`] is required to be cryptographically strong.
impl rand_core::CryptoRng for RngAdapter<'_> {}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]
    use super::*;

    #[test]
    fn seeded_rng_is_deterministic() {
        let (mut a, mut b, mut c) = (SeededRng::new(7), SeededRng::new(7), SeededRng::new(8));
        let (mut x, mut y, mut z) = ([0u8; 64], [0u8; 64], [0u8; 64]);
        a.fill(&mut x);
        b.fill(&mut y);
        c.fill(&mut z);
        assert_eq!(x, y);
        assert_ne!(x, z);
        a.fill(&mut x);
        assert_ne!(x, y, "the stream advances");
    }

    #[test]
    fn system_rng_fills() {
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        SystemRng.fill(&mut a);
        SystemRng.fill(&mut b);
        assert_ne!(a, b);
    }
}
