//! Per-session packet protection: seal and open data packets in place, replay window, rekey.
//!
//! ```text
//! data packet = type(1) || session id(8) || packet number(8, big-endian) || ciphertext || tag(16)
//! type        = 0x10 | key_phase
//! ciphertext  = AES-256-CTR(K_enc[phase], IV = iv_dir(4) || packet number(8) || counter(4) = 0, payload)
//! tag         = HMAC-SHA256(K_mac[phase], type || session id || packet number || ciphertext)[..16]
//! ```
//!
//! The CTR counter block is 16 bytes: a 4-byte per-direction IV prefix, the 8-byte packet number and
//! a 32-bit block counter starting at zero (`Ctr32BE`). Distinct packet numbers therefore give
//! disjoint counter ranges (no block of packet N's keystream equals one of packet N+1's), and a
//! packet number is used once per direction and key, so no counter block ever repeats under a key.
//!
//! Opening checks, in order and before decrypting or parsing anything: the type byte and length,
//! the session id, the replay window (read only), the key phase, and the tag in constant time.
//! Only then is the payload decrypted and the packet number committed to the replay window.
//!
//! Rekey: each direction's sender ratchets its own traffic secret after
//! [`ProtectionConfig::rekey_after_packets`] packets or [`ProtectionConfig::rekey_after_bytes`]
//! payload bytes and flips the key-phase bit. The receiver derives the next phase's keys when it
//! first sees the flipped bit on a packet number above the current phase's first one, promotes them
//! once a packet verifies under them, and keeps the previous phase's keys for
//! [`ProtectionConfig::old_keys_lifetime`] (the caller sets it to one RTO) before wiping them.
//! Packet numbers never wrap: once `u64::MAX - 1` has been used, [`PacketProtection::seal`] refuses
//! with [`SealError::PacketNumbersExhausted`] and the session must be replaced.

use std::ops::Range;
use std::time::Duration;

use ctr::cipher::{InnerIvInit, StreamCipherCore};
use kcpq_mac::{HmacKey, TagJob};
use subtle::ConstantTimeEq;

use super::key::Key;
use super::replay::{ReplayReject, ReplayWindow};
use super::reset::reset_token;
use super::schedule::{Aes256Ctr32, DirectionKeys, PskSecrets, Role, TrafficSecret};
use super::wire::{
    DATA_HEADER_LEN, DATA_OVERHEAD, KEY_PHASE_BIT, RANDOM_LEN, SESSION_ID_LEN, SessionId, TAG_LEN,
    TYPE_DATA,
};
use crate::Instant;

/// The last packet number a direction may use; sealing refuses after it.
pub const MAX_PACKET_NUMBER: u64 = u64::MAX - 1;
/// Smallest accepted rekey interval in packets: a receiver must see a phase before the next flip,
/// so the interval is kept well above anything in flight (twice the replay window).
pub const MIN_REKEY_PACKETS: u64 = 4096;

/// Tunables of a session's packet protection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProtectionConfig {
    /// Rekey after this many packets in one key phase. Default 2^30: with AES-256-CTR and a
    /// 16-byte HMAC-SHA256 tag no limit is near, this just bounds how much one key ever protects.
    /// Values below [`MIN_REKEY_PACKETS`] are raised to it.
    pub rekey_after_packets: u64,
    /// Rekey after this many payload bytes in one key phase. Default 2^40 (1 TiB).
    pub rekey_after_bytes: u64,
    /// How long the previous phase's receive keys stay usable after a rekey. Default 1 s; the
    /// session layer sets it to its current RTO with [`PacketProtection::set_old_keys_lifetime`].
    pub old_keys_lifetime: Duration,
}

impl Default for ProtectionConfig {
    fn default() -> Self {
        ProtectionConfig {
            rekey_after_packets: 1 << 30,
            rekey_after_bytes: 1 << 40,
            old_keys_lifetime: Duration::from_secs(1),
        }
    }
}

