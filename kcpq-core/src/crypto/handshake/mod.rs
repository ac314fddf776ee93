//! The session handshake: a PSK-authenticated exchange of randoms with a stateless cookie.
//!
//! ```text
//! client (HandshakeInitiator)                      server (HandshakeResponder)
//!   Initiation  key id, client random, padding  ->   no state; cookie = server random
//!                                               <-   Cookie  client random, server random
//!   Finish  randoms, client proof               ->   verify cookie + proof: half-open entry,
//!                                               <-   Accept  session id, server proof
//!   first data packet under the session keys    ->   verifies: session established
//! ```
//!
//! Properties (see `docs/protocol.md` for layouts and the threat model):
//! - Each proof is an HMAC under the PSK-derived handshake key over the transcript with a role
//!   label, so neither can be reflected. The client proves the key in its Finish; the server in its
//!   Accept (its proof also covers the session id and the client's proof).
//! - The responder stores nothing before a valid Finish: the cookie is recomputed, not stored.
//! - Every reply is no larger than the datagram it answers (the Initiation is padded to 128
//!   bytes; the Cookie is 70), so the server cannot be used to amplify traffic.
//! - Retransmitted Initiations get the identical Cookie; retransmitted Finishes map to their
//!   half-open entry and get the identical Accept.
//! - The session id is drawn fresh when the half-open entry is created, and enters the session
//!   keys: a replayed Finish creates a different (unusable) session, and replayed data packets
//!   of an old session verify under nothing.
//! - A session is established on the server only when the first data packet under its keys
//!   verifies.

mod cookie;
mod half_open;
mod initiator;
mod messages;
mod responder;

use std::net::SocketAddr;

pub use cookie::COOKIE_ROTATION;
pub use initiator::{HandshakeInitiator, HandshakeOutcome, InitiatorConfig, InitiatorStats};
pub use messages::{
    ACCEPT_LEN, COOKIE_LEN, FINISH_LEN, INITIATION_LEN, MAX_HANDSHAKE_LEN, PROOF_LEN,
};
pub use responder::{
    EstablishDrop, HandshakeResponder, MAX_RESPONDER_REPLY_LEN, ResponderConfig, ResponderStats,
    SessionIdSpace,
};

use super::key::KeyId;
use super::packet::PacketProtection;
use super::wire::SessionId;

/// A session both sides agreed on: its packet protection, id, peer and the key it uses.
#[derive(Debug)]
#[non_exhaustive]
pub struct EstablishedSession {
    /// Seals and opens the session's data packets.
    pub protection: PacketProtection,
    /// The session id (also in `protection`).
    pub session_id: SessionId,
    /// The peer's address: the server for a client; for a server, the source of the first data
    /// packet (later updated only by authenticated packets with a new highest packet number).
    pub peer: SocketAddr,
    /// The id of the PSK the session was made with.
    pub key_id: KeyId,
}

/// The caller's output buffer is too small (API misuse).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("output buffer of {available} bytes is too small: handshake datagrams need {needed} bytes")]
pub struct BufferTooSmall {
    /// Bytes needed.
    pub needed: usize,
    /// Bytes given.
    pub available: usize,
}

/// Why a handshake failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// Nothing valid came back before the connect timeout: the server holds another key, or no
    /// KCPQ server listens there.
    #[error("handshake failed: key mismatch or no KCPQ server at {server}")]
    KeyMismatchOrNoServer {
        /// The server address.
        server: SocketAddr,
    },
    /// The server answered the Initiation (so it knows the key id) but did not accept the
    /// session before the connect timeout: it is overloaded, or packets were lost.
    #[error(
        "handshake failed: the KCPQ server at {server} answered but did not accept the session before the connect timeout (server busy or heavy packet loss)"
    )]
    NotAccepted {
        /// The server address.
        server: SocketAddr,
    },
}
