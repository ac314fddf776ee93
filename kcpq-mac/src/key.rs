//! An HMAC-SHA256 key as the two SHA-256 states it reduces to.

use sha2::Digest;
use sha2::block_api::compress256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::TAG_LEN;
use crate::message::{Block, PaddedMessage};

/// SHA-256's initial state.
pub(crate) const SHA256_IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// An HMAC-SHA256 key, kept as the SHA-256 states after its inner and outer key blocks, so a
/// tag costs only the message's blocks and one outer block. Secret: wiped on drop, and its
/// `Debug` shows nothing of it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct HmacKey {
    pub(crate) inner: [u32; 8],
    pub(crate) outer: [u32; 8],
}

impl std::fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacKey(..)")
    }
}

/// Constant-time: two copies of a key compare equal, and the time taken says nothing of where
/// two keys differ (every word is compared, and only the folded difference is tested).
impl PartialEq for HmacKey {
    fn eq(&self, other: &Self) -> bool {
        let words = self.inner.iter().chain(&self.outer);
        let others = other.inner.iter().chain(&other.outer);
        let difference = words.zip(others).fold(0u32, |acc, (a, b)| acc | (a ^ b));
        bool::from(difference.ct_eq(&0))
    }
}

impl Eq for HmacKey {}

impl HmacKey {
    /// The key for `key` bytes of any length (longer than a block: its SHA-256, as RFC 2104
    /// says).
    pub fn new(key: &[u8]) -> Self {
        let mut block: Block = [0u8; 64];
        if key.len() > 64 {
            block[..32].copy_from_slice(&sha2::Sha256::digest(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let mut pad = block.map(|b| b ^ 0x36);
        let mut inner = SHA256_IV;
        compress256(&mut inner, &[pad]);
        pad = block.map(|b| b ^ 0x5c);
        let mut outer = SHA256_IV;
        compress256(&mut outer, &[pad]);
        pad.zeroize();
        block.zeroize();
        HmacKey { inner, outer }
    }

    /// The HMAC-SHA256 tag of `message`.
    pub fn tag(&self, message: &[u8]) -> [u8; TAG_LEN] {
        let padded = PaddedMessage::new(message, 64);
        let mut state = self.inner;
        // The whole blocks in one call (no copy), then the padded tail.
        compress256(&mut state, padded.whole_blocks());
        compress256(&mut state, padded.tail_blocks());
        let mut outer = self.outer;
        compress256(&mut outer, &[outer_block(&state)]);
        digest_bytes(&outer)
    }
}

/// The outer hash's one block: the inner digest, padded for 64 + 32 bytes.
pub(crate) fn outer_block(inner: &[u32; 8]) -> Block {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(&digest_bytes(inner));
    block[32] = 0x80;
    block[56..].copy_from_slice(&((64u64 + 32) * 8).to_be_bytes());
    block
}

/// A SHA-256 state as its digest bytes.
pub(crate) fn digest_bytes(state: &[u32; 8]) -> [u8; TAG_LEN] {
    let mut out = [0u8; TAG_LEN];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}