/// Why a received datagram was dropped by [`PacketProtection::open`]. Network input, not an API
/// error: the caller counts it (so does [`ProtectionStats`]) and moves on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenDrop {
    /// Not a data packet (type byte) or shorter than [`DATA_OVERHEAD`]. May be a stateless reset:
    /// see [`PacketProtection::is_stateless_reset`].
    NotData,
    /// A data packet for another session id.
    WrongSession,
    /// The packet number was already received.
    Duplicate,
    /// The packet number is older than the replay window.
    TooOld,
    /// Sent under a key phase whose keys are gone (the previous phase after its lifetime).
    NoKeys,
    /// The tag did not verify: forged, corrupted, or sent under another key.
    BadTag,
}

/// A verified, decrypted packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// Where the plaintext payload lies in the buffer passed to [`PacketProtection::open`].
    pub payload: Range<usize>,
    /// The packet's number.
    pub packet_number: u64,
    /// Whether this is the highest packet number received so far in this direction: only such a
    /// packet may update the peer's address.
    pub is_highest: bool,
}

/// API misuse when sealing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The buffer cannot hold header, payload and tag.
    #[error("buffer of {available} bytes is too small for a sealed packet of {needed} bytes")]
    BufferTooSmall {
        /// Bytes the sealed packet needs.
        needed: usize,
        /// Bytes the buffer has.
        available: usize,
    },
    /// Every packet number of this direction has been used; open a new session.
    #[error("all 2^64 - 1 packet numbers of this session are used up; open a new session")]
    PacketNumbersExhausted,
}

/// Counters of one session's packet protection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProtectionStats {
    /// Packets sealed.
    pub sealed_packets: u64,
    /// Payload bytes sealed.
    pub sealed_bytes: u64,
    /// Packets opened successfully.
    pub opened_packets: u64,
    /// Payload bytes opened.
    pub opened_bytes: u64,
    /// Dropped: not a data packet or too short.
    pub dropped_not_data: u64,
    /// Dropped: another session's id.
    pub dropped_wrong_session: u64,
    /// Dropped: duplicate packet number.
    pub dropped_duplicate: u64,
    /// Dropped: older than the replay window.
    pub dropped_too_old: u64,
    /// Dropped: key phase without keys.
    pub dropped_no_keys: u64,
    /// Dropped: tag mismatch.
    pub dropped_bad_tag: u64,
    /// Send-side key updates performed.
    pub rekeys_sent: u64,
    /// Receive-side key updates followed.
    pub rekeys_received: u64,
    /// Valid stateless resets recognised for this session.
    pub resets_recognised: u64,
}

struct SendDirection {
    secret: TrafficSecret,
    keys: DirectionKeys,
    phase: u8,
    next_pn: u64,
    phase_packets: u64,
    phase_bytes: u64,
}

struct PreviousKeys {
    keys: DirectionKeys,
    expires: Instant,
}

struct RecvDirection {
    secret: TrafficSecret,
    keys: DirectionKeys,
    phase: u8,
    /// Lowest packet number received under the current phase (0 for the first phase).
    phase_first_pn: u64,
    /// Boxed, like `next`: they exist only around a rekey, and sessions are many.
    previous: Option<Box<PreviousKeys>>,
    /// The next phase's secret and keys, derived on first need and kept until promoted.
    next: Option<Box<(TrafficSecret, DirectionKeys)>>,
    window: ReplayWindow,
}

enum PhaseChoice {
    Current,
    Previous,
    Next,
}

/// Packet protection of one established session: seal outgoing and open incoming data packets.
pub struct PacketProtection {
    session_id: SessionId,
    config: ProtectionConfig,
    send: SendDirection,
    recv: RecvDirection,
    reset_token: [u8; TAG_LEN],
    stats: ProtectionStats,
}

