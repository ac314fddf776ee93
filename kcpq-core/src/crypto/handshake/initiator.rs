//! The client side of the handshake: Initiation, then Finish, each retransmitted on its own timer
//! (200 ms, doubling, at most 2 s apart by default) until the Accept arrives or the connect
//! deadline passes.
//!
//! Drain order (as everywhere in KCPQ): after [`HandshakeInitiator::new`], every
//! [`HandshakeInitiator::handle_datagram`] and every [`HandshakeInitiator::handle_timeout`], call
//! [`HandshakeInitiator::poll_transmit`] until `None`, then [`HandshakeInitiator::poll_outcome`],
//! then arm a timer for [`HandshakeInitiator::poll_timeout`].

use std::net::SocketAddr;
use std::time::Duration;

use super::messages::{FINISH_LEN, Hello, INITIATION_LEN, Message, PROOF_LEN};
use super::{BufferTooSmall, EstablishedSession, HandshakeError};
use crate::Instant;
use crate::crypto::key::KeySet;
use crate::crypto::packet::{PacketProtection, ProtectionConfig};
use crate::crypto::schedule::{PskSecrets, Role};
use crate::crypto::wire::RANDOM_LEN;
use crate::rng::Rng;
use subtle::ConstantTimeEq;

/// Initiator tunables.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InitiatorConfig {
    /// Give up after this long without an Accept. Default 10 s.
    pub connect_timeout: Duration,
    /// First retransmit interval; doubles after each retransmit. Default 200 ms.
    pub initial_retransmit: Duration,
    /// Largest retransmit interval. Default 2 s.
    pub max_retransmit: Duration,
    /// Packet protection settings of the session.
    pub protection: ProtectionConfig,
}

impl Default for InitiatorConfig {
    fn default() -> Self {
        InitiatorConfig {
            connect_timeout: Duration::from_secs(10),
            initial_retransmit: Duration::from_millis(200),
            max_retransmit: Duration::from_secs(2),
            protection: ProtectionConfig::default(),
        }
    }
}

/// Initiator counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct InitiatorStats {
    /// Handshake packets written by `poll_transmit`.
    pub sent_packets: u64,
    /// Of those, retransmissions.
    pub retransmits: u64,
    /// Dropped: not a well-formed handshake message or another version.
    pub dropped_malformed: u64,
    /// Dropped: a message that does not belong to this handshake or its current step
    /// (another client random or key id, a duplicate Cookie, a server-bound message).
    pub dropped_unexpected: u64,
    /// Dropped: an Accept whose server proof does not verify.
    pub dropped_bad_proof: u64,
}

/// How a handshake ended.
#[derive(Debug)]
#[non_exhaustive]
pub enum HandshakeOutcome {
    /// The server proved the key: the session is ready to send data (its first data packet
    /// establishes it on the server).
    Established(Box<EstablishedSession>),
    /// The deadline passed.
    Failed(HandshakeError),
}

enum Step {
    Initiation,
    Finish {
        hello: Hello,
        client_proof: [u8; PROOF_LEN],
    },
    Done,
}

/// The client side of the KCPQ handshake (sans-IO).
pub struct HandshakeInitiator {
    server: SocketAddr,
    psk: PskSecrets,
    client_random: [u8; RANDOM_LEN],
    step: Step,
    transmit_pending: bool,
    retransmit_at: Instant,
    interval: Duration,
    deadline: Instant,
    answered: bool,
    outcome: Option<HandshakeOutcome>,
    config: InitiatorConfig,
    stats: InitiatorStats,
}

