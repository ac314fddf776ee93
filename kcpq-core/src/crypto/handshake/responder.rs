//! The server side of the handshake: stateless cookies, the bounded half-open table, session
//! establishment on the first verified data packet, and stateless resets.
//!
//! The server calls [`HandshakeResponder::handle`] for every handshake datagram and sends the
//! reply it writes (if any) back to the sender; for a data packet whose session id it does not
//! know it calls [`HandshakeResponder::try_establish`], and if that says
//! [`EstablishDrop::UnknownSession`], [`HandshakeResponder::stateless_reset`].
//!
//! Every reply is no larger than the datagram it answers: a Cookie (70 bytes) answers an
//! Initiation of at least 128 bytes, an Accept (42 bytes) a Finish (102 bytes), a reset is
//! strictly smaller than its trigger. Nothing is stored for a sender until its Finish carries a
//! valid proof of the key over a cookie bound to its address:port.

use std::net::SocketAddr;
use std::time::Duration;

use subtle::ConstantTimeEq;

use super::cookie::{COOKIE_ROTATION, CookieJar, CookieMaster};
use super::half_open::{Full, HalfOpen, HalfOpenTable};
use super::messages::{ACCEPT_LEN, COOKIE_LEN, Hello, Message, ParseError};
use super::{BufferTooSmall, EstablishedSession};
use crate::Instant;
use crate::crypto::key::{KeyId, KeySet};
use crate::crypto::packet::{OpenDrop, Opened, PacketProtection, ProtectionConfig};
use crate::crypto::reset::{ResetConfig, ResetSigner, ResetStats};
use crate::crypto::schedule::{PskSecrets, Role};
use crate::crypto::wire::{SessionId, peek_session_id};
use crate::rng::Rng;

/// The largest reply [`HandshakeResponder::handle`] writes: `out` must hold this many bytes.
pub const MAX_RESPONDER_REPLY_LEN: usize = if COOKIE_LEN > ACCEPT_LEN {
    COOKIE_LEN
} else {
    ACCEPT_LEN
};

/// Responder tunables.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResponderConfig {
    /// Most half-open sessions at once. Default 4096: a burst of 4096 simultaneous connects
    /// (each entry about 3 KB, so at most ~12 MB) while a server holds 20 000 sessions.
    pub max_half_open: usize,
    /// Most half-open sessions per client address:port. Default 4: a client handshakes once per
    /// port; a few allow for retries after a lost Accept. Not per IP, so 10 000 clients behind
    /// one address (or a benchmark on 127.0.0.1) are fine.
    pub max_half_open_per_addr: usize,
    /// How long a half-open session waits for its first data packet. Default 10 s, the default
    /// connect timeout: after that the client has given up anyway.
    pub half_open_lifetime: Duration,
    /// Cookie secret rotation period. Default 120 s: a cookie stays valid 120 to 240 s.
    pub cookie_rotation: Duration,
    /// Packet protection settings of the sessions this responder creates.
    pub protection: ProtectionConfig,
    /// Rate limit of stateless resets.
    pub reset: ResetConfig,
}

impl Default for ResponderConfig {
    fn default() -> Self {
        ResponderConfig {
            max_half_open: 4096,
            max_half_open_per_addr: 4,
            half_open_lifetime: Duration::from_secs(10),
            cookie_rotation: COOKIE_ROTATION,
            protection: ProtectionConfig::default(),
            reset: ResetConfig::default(),
        }
    }
}