impl std::fmt::Debug for PacketProtection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacketProtection")
            .field("session_id", &self.session_id)
            .field("send_phase", &self.send.phase)
            .field("next_packet_number", &self.send.next_pn)
            .field("recv_phase", &self.recv.phase)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl PacketProtection {
    /// The protection of one end of a session, from the values its handshake agreed on.
    /// Sessions normally come out of [`super::HandshakeInitiator`] and [`super::HandshakeResponder`];
    /// this is public so tests, benchmarks and other transports can build a pair directly.
    pub fn from_handshake(
        role: Role,
        key: &Key,
        client_random: &[u8; RANDOM_LEN],
        server_random: &[u8; RANDOM_LEN],
        session_id: SessionId,
        config: ProtectionConfig,
    ) -> Self {
        Self::new(
            role,
            &PskSecrets::new(key),
            client_random,
            server_random,
            session_id,
            config,
        )
    }

    pub(crate) fn new(
        role: Role,
        psk: &PskSecrets,
        client_random: &[u8; RANDOM_LEN],
        server_random: &[u8; RANDOM_LEN],
        session_id: SessionId,
        mut config: ProtectionConfig,
    ) -> Self {
        config.rekey_after_packets = config.rekey_after_packets.max(MIN_REKEY_PACKETS);
        config.rekey_after_bytes = config.rekey_after_bytes.max(1);
        let (c2s, s2c) = psk.session_secrets(client_random, server_random, session_id);
        let (send_secret, recv_secret) = match role {
            Role::Initiator => (c2s, s2c),
            Role::Responder => (s2c, c2s),
        };
        let send_keys = send_secret.keys();
        let recv_keys = recv_secret.keys();
        PacketProtection {
            session_id,
            config,
            send: SendDirection {
                secret: send_secret,
                keys: send_keys,
                phase: 0,
                next_pn: 0,
                phase_packets: 0,
                phase_bytes: 0,
            },
            recv: RecvDirection {
                secret: recv_secret,
                keys: recv_keys,
                phase: 0,
                phase_first_pn: 0,
                previous: None,
                next: None,
                window: ReplayWindow::default(),
            },
            reset_token: reset_token(&psk.reset_mac, session_id),
            stats: ProtectionStats::default(),
        }
    }

    /// The session id this protection seals with and accepts.
    pub fn session_id(&self) -> SessionId {
        self.session_id
    }

    /// Counters.
    pub fn stats(&self) -> &ProtectionStats {
        &self.stats
    }

    /// The packet number the next sealed packet will carry.
    pub fn next_packet_number(&self) -> u64 {
        self.send.next_pn
    }

    /// The key phase (0 or 1) of the send direction.
    pub fn send_key_phase(&self) -> u8 {
        self.send.phase
    }

    /// Sets how long the previous key phase stays usable after a receive-side rekey (one RTO).
    pub fn set_old_keys_lifetime(&mut self, lifetime: Duration) {
        self.config.old_keys_lifetime = lifetime;
    }

    /// Ratchets the send keys now instead of waiting for the packet or byte limit.
    pub fn rekey_now(&mut self) {
        let send = &mut self.send;
        send.secret = send.secret.ratchet();
        send.keys = send.secret.keys();
        send.phase ^= KEY_PHASE_BIT;
        send.phase_packets = 0;
        send.phase_bytes = 0;
        self.stats.rekeys_sent += 1;
    }

    /// Seals a packet in place. The caller has written `payload_len` bytes of plaintext at
    /// `buf[DATA_HEADER_LEN..]`; this writes the header before it, encrypts it, appends the tag and
    /// returns the packet's total length (`payload_len + DATA_OVERHEAD`).
    pub fn seal(&mut self, buf: &mut [u8], payload_len: usize) -> Result<usize, SealError> {
        Ok(self.seal_untagged(buf, payload_len)?.finish(buf))
    }

    /// [`PacketProtection::seal`] but for the tag: the packet number is taken and the payload
    /// encrypted; [`UntaggedPacket::finish`] or [`finish_all`] (several packets at once) then
    /// writes the tag. A packet never finished is never sent: its number is simply skipped.
    pub(crate) fn seal_untagged(
        &mut self,
        buf: &mut [u8],
        payload_len: usize,
    ) -> Result<UntaggedPacket, SealError> {
        let needed = payload_len.saturating_add(DATA_OVERHEAD);
        if buf.len() < needed {
            return Err(SealError::BufferTooSmall {
                needed,
                available: buf.len(),
            });
        }
        if self.send.next_pn > MAX_PACKET_NUMBER {
            return Err(SealError::PacketNumbersExhausted);
        }
        if self.send.phase_packets >= self.config.rekey_after_packets
            || self.send.phase_bytes >= self.config.rekey_after_bytes
        {
            self.rekey_now();
        }
        let send = &mut self.send;
        let pn = send.next_pn;
        buf[0] = TYPE_DATA | send.phase;
        buf[1..1 + SESSION_ID_LEN].copy_from_slice(&self.session_id.0);
        buf[1 + SESSION_ID_LEN..DATA_HEADER_LEN].copy_from_slice(&pn.to_be_bytes());
        let body_end = DATA_HEADER_LEN + payload_len;
        apply_keystream(&send.keys, pn, &mut buf[DATA_HEADER_LEN..body_end]);

        send.next_pn += 1;
        send.phase_packets += 1;
        send.phase_bytes = send.phase_bytes.saturating_add(payload_len as u64);
        self.stats.sealed_packets += 1;
        self.stats.sealed_bytes += payload_len as u64;
        Ok(UntaggedPacket {
            mac: send.keys.mac.clone(),
            body_end,
        })
    }

    /// Verifies and decrypts a data packet in place. On success the plaintext is at
    /// `buf[opened.payload]`; on failure nothing was decrypted and the drop is counted.
    pub fn open(&mut self, now: Instant, buf: &mut [u8]) -> Result<Opened, OpenDrop> {
        self.open_with(now, buf, None)
    }

    /// [`PacketProtection::open`], with the tag computed ahead for this packet if it was (see
    /// [`PacketProtection::tag_job`]); it is used only if computed under the very key this
    /// open selects, else the tag is computed here.
    pub(crate) fn open_with(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        precomputed: Option<&PrecomputedTag>,
    ) -> Result<Opened, OpenDrop> {
        self.expire_previous(now);
        let result = self.open_inner(now, buf, precomputed);
        if let Err(drop) = result {
            let counter = match drop {
                OpenDrop::NotData => &mut self.stats.dropped_not_data,
                OpenDrop::WrongSession => &mut self.stats.dropped_wrong_session,
                OpenDrop::Duplicate => &mut self.stats.dropped_duplicate,
                OpenDrop::TooOld => &mut self.stats.dropped_too_old,
                OpenDrop::NoKeys => &mut self.stats.dropped_no_keys,
                OpenDrop::BadTag => &mut self.stats.dropped_bad_tag,
            };
            *counter += 1;
        }
        result
    }

    /// What computing the tag of `buf`, a data packet for this session, takes if it is opened
    /// now: the key its phase selects and the bytes the tag covers. `None` when that key is not
    /// derived yet or `buf` is not such a packet; nothing changes either way. A receiver that
    /// holds several packets computes their tags together ([`kcpq_mac::tag_all`]) and passes
    /// each to [`PacketProtection::open_with`].
    pub(crate) fn tag_job<'a>(&'a self, buf: &'a [u8]) -> Option<TagJob<'a>> {
        if buf.len() < DATA_OVERHEAD
            || buf[0] & !KEY_PHASE_BIT != TYPE_DATA
            || buf[1..1 + SESSION_ID_LEN] != self.session_id.0
        {
            return None;
        }
        let mut pn_bytes = [0u8; 8];
        pn_bytes.copy_from_slice(&buf[1 + SESSION_ID_LEN..DATA_HEADER_LEN]);
        let pn = u64::from_be_bytes(pn_bytes);
        let recv = &self.recv;
        let keys = match self.phase_choice(buf[0] & KEY_PHASE_BIT, pn) {
            PhaseChoice::Current => &recv.keys,
            PhaseChoice::Previous => &recv.previous.as_ref()?.keys,
            PhaseChoice::Next => &recv.next.as_ref()?.1,
        };
        Some(TagJob {
            key: &keys.mac,
            message: &buf[..buf.len() - TAG_LEN],
        })
    }

    /// Which receive keys a packet of key phase `phase` and number `pn` is opened with.
    fn phase_choice(&self, phase: u8, pn: u64) -> PhaseChoice {
        if phase == self.recv.phase {
            PhaseChoice::Current
        } else if pn < self.recv.phase_first_pn {
            PhaseChoice::Previous
        } else {
            PhaseChoice::Next
        }
    }

    fn open_inner(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        precomputed: Option<&PrecomputedTag>,
    ) -> Result<Opened, OpenDrop> {
        if buf.len() < DATA_OVERHEAD || buf[0] & !KEY_PHASE_BIT != TYPE_DATA {
            return Err(OpenDrop::NotData);
        }
        if buf[1..1 + SESSION_ID_LEN] != self.session_id.0 {
            return Err(OpenDrop::WrongSession);
        }
        let mut pn_bytes = [0u8; 8];
        pn_bytes.copy_from_slice(&buf[1 + SESSION_ID_LEN..DATA_HEADER_LEN]);
        let pn = u64::from_be_bytes(pn_bytes);
        self.recv.window.check(pn).map_err(|r| match r {
            ReplayReject::Duplicate => OpenDrop::Duplicate,
            ReplayReject::TooOld => OpenDrop::TooOld,
        })?;

        let choice = self.phase_choice(buf[0] & KEY_PHASE_BIT, pn);
        let recv = &mut self.recv;
        let keys = match choice {
            PhaseChoice::Current => &recv.keys,
            PhaseChoice::Previous => match &recv.previous {
                Some(prev) => &prev.keys,
                None => return Err(OpenDrop::NoKeys),
            },
            PhaseChoice::Next => {
                let next = recv.next.get_or_insert_with(|| {
                    let secret = recv.secret.ratchet();
                    let keys = secret.keys();
                    Box::new((secret, keys))
                });
                &next.1
            }
        };

        let tag_start = buf.len() - TAG_LEN;
        let tag = match precomputed {
            // Computed over these same bytes (untouched since) under this same key.
            Some(p) if p.key == keys.mac => p.tag,
            _ => keys.mac.tag(&buf[..tag_start]),
        };
        if !bool::from(tag[..TAG_LEN].ct_eq(&buf[tag_start..])) {
            return Err(OpenDrop::BadTag);
        }
        apply_keystream(keys, pn, &mut buf[DATA_HEADER_LEN..tag_start]);

        if let PhaseChoice::Next = choice {
            self.promote_next(now, pn);
        }
        let is_highest = self.recv.window.commit(pn);
        self.stats.opened_packets += 1;
        self.stats.opened_bytes += (tag_start - DATA_HEADER_LEN) as u64;
        Ok(Opened {
            payload: DATA_HEADER_LEN..tag_start,
            packet_number: pn,
            is_highest,
        })
    }

    fn promote_next(&mut self, now: Instant, first_pn: u64) {
        let recv = &mut self.recv;
        let (secret, keys) = *recv
            .next
            .take()
            .expect("promote_next is called after using next keys");
        let old_keys = std::mem::replace(&mut recv.keys, keys);
        recv.secret = secret;
        recv.phase ^= KEY_PHASE_BIT;
        recv.phase_first_pn = first_pn;
        recv.previous = Some(Box::new(PreviousKeys {
            keys: old_keys,
            expires: now + self.config.old_keys_lifetime,
        }));
        self.stats.rekeys_received += 1;
    }

    fn expire_previous(&mut self, now: Instant) {
        if self
            .recv
            .previous
            .as_ref()
            .is_some_and(|p| now >= p.expires)
        {
            self.recv.previous = None;
        }
    }

    /// When the previous phase's keys expire, if any are kept: the caller calls
    /// [`PacketProtection::handle_timeout`] then to wipe them.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.recv.previous.as_ref().map(|p| p.expires)
    }

    /// Wipes expired keys. Safe to call at any time.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.expire_previous(now);
    }

    /// Whether `datagram` is a valid stateless reset for this session (the server lost it):
    /// the caller then drops the session and reconnects at once.
    pub fn is_stateless_reset(&mut self, datagram: &[u8]) -> bool {
        let hit = super::reset::matches_reset(datagram, self.session_id, &self.reset_token);
        if hit {
            self.stats.resets_recognised += 1;
        }
        hit
    }
}

