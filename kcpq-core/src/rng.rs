//! The core's only source of randomness: a ChaCha20 CSPRNG expanded from a caller-supplied seed.
//!
//! The core never asks the operating system for entropy. Adapters seed it from `getrandom` at
//! every start; tests and simulators pass fixed seeds so runs reproduce bit for bit. Handshake
//! randoms, session ids and cookie secrets come from here and from nothing weaker.

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng as _, SeedableRng};

/// A seed: 32 bytes of entropy from the caller.
pub type Seed = [u8; 32];

/// A deterministic cryptographically secure generator (ChaCha20).
#[derive(Clone)]
pub struct Rng(ChaCha20Rng);

impl Rng {
    /// A generator expanded from `seed`. The same seed always yields the same stream.
    pub fn from_seed(seed: Seed) -> Self {
        Rng(ChaCha20Rng::from_seed(seed))
    }

    /// A child generator seeded from this one, for a component that needs its own stream.
    pub fn fork(&mut self) -> Self {
        let mut seed = [0u8; 32];
        self.fill(&mut seed);
        Rng::from_seed(seed)
    }

    /// Fills `dst` with random bytes.
    pub fn fill(&mut self, dst: &mut [u8]) {
        self.0.fill_bytes(dst);
    }

    /// A random array of `N` bytes.
    pub fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        self.fill(&mut out);
        out
    }

    /// A uniformly random `u64`.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A uniformly random integer in `0..bound` (`bound` must be non-zero; zero yields zero).
    ///
    /// Uses rejection sampling, so there is no modulo bias.
    pub fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 {
            return 0;
        }
        let zone = u64::MAX - (u64::MAX % bound);
        loop {
            let x = self.next_u64();
            if x < zone {
                return x % bound;
            }
        }
    }
}

impl std::fmt::Debug for Rng {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Rng(ChaCha20, state hidden)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let mut a = Rng::from_seed([7; 32]);
        let mut b = Rng::from_seed([7; 32]);
        assert_eq!(a.bytes::<64>(), b.bytes::<64>());
        let mut c = Rng::from_seed([8; 32]);
        assert_ne!(a.bytes::<32>(), c.bytes::<32>());
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut r = Rng::from_seed([1; 32]);
        let mut seen = [false; 5];
        for _ in 0..1000 {
            let x = r.below(5);
            assert!(x < 5);
            seen[x as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
        assert_eq!(r.below(0), 0);
    }

    #[test]
    fn fork_diverges_from_parent() {
        let mut parent = Rng::from_seed([3; 32]);
        let mut child = parent.fork();
        assert_ne!(parent.bytes::<32>(), child.bytes::<32>());
    }
}
