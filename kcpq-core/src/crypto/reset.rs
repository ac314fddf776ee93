//! Stateless reset: telling a client, without any state, that the server no longer knows its
//! session, so the client reconnects at once instead of waiting for a timeout (e.g. after a
//! server restart).
//!
//! ```text
//! reset = 0x05 || session id(8) || token(16) * n        n = 1..=4
//! token = HMAC-SHA256(K_reset, "kcpq v1 reset token" || session id)[..16]
//! ```
//!
//! `K_reset` comes from a PSK (see the [key schedule](super#key-schedule)), so only key holders
//! can make or check a token, and a restarted server with the same keys produces the same tokens. The server does not
//! know which of its keys the lost session used, so it sends one token per key, primary first, as
//! many as fit while keeping the reset strictly smaller than the datagram that caused it (never
//! more than [`MAX_RESET_TOKENS`]); a client compares every token against its own in constant time.
//! A reset answers only a data-shaped datagram (at least [`super::DATA_OVERHEAD`] bytes with a
//! data type byte), never a reset or handshake, so two endpoints cannot loop, and resets are rate
//! limited by a token bucket driven by `now`.

use std::time::Duration;

use hmac::Mac;
use subtle::ConstantTimeEq;

use super::key::KeySet;
use super::schedule::{HmacSha256, PskSecrets};
use super::wire::{SESSION_ID_LEN, SessionId, TAG_LEN, TYPE_RESET, peek_session_id};
use crate::Instant;

/// Length of one reset token.
pub const RESET_TOKEN_LEN: usize = TAG_LEN;
/// Most tokens one reset carries (one per server key, primary first).
pub const MAX_RESET_TOKENS: usize = 4;
/// Length of a reset header: type(1) || session id(8).
pub const RESET_HEADER_LEN: usize = 1 + SESSION_ID_LEN;
/// Length of the largest reset.
pub const MAX_RESET_LEN: usize = RESET_HEADER_LEN + MAX_RESET_TOKENS * RESET_TOKEN_LEN;

const TOKEN_LABEL: &[u8] = b"kcpq v1 reset token";
const MICROS_PER_TOKEN: u64 = 1_000_000;

pub(crate) fn reset_token(reset_mac: &HmacSha256, session_id: SessionId) -> [u8; RESET_TOKEN_LEN] {
    let mut mac = reset_mac.clone();
    mac.update(TOKEN_LABEL);
    mac.update(&session_id.0);
    let tag = mac.finalize().into_bytes();
    let mut token = [0u8; RESET_TOKEN_LEN];
    token.copy_from_slice(&tag[..RESET_TOKEN_LEN]);
    token
}

/// Whether `datagram` is a reset for `session_id` carrying `token` (constant time in the tokens).
pub(crate) fn matches_reset(
    datagram: &[u8],
    session_id: SessionId,
    token: &[u8; RESET_TOKEN_LEN],
) -> bool {
    let len = datagram.len();
    if !(RESET_HEADER_LEN + RESET_TOKEN_LEN..=MAX_RESET_LEN).contains(&len)
        || !(len - RESET_HEADER_LEN).is_multiple_of(RESET_TOKEN_LEN)
        || datagram[0] != TYPE_RESET
        || datagram[1..RESET_HEADER_LEN] != session_id.0
    {
        return false;
    }
    let mut found = subtle::Choice::from(0);
    for candidate in datagram[RESET_HEADER_LEN..].chunks_exact(RESET_TOKEN_LEN) {
        found |= candidate.ct_eq(token);
    }
    found.into()
}

/// Rate limit of stateless resets.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResetConfig {
    /// Resets that may go out back to back. Default 32.
    pub burst: u32,
    /// Sustained resets per second. Default 64: enough to reset every client of a restarted
    /// server within seconds (each client also retries), small enough that a flood of garbage
    /// data packets cannot turn the server into a traffic source.
    pub per_second: u32,
}

impl Default for ResetConfig {
    fn default() -> Self {
        ResetConfig {
            burst: 32,
            per_second: 64,
        }
    }
}