/// A received packet's tag computed ahead, in a batch, with the key it was computed under.
pub(crate) struct PrecomputedTag {
    /// The key [`PacketProtection::tag_job`] selected.
    pub(crate) key: HmacKey,
    /// The full HMAC of the packet's bytes before the tag.
    pub(crate) tag: [u8; kcpq_mac::TAG_LEN],
}

/// A sealed packet still without its tag ([`PacketProtection::seal_untagged`]). It holds a copy
/// of its MAC key, so packets of several sessions can be tagged together.
#[must_use = "an untagged packet must be finished before it is sent"]
pub(crate) struct UntaggedPacket {
    mac: HmacKey,
    body_end: usize,
}

impl UntaggedPacket {
    /// The packet's length once tagged.
    pub(crate) fn len(&self) -> usize {
        self.body_end + TAG_LEN
    }

    /// Writes the tag at the end of `buf`, the buffer the packet was sealed in; returns the
    /// packet's length.
    pub(crate) fn finish(self, buf: &mut [u8]) -> usize {
        let tag = self.mac.tag(&buf[..self.body_end]);
        buf[self.body_end..self.len()].copy_from_slice(&tag[..TAG_LEN]);
        self.len()
    }
}

/// Writes the tags of several packets at once: `packets[0]` was sealed in `first`, the others
/// in `rest` in order. With the SHA extensions or AVX-512, several tags cost much less than
/// one by one ([`kcpq_mac::tag_all`]).
///
/// # Panics
/// If more than [`kcpq_mac::BATCH`] packets are given, or fewer buffers than packets (bugs).
pub(crate) fn finish_all(packets: &[UntaggedPacket], first: &mut [u8], rest: &mut [Vec<u8>]) {
    const BATCH: usize = kcpq_mac::BATCH;
    let n = packets.len();
    assert!(n <= BATCH && rest.len() + 1 >= n, "finish_all: {n} packets");
    if n == 0 {
        return;
    }
    let mut tags = [[0u8; kcpq_mac::TAG_LEN]; BATCH];
    {
        let message = |i: usize| -> &[u8] {
            let end = packets[i].body_end;
            if i == 0 {
                &first[..end]
            } else {
                &rest[i - 1][..end]
            }
        };
        // Places past `n` repeat the last job; only the first `n` are tagged.
        let jobs: [TagJob<'_>; BATCH] = std::array::from_fn(|i| {
            let i = i.min(n - 1);
            TagJob {
                key: &packets[i].mac,
                message: message(i),
            }
        });
        kcpq_mac::tag_all(&jobs[..n], &mut tags[..n]);
    }
    for (i, (p, tag)) in packets.iter().zip(&tags).enumerate() {
        let buf = if i == 0 {
            &mut *first
        } else {
            &mut rest[i - 1][..]
        };
        buf[p.body_end..p.len()].copy_from_slice(&tag[..TAG_LEN]);
    }
}

/// XORs `data` with the keystream of packet `pn`: counter block = iv(4) || pn(8) || 0u32.
fn apply_keystream(keys: &DirectionKeys, pn: u64, data: &mut [u8]) {
    let mut block = [0u8; 16];
    block[..4].copy_from_slice(&keys.iv);
    block[4..12].copy_from_slice(&pn.to_be_bytes());
    let core = Aes256Ctr32::inner_iv_init(keys.aes.clone(), &block.into());
    core.apply_keystream_partial(data.into());
}

#[cfg(test)]
#[path = "packet_tests.rs"]
mod tests;
