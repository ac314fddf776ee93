//! Packet protection and the session handshake: PSK keys, HKDF key schedule, AES-256-CTR +
//! HMAC-SHA256 data packets with a replay window and rekeying, and stateless resets.
pub mod key;
pub mod packet;
pub mod replay;
pub mod reset;
mod schedule;
pub mod wire;

pub use schedule::Role;
