//! A small, fixed (seedless) hasher for the trie's token maps and the match cache.
//!
//! `std`'s `RandomState` is seeded from the operating system, which the core never asks for
//! anything; a fixed hasher keeps every run identical. Iteration order of the maps that use it
//! never shows in any result (the trie looks tokens up, it never lists them), so the choice of
//! hash function affects speed only.
//!
//! Hash flooding: subjects come from peers that hold the pre-shared key, and every key holder is
//! fully trusted (see the threat model), so a fast non-keyed hash is acceptable here.

use std::hash::{BuildHasherDefault, Hasher};

/// Multiplier of the Fx hash (rustc's hasher): odd, with well-spread bits.
const SEED: u64 = 0x517c_c1b7_2722_0a95;

/// A word-at-a-time multiplicative hasher with a final avalanche step.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FixedHasher {
    state: u64,
}

/// `BuildHasher` for maps keyed by tokens or subject hashes.
pub(crate) type FixedState = BuildHasherDefault<FixedHasher>;

impl FixedHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.state = (self.state.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FixedHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let word: [u8; 8] = chunk
                .try_into()
                .expect("chunks_exact(8) yields 8-byte chunks");
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // MurmurHash3's 64-bit finaliser: spreads entropy into both the low bits (bucket index)
        // and the high bits (hashbrown's control byte).
        let mut h = self.state;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// The hash of a whole subject string, used as the match cache's key.
#[inline]
pub(crate) fn hash_str(s: &str) -> u64 {
    let mut h = FixedHasher::default();
    h.write(s.as_bytes());
    h.write_usize(s.len());
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_input_same_hash_and_inputs_differ() {
        assert_eq!(hash_str("foo.bar"), hash_str("foo.bar"));
        assert_ne!(hash_str("foo.bar"), hash_str("foo.baz"));
        // Trailing zero bytes must not collide with the shorter string.
        assert_ne!(hash_str("a"), hash_str("a\0"));
        assert_ne!(hash_str(""), hash_str("\0"));
    }

    #[test]
    fn low_bits_spread_over_similar_subjects() {
        let mut buckets = [0u32; 64];
        for i in 0..6400 {
            let s = format!("bench.{i}.data");
            buckets[(hash_str(&s) & 63) as usize] += 1;
        }
        // A uniform spread puts 100 in each bucket; allow generous slack.
        assert!(
            buckets.iter().all(|&n| (50..=150).contains(&n)),
            "{buckets:?}"
        );
    }
}