/// Responder counters. Every dropped datagram increments exactly one `dropped_*`/`refused_*`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResponderStats {
    /// Datagrams passed to `handle`.
    pub received_packets: u64,
    /// Bytes passed to `handle`.
    pub received_bytes: u64,
    /// Replies to senders that have not proved the key (Cookies).
    pub unproven_replies: u64,
    /// Bytes of those replies.
    pub unproven_reply_bytes: u64,
    /// Accepts sent for new half-open sessions.
    pub accepts_sent: u64,
    /// Accepts resent for retransmitted Finishes.
    pub accepts_resent: u64,
    /// Dropped: not a well-formed handshake message.
    pub dropped_malformed: u64,
    /// Dropped: another protocol version.
    pub dropped_version: u64,
    /// Dropped: a key id this responder does not hold (wrong key).
    pub dropped_unknown_key: u64,
    /// Dropped: a Cookie or Accept (server-to-client messages) sent to the responder.
    pub dropped_unexpected: u64,
    /// Dropped: Finish with a cookie not issued to this address (or expired).
    pub dropped_bad_cookie: u64,
    /// Dropped: Finish whose proof does not verify, or conflicts with a half-open entry.
    pub dropped_bad_proof: u64,
    /// Refused: the half-open table is full.
    pub refused_table_full: u64,
    /// Refused: the sender's address:port has its maximum of half-open sessions.
    pub refused_address_full: u64,
    /// Half-open sessions created.
    pub half_open_created: u64,
    /// Half-open sessions that expired without a data packet.
    pub half_open_expired: u64,
    /// Sessions established (first data packet verified).
    pub established: u64,
    /// `try_establish` calls for a session id that is not half-open.
    pub establish_unknown: u64,
    /// `try_establish` calls whose packet did not verify.
    pub establish_dropped: u64,
}

/// Why [`HandshakeResponder::try_establish`] established nothing (network input; count it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EstablishDrop {
    /// Not a data packet.
    NotData,
    /// No half-open session has this id: the caller may answer with a stateless reset.
    UnknownSession,
    /// The half-open session exists but the packet did not open; the entry stays.
    Packet(OpenDrop),
}

/// The server side of the KCPQ handshake (sans-IO).
pub struct HandshakeResponder {
    keys: Vec<PskSecrets>,
    rng: Rng,
    cookies: CookieJar,
    table: HalfOpenTable,
    resets: ResetSigner,
    config: ResponderConfig,
    stats: ResponderStats,
    id_space: SessionIdSpace,
}

/// Which session ids a responder hands out: those whose first byte is `index` modulo `count`,
/// so that the worker owning a session can be read from any of its datagrams. One responder
/// alone uses the whole space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionIdSpace {
    /// This responder's share, below `count`.
    pub index: u8,
    /// How many responders share the space (1 to 255).
    pub count: u8,
}

impl SessionIdSpace {
    /// The whole space: one responder.
    pub const WHOLE: SessionIdSpace = SessionIdSpace { index: 0, count: 1 };

    /// The share that `id` belongs to.
    #[must_use]
    pub fn owner_of(self, id: SessionId) -> u8 {
        if self.count <= 1 {
            0
        } else {
            id.0[0] % self.count
        }
    }

    fn fit(self, mut id: SessionId) -> SessionId {
        if self.count > 1 {
            let count = u16::from(self.count);
            let fitted = u16::from(id.0[0]) / count * count + u16::from(self.index);
            // At the top of the byte range a whole stride may not fit: wrap to the first one.
            id.0[0] = u8::try_from(fitted).unwrap_or(self.index);
        }
        id
    }
}