/// Counters of the reset signer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResetStats {
    /// Resets produced.
    pub sent: u64,
    /// Triggers refused by the rate limit.
    pub rate_limited: u64,
    /// Triggers that were not data-shaped, or too small for a reset smaller than them.
    pub not_eligible: u64,
}

/// Produces rate-limited stateless resets for data packets of unknown sessions (server side).
pub struct ResetSigner {
    macs: Vec<HmacSha256>,
    config: ResetConfig,
    /// Available tokens in millionths of a token.
    bucket_micros: u64,
    last_refill: Instant,
    stats: ResetStats,
}

impl std::fmt::Debug for ResetSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResetSigner")
            .field("keys", &self.macs.len())
            .field("config", &self.config)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl ResetSigner {
    /// A signer for the first [`MAX_RESET_TOKENS`] keys of `keys`, with a full bucket at `now`.
    pub fn new(keys: &KeySet, config: ResetConfig, now: Instant) -> Self {
        let macs = keys
            .keys()
            .iter()
            .take(MAX_RESET_TOKENS)
            .map(|k| PskSecrets::new(k).reset_mac)
            .collect();
        let bucket_micros = u64::from(config.burst) * MICROS_PER_TOKEN;
        ResetSigner {
            macs,
            config,
            bucket_micros,
            last_refill: now,
            stats: ResetStats::default(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> &ResetStats {
        &self.stats
    }

    /// Writes a reset answering `trigger` (a data packet whose session id is unknown) into `out`
    /// and returns its length, or `None` if the trigger is not eligible, the rate limit says no,
    /// or `out` cannot hold even one token. The reset is always shorter than `trigger`.
    pub fn reset_for(&mut self, now: Instant, trigger: &[u8], out: &mut [u8]) -> Option<usize> {
        let Some(session_id) = peek_session_id(trigger) else {
            self.stats.not_eligible += 1;
            return None;
        };
        let fit_trigger = (trigger.len() - 1).saturating_sub(RESET_HEADER_LEN) / RESET_TOKEN_LEN;
        let fit_out = out.len().saturating_sub(RESET_HEADER_LEN) / RESET_TOKEN_LEN;
        let n = self.macs.len().min(fit_trigger).min(fit_out);
        if n == 0 {
            self.stats.not_eligible += 1;
            return None;
        }
        if !self.take_token(now) {
            self.stats.rate_limited += 1;
            return None;
        }
        out[0] = TYPE_RESET;
        out[1..RESET_HEADER_LEN].copy_from_slice(&session_id.0);
        for (i, mac) in self.macs.iter().take(n).enumerate() {
            let start = RESET_HEADER_LEN + i * RESET_TOKEN_LEN;
            out[start..start + RESET_TOKEN_LEN].copy_from_slice(&reset_token(mac, session_id));
        }
        self.stats.sent += 1;
        Some(RESET_HEADER_LEN + n * RESET_TOKEN_LEN)
    }

    fn take_token(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last_refill);
        self.last_refill = self.last_refill.max(now);
        let cap = u64::from(self.config.burst) * MICROS_PER_TOKEN;
        let refill = micros(elapsed).saturating_mul(u64::from(self.config.per_second));
        self.bucket_micros = self.bucket_micros.saturating_add(refill).min(cap);
        if self.bucket_micros >= MICROS_PER_TOKEN {
            self.bucket_micros -= MICROS_PER_TOKEN;
            true
        } else {
            false
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::key::Key;
    use crate::crypto::wire::{DATA_OVERHEAD, TYPE_DATA};

    fn trigger(len: usize, sid: [u8; 8]) -> Vec<u8> {
        let mut t = vec![0x5a; len];
        t[0] = TYPE_DATA;
        t[1..9].copy_from_slice(&sid);
        t
    }

    fn keys(n: u8) -> KeySet {
        KeySet::from_keys((1..=n).map(|i| Key::from_bytes([i; 32])).collect(), "t").unwrap()
    }

    #[test]
    fn reset_is_smaller_than_trigger_and_recognised_by_each_key() {
        let set = keys(3);
        let mut signer = ResetSigner::new(&set, ResetConfig::default(), Instant::ZERO);
        let sid = SessionId([7; 8]);
        let mut out = [0u8; 128];
        for len in [DATA_OVERHEAD, 41, 42, 57, 58, 100, 1400] {
            let n = signer
                .reset_for(Instant::ZERO, &trigger(len, sid.0), &mut out)
                .unwrap();
            assert!(n < len, "reset {n} >= trigger {len}");
            assert_eq!((n - RESET_HEADER_LEN) % RESET_TOKEN_LEN, 0);
            let tokens = (n - RESET_HEADER_LEN) / RESET_TOKEN_LEN;
            assert_eq!(
                tokens,
                ((len - 1 - RESET_HEADER_LEN) / RESET_TOKEN_LEN).min(3)
            );
            for (i, key) in set.keys().iter().enumerate() {
                let token = reset_token(&PskSecrets::new(key).reset_mac, sid);
                assert_eq!(
                    matches_reset(&out[..n], sid, &token),
                    i < tokens,
                    "key {i} len {len}"
                );
            }
        }
        let stranger = reset_token(&PskSecrets::new(&Key::from_bytes([9; 32])).reset_mac, sid);
        let n = signer
            .reset_for(Instant::ZERO, &trigger(1400, sid.0), &mut out)
            .unwrap();
        assert!(!matches_reset(&out[..n], sid, &stranger));
        let own = reset_token(&PskSecrets::new(set.primary()).reset_mac, sid);
        assert!(
            !matches_reset(&out[..n], SessionId([8; 8]), &own),
            "other session id"
        );
        let mut flipped = out[..n].to_vec();
        flipped[RESET_HEADER_LEN] ^= 1;
        assert!(!matches_reset(&flipped, sid, &own));
    }

    #[test]
    fn only_data_shaped_triggers_are_answered() {
        let mut signer = ResetSigner::new(&keys(1), ResetConfig::default(), Instant::ZERO);
        let mut out = [0u8; 128];
        let mut not_data = trigger(200, [1; 8]);
        not_data[0] = TYPE_RESET;
        assert_eq!(signer.reset_for(Instant::ZERO, &not_data, &mut out), None);
        assert_eq!(
            signer.reset_for(Instant::ZERO, &trigger(DATA_OVERHEAD - 1, [1; 8]), &mut out),
            None
        );
        assert_eq!(
            signer.reset_for(Instant::ZERO, &trigger(200, [1; 8]), &mut out[..20]),
            None
        );
        assert_eq!(signer.stats().not_eligible, 3);
        assert_eq!(signer.stats().sent, 0);
    }

    #[test]
    fn rate_limit_is_a_token_bucket_over_now() {
        let config = ResetConfig {
            burst: 4,
            per_second: 10,
        };
        let mut signer = ResetSigner::new(&keys(1), config, Instant::ZERO);
        let mut out = [0u8; 64];
        let t = trigger(100, [3; 8]);
        let mut sent = 0;
        for _ in 0..10 {
            sent += usize::from(signer.reset_for(Instant::ZERO, &t, &mut out).is_some());
        }
        assert_eq!(sent, 4, "burst");
        assert_eq!(
            signer.reset_for(Instant::from_millis(50), &t, &mut out),
            None
        );
        assert!(
            signer
                .reset_for(Instant::from_millis(100), &t, &mut out)
                .is_some()
        );
        // Over 10 s at most burst + 10/s * 10 s resets go out, however many triggers arrive.
        let mut total = 0;
        for ms in (100..10_100).step_by(5) {
            total += usize::from(
                signer
                    .reset_for(Instant::from_millis(ms), &t, &mut out)
                    .is_some(),
            );
        }
        assert!((99..=100).contains(&total), "{total}");
        assert_eq!(
            signer.stats().rate_limited,
            10 - 4 + 1 + (2000 - total) as u64
        );
    }
}