impl std::fmt::Debug for HandshakeInitiator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandshakeInitiator")
            .field("server", &self.server)
            .field("key_id", &self.psk.id)
            .field("deadline", &self.deadline)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl HandshakeInitiator {
    /// Starts a handshake with `server` using the primary key of `keys`; the client random comes
    /// from `rng`. The first Initiation is ready for `poll_transmit` at once.
    pub fn new(
        now: Instant,
        server: SocketAddr,
        keys: &KeySet,
        rng: &mut Rng,
        config: InitiatorConfig,
    ) -> Self {
        HandshakeInitiator {
            server,
            psk: PskSecrets::new(keys.primary()),
            client_random: rng.bytes(),
            step: Step::Initiation,
            transmit_pending: true,
            retransmit_at: now,
            interval: config.initial_retransmit,
            deadline: now + config.connect_timeout,
            answered: false,
            outcome: None,
            config,
            stats: InitiatorStats::default(),
        }
    }

    /// The server this handshake talks to: every datagram `poll_transmit` writes goes there.
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// Counters.
    pub fn stats(&self) -> &InitiatorStats {
        &self.stats
    }

    /// Writes the next handshake datagram for the server into `buf`, if one is due, and returns
    /// its length. Errs only if `buf` is shorter than [`super::MAX_HANDSHAKE_LEN`].
    #[must_use = "a written datagram must be sent"]
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        buf: &mut [u8],
    ) -> Result<Option<usize>, BufferTooSmall> {
        if buf.len() < INITIATION_LEN {
            return Err(BufferTooSmall {
                needed: INITIATION_LEN,
                available: buf.len(),
            });
        }
        if !self.transmit_pending {
            return Ok(None);
        }
        let msg = match &self.step {
            Step::Initiation => Message::Initiation {
                key_id: self.psk.id,
                client_random: self.client_random,
            },
            Step::Finish {
                hello,
                client_proof,
            } => Message::Finish {
                hello: *hello,
                client_proof: *client_proof,
            },
            Step::Done => return Ok(None),
        };
        self.transmit_pending = false;
        self.retransmit_at = now + self.interval;
        self.stats.sent_packets += 1;
        Ok(Some(msg.write(buf)))
    }

    /// Handles a datagram from the server (the caller passes only datagrams from
    /// [`HandshakeInitiator::server`]). Anything unexpected is dropped and counted.
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        let Ok(msg) = Message::parse(datagram) else {
            self.stats.dropped_malformed += 1;
            return;
        };
        match (msg, &self.step) {
            (Message::Cookie(hello), Step::Initiation)
                if hello.key_id == self.psk.id && hello.client_random == self.client_random =>
            {
                self.answered = true;
                let client_proof = hello.client_proof(&self.psk.handshake_mac);
                self.step = Step::Finish {
                    hello,
                    client_proof,
                };
                self.transmit_pending = true;
                self.interval = self.config.initial_retransmit;
                self.retransmit_at = now;
            }
            (
                Message::Accept {
                    session_id,
                    server_proof,
                },
                Step::Finish {
                    hello,
                    client_proof,
                },
            ) => {
                let expected =
                    hello.server_proof(&self.psk.handshake_mac, session_id, client_proof);
                if !bool::from(expected.ct_eq(&server_proof)) {
                    self.stats.dropped_bad_proof += 1;
                    return;
                }
                let protection = PacketProtection::new(
                    Role::Initiator,
                    &self.psk,
                    &hello.client_random,
                    &hello.server_random,
                    session_id,
                    self.config.protection.clone(),
                );
                let session = EstablishedSession {
                    protection,
                    session_id,
                    peer: self.server,
                    key_id: self.psk.id,
                };
                self.finish(HandshakeOutcome::Established(Box::new(session)));
            }
            _ => self.stats.dropped_unexpected += 1,
        }
    }

    /// The next moment [`HandshakeInitiator::handle_timeout`] must be called: the earlier of the
    /// retransmit timer and the deadline; `None` once the handshake ended.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.step {
            Step::Done => None,
            _ => Some(self.retransmit_at.min(self.deadline)),
        }
    }

    /// Retransmits or gives up, as due. Safe to call at any time.
    pub fn handle_timeout(&mut self, now: Instant) {
        if matches!(self.step, Step::Done) {
            return;
        }
        if now >= self.deadline {
            let error = if self.answered {
                HandshakeError::NotAccepted {
                    server: self.server,
                }
            } else {
                HandshakeError::KeyMismatchOrNoServer {
                    server: self.server,
                }
            };
            self.finish(HandshakeOutcome::Failed(error));
            return;
        }
        if now >= self.retransmit_at && !self.transmit_pending {
            self.transmit_pending = true;
            self.stats.retransmits += 1;
            self.interval = self
                .interval
                .saturating_mul(2)
                .min(self.config.max_retransmit);
        }
    }

    /// The outcome, once: `Some` exactly one time after the handshake ended.
    #[must_use]
    pub fn poll_outcome(&mut self) -> Option<HandshakeOutcome> {
        self.outcome.take()
    }

    /// Whether the handshake has ended (its outcome may already have been taken).
    pub fn is_done(&self) -> bool {
        matches!(self.step, Step::Done)
    }

    fn finish(&mut self, outcome: HandshakeOutcome) {
        self.step = Step::Done;
        self.transmit_pending = false;
        self.outcome = Some(outcome);
    }
}

const _: () = assert!(FINISH_LEN <= INITIATION_LEN);