impl std::fmt::Debug for HandshakeResponder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandshakeResponder")
            .field("keys", &self.keys.iter().map(|k| k.id).collect::<Vec<_>>())
            .field("half_open", &self.table.len())
            .field("config", &self.config)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl HandshakeResponder {
    /// A responder accepting every key of `keys`. `rng` supplies the cookie secrets and session
    /// ids; seed it from the OS in production and from a constant in tests.
    pub fn new(keys: &KeySet, mut rng: Rng, config: ResponderConfig, now: Instant) -> Self {
        let master = zeroize::Zeroizing::new(rng.bytes());
        Self::sharing(keys, rng, &master, SessionIdSpace::WHOLE, config, now)
    }

    /// A responder that is one of several sharing `cookie_master` (so each accepts the cookies
    /// the others issue) and the session id space (taking the ids of `id_space`). `rng` must
    /// differ per responder: it draws session ids.
    pub fn sharing(
        keys: &KeySet,
        rng: Rng,
        cookie_master: &[u8; 32],
        id_space: SessionIdSpace,
        config: ResponderConfig,
        now: Instant,
    ) -> Self {
        let master: CookieMaster = zeroize::Zeroizing::new(*cookie_master);
        let cookies = CookieJar::new(&master, now, config.cookie_rotation);
        HandshakeResponder {
            id_space,
            keys: keys.keys().iter().map(PskSecrets::new).collect(),
            rng,
            cookies,
            table: HalfOpenTable::new(config.max_half_open, config.max_half_open_per_addr),
            resets: ResetSigner::new(keys, config.reset.clone(), now),
            config,
            stats: ResponderStats::default(),
        }
    }

    /// The session ids this responder hands out.
    pub fn id_space(&self) -> SessionIdSpace {
        self.id_space
    }

    /// Counters.
    pub fn stats(&self) -> &ResponderStats {
        &self.stats
    }

    /// Counters of the stateless reset signer.
    pub fn reset_stats(&self) -> &ResetStats {
        self.resets.stats()
    }

    /// Number of half-open sessions.
    pub fn half_open_len(&self) -> usize {
        self.table.len()
    }

    /// Whether `session_id` is half-open here.
    pub fn is_half_open(&self, session_id: SessionId) -> bool {
        self.table.contains(session_id)
    }

    /// Handles one handshake datagram from `from`, writing the reply (if any) into `out` and
    /// returning its length; the caller sends `out[..len]` to `from`. Bad input is dropped and
    /// counted. Errs only if `out` is shorter than [`MAX_RESPONDER_REPLY_LEN`].
    pub fn handle(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &[u8],
        out: &mut [u8],
    ) -> Result<Option<usize>, BufferTooSmall> {
        if out.len() < MAX_RESPONDER_REPLY_LEN {
            return Err(BufferTooSmall {
                needed: MAX_RESPONDER_REPLY_LEN,
                available: out.len(),
            });
        }
        self.handle_timeout(now);
        self.stats.received_packets += 1;
        self.stats.received_bytes += datagram.len() as u64;
        let reply = match Message::parse(datagram) {
            Err(ParseError::Malformed) => {
                self.stats.dropped_malformed += 1;
                None
            }
            Err(ParseError::Version) => {
                self.stats.dropped_version += 1;
                None
            }
            Ok(Message::Initiation {
                key_id,
                client_random,
            }) => self.on_initiation(from, key_id, &client_random, out),
            Ok(Message::Finish {
                hello,
                client_proof,
            }) => self.on_finish(now, from, &hello, &client_proof, out),
            Ok(Message::Cookie(_) | Message::Accept { .. }) => {
                self.stats.dropped_unexpected += 1;
                None
            }
        };
        debug_assert!(
            reply.is_none_or(|n| n <= datagram.len()),
            "anti-amplification"
        );
        Ok(reply)
    }

    fn key_index(&self, id: KeyId) -> Option<usize> {
        self.keys.iter().position(|k| k.id == id)
    }

    fn on_initiation(
        &mut self,
        from: SocketAddr,
        key_id: KeyId,
        client_random: &[u8; 32],
        out: &mut [u8],
    ) -> Option<usize> {
        if self.key_index(key_id).is_none() {
            self.stats.dropped_unknown_key += 1;
            return None;
        }
        let server_random = self.cookies.server_random(from, key_id, client_random);
        let hello = Hello {
            key_id,
            client_random: *client_random,
            server_random,
        };
        let len = Message::Cookie(hello).write(out);
        self.stats.unproven_replies += 1;
        self.stats.unproven_reply_bytes += len as u64;
        Some(len)
    }

    fn on_finish(
        &mut self,
        now: Instant,
        from: SocketAddr,
        hello: &Hello,
        client_proof: &[u8; 32],
        out: &mut [u8],
    ) -> Option<usize> {
        let Some(index) = self.key_index(hello.key_id) else {
            self.stats.dropped_unknown_key += 1;
            return None;
        };
        if let Some(entry) = self.table.find_by_client(from, &hello.client_random) {
            // A retransmitted Finish maps to its half-open entry and gets the same Accept.
            if entry.hello == *hello && bool::from(entry.client_proof.ct_eq(client_proof)) {
                out[..ACCEPT_LEN].copy_from_slice(&entry.accept);
                self.stats.accepts_resent += 1;
                return Some(ACCEPT_LEN);
            }
            self.stats.dropped_bad_proof += 1;
            return None;
        }
        if !self.cookies.verify(
            from,
            hello.key_id,
            &hello.client_random,
            &hello.server_random,
        ) {
            self.stats.dropped_bad_cookie += 1;
            return None;
        }
        let psk = &self.keys[index];
        let expected = hello.client_proof(&psk.handshake_mac);
        if !bool::from(expected.ct_eq(client_proof)) {
            self.stats.dropped_bad_proof += 1;
            return None;
        }
        match self.table.check_room(from) {
            Err(Full::Global) => {
                self.stats.refused_table_full += 1;
                return None;
            }
            Err(Full::PerAddress) => {
                self.stats.refused_address_full += 1;
                return None;
            }
            Ok(()) => {}
        }
        let session_id = loop {
            let id = self.id_space.fit(SessionId(self.rng.bytes()));
            if !self.table.contains(id) {
                break id;
            }
        };
        let server_proof = hello.server_proof(&psk.handshake_mac, session_id, client_proof);
        let mut accept = [0u8; ACCEPT_LEN];
        Message::Accept {
            session_id,
            server_proof,
        }
        .write(&mut accept);
        let protection = PacketProtection::new(
            Role::Responder,
            psk,
            &hello.client_random,
            &hello.server_random,
            session_id,
            self.config.protection.clone(),
        );
        self.table.insert(
            session_id,
            HalfOpen {
                peer: from,
                hello: *hello,
                client_proof: *client_proof,
                accept,
                expires: now + self.config.half_open_lifetime,
                protection,
            },
        );
        self.stats.half_open_created += 1;
        self.stats.accepts_sent += 1;
        out[..ACCEPT_LEN].copy_from_slice(&accept);
        Some(ACCEPT_LEN)
    }

    /// Tries to establish a half-open session with its first data packet, opened in place. On
    /// success the session leaves the half-open table and the caller owns it; `Opened::payload`
    /// is the plaintext range in `datagram`. The session's peer is `from`.
    ///
    /// The caller must not already hold a session with the returned id (ids are 64 random bits;
    /// a server that finds a collision drops the new one).
    pub fn try_establish(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &mut [u8],
    ) -> Result<(EstablishedSession, Opened), EstablishDrop> {
        self.handle_timeout(now);
        let Some(session_id) = peek_session_id(datagram) else {
            self.stats.establish_dropped += 1;
            return Err(EstablishDrop::NotData);
        };
        let Some(entry) = self.table.get_mut(session_id) else {
            self.stats.establish_unknown += 1;
            return Err(EstablishDrop::UnknownSession);
        };
        let opened = match entry.protection.open(now, datagram) {
            Ok(opened) => opened,
            Err(drop) => {
                self.stats.establish_dropped += 1;
                return Err(EstablishDrop::Packet(drop));
            }
        };
        let entry = self
            .table
            .remove(session_id)
            .expect("the entry was found just above");
        self.stats.established += 1;
        let session = EstablishedSession {
            protection: entry.protection,
            session_id,
            peer: from,
            key_id: entry.hello.key_id,
        };
        Ok((session, opened))
    }

    /// Writes a stateless reset answering `trigger`, a data packet whose session id is neither
    /// established nor half-open, and returns its length (see [`ResetSigner::reset_for`]).
    pub fn stateless_reset(
        &mut self,
        now: Instant,
        trigger: &[u8],
        out: &mut [u8],
    ) -> Option<usize> {
        let id = peek_session_id(trigger)?;
        if self.table.contains(id) {
            return None;
        }
        self.resets.reset_for(now, trigger, out)
    }

    /// The next moment [`HandshakeResponder::handle_timeout`] has work: the earliest half-open
    /// expiry, or `None` with no half-open session (an idle responder sleeps).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.table.next_expiry()
    }

    /// Expires half-open sessions and rotates the cookie secret. Safe to call at any time.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.cookies.rotate(now);
        self.stats.half_open_expired += self.table.expire(now) as u64;
    }
}
