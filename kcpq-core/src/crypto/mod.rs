//! Packet protection and the session handshake (PSK, AES-256-CTR + HMAC-SHA256).
//!
//! Standalone sans-IO pieces that the broker's server and client embed:
//!
//! | piece                   | role                                                              |
//! |-------------------------|-------------------------------------------------------------------|
//! | [`Key`], [`KeySet`]     | the pre-shared keys: hex, env var, key files, rotation            |
//! | [`HandshakeInitiator`]  | client side of the handshake, with its own retransmit timer       |
//! | [`HandshakeResponder`]  | server side: stateless cookies, bounded half-open table, resets   |
//! | [`PacketProtection`]    | one session: seal/open in place, replay window, rekey             |
//! | [`ResetSigner`]         | rate-limited stateless resets for unknown session ids             |
//!
//! A data datagram is `type(1) || session id(8) || packet number(8) || ciphertext || tag(16)`:
//! [`DATA_OVERHEAD`] = 33 bytes, so KCP's MTU is the UDP payload budget minus 33 (1367 for
//! 1400). The session layer writes its KCP segments at `buf[DATA_HEADER_LEN..]`, calls
//! [`PacketProtection::seal`], and sends `buf[..len]`; on receipt a server routes by
//! [`peek_session_id`] (never by source address) and calls [`PacketProtection::open`], whose
//! plaintext is then at `buf[opened.payload]`. The KCP conversation id is [`conv_for`] of the
//! session id.
//!
//! Keys come from the [key schedule](self#key-schedule) (HKDF-SHA256); randomness only from
//! [`crate::rng::Rng`], seeded by the caller. Byte layouts, the key schedule and the threat model
//! are in `docs/protocol.md`.
//!
//! # Key schedule
//!
//! ```text
//! psk_prk     = HKDF-Extract("kcpq v1 psk", PSK)
//! K_handshake = HKDF-Expand(psk_prk, "kcpq v1 handshake mac", 32)
//! K_reset     = HKDF-Expand(psk_prk, "kcpq v1 reset", 32)
//! session_prk = HKDF-Extract("kcpq v1 session" || client random || server random || session id, PSK)
//! secret_dir  = HKDF-Expand(session_prk, "kcpq v1 c2s traffic" | "kcpq v1 s2c traffic", 32)
//! K_enc, K_mac, IV(4) = HKDF-Expand(secret_dir, "kcpq v1 enc" | "kcpq v1 mac" | "kcpq v1 iv")
//! next secret = HKDF-Expand(secret_dir, "kcpq v1 ratchet", 32)
//! ```
//!
//! # Drops and errors
//!
//! Network input never panics and never returns an API error: [`OpenDrop`] and
//! [`EstablishDrop`] are drop reasons the caller counts, and every state machine keeps its own
//! counters ([`ProtectionStats`], [`ResponderStats`], [`InitiatorStats`], [`ResetStats`]).
//! `Err` values ([`SealError`], [`BufferTooSmall`], [`KeyError`]) report API misuse or bad
//! configuration.

pub mod handshake;
pub mod key;
pub mod packet;
pub mod replay;
pub mod reset;
mod schedule;
pub mod wire;

pub use handshake::{
    BufferTooSmall, EstablishDrop, EstablishedSession, HandshakeError, HandshakeInitiator,
    HandshakeOutcome, HandshakeResponder, InitiatorConfig, InitiatorStats, ResponderConfig,
    ResponderStats, SessionIdSpace,
};
pub use key::{Key, KeyError, KeyId, KeySet, generate_key_file};
pub use packet::{
    OpenDrop, Opened, PacketProtection, ProtectionConfig, ProtectionStats, SealError,
};
pub(crate) use packet::{PrecomputedTag, UntaggedPacket, finish_all};
pub use replay::REPLAY_WINDOW;
pub use reset::{ResetConfig, ResetSigner, ResetStats};
pub use schedule::Role;
pub use wire::{
    DATA_HEADER_LEN, DATA_OVERHEAD, SessionId, TAG_LEN, conv_for, is_data_packet,
    is_handshake_packet, peek_session_id,
};
