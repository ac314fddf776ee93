//! The four handshake messages, their fixed layouts and the transcript proofs.
//!
//! ```text
//! Initiation C->S  0x01 | version | key id(4) | client random(32) | zero padding     >= 128 bytes
//! Cookie     S->C  0x02 | version | key id(4) | client random(32) | server random(32)    70 bytes
//! Finish     C->S  0x03 | version | key id(4) | client random(32) | server random(32)
//!                  | client proof(32)                                                  102 bytes
//! Accept     S->C  0x04 | version | session id(8) | server proof(32)                     42 bytes
//!
//! client proof = HMAC(K_handshake, "kcpq v1 c2s proof" || version || key id
//!                                  || client random || server random)
//! server proof = HMAC(K_handshake, "kcpq v1 s2c proof" || version || key id
//!                                  || client random || server random || session id || client proof)
//! ```
//!
//! The server random is the responder's stateless cookie (see [`super::cookie`]). The role labels
//! differ, so neither proof can be reflected as the other.

use hmac::Mac;

use crate::crypto::key::{KEY_ID_LEN, KeyId};
use crate::crypto::schedule::HmacSha256;
use crate::crypto::wire::{
    PROTOCOL_VERSION, RANDOM_LEN, SESSION_ID_LEN, SessionId, TYPE_ACCEPT, TYPE_COOKIE, TYPE_FINISH,
    TYPE_INITIATION,
};

/// Length of a proof (a full HMAC-SHA256 output).
pub const PROOF_LEN: usize = 32;
/// Minimum length of an Initiation: padded so that no reply to an unproven address is larger.
pub const INITIATION_LEN: usize = 128;
/// Length of a Cookie message.
pub const COOKIE_LEN: usize = 2 + KEY_ID_LEN + 2 * RANDOM_LEN;
/// Length of a Finish message.
pub const FINISH_LEN: usize = COOKIE_LEN + PROOF_LEN;
/// Length of an Accept message.
pub const ACCEPT_LEN: usize = 2 + SESSION_ID_LEN + PROOF_LEN;
/// Largest handshake message either side writes: the buffer `poll_transmit`/`handle` need.
pub const MAX_HANDSHAKE_LEN: usize = INITIATION_LEN;

const C2S_LABEL: &[u8] = b"kcpq v1 c2s proof";
const S2C_LABEL: &[u8] = b"kcpq v1 s2c proof";

const _: () = assert!(
    COOKIE_LEN <= INITIATION_LEN,
    "anti-amplification: Cookie <= Initiation"
);
const _: () = assert!(ACCEPT_LEN <= FINISH_LEN);

/// The values both sides agree on before the session id is chosen.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hello {
    pub(crate) key_id: KeyId,
    pub(crate) client_random: [u8; RANDOM_LEN],
    pub(crate) server_random: [u8; RANDOM_LEN],
}

impl Hello {
    pub(crate) fn client_proof(&self, handshake_mac: &HmacSha256) -> [u8; PROOF_LEN] {
        let mut mac = handshake_mac.clone();
        mac.update(C2S_LABEL);
        self.feed(&mut mac);
        mac.finalize().into_bytes().into()
    }

    pub(crate) fn server_proof(
        &self,
        handshake_mac: &HmacSha256,
        session_id: SessionId,
        client_proof: &[u8; PROOF_LEN],
    ) -> [u8; PROOF_LEN] {
        let mut mac = handshake_mac.clone();
        mac.update(S2C_LABEL);
        self.feed(&mut mac);
        mac.update(&session_id.0);
        mac.update(client_proof);
        mac.finalize().into_bytes().into()
    }

    fn feed(&self, mac: &mut HmacSha256) {
        mac.update(&[PROTOCOL_VERSION]);
        mac.update(&self.key_id.0);
        mac.update(&self.client_random);
        mac.update(&self.server_random);
    }
}

/// A parsed handshake message (borrowing nothing; all fields are small arrays).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Message {
    Initiation {
        key_id: KeyId,
        client_random: [u8; RANDOM_LEN],
    },
    Cookie(Hello),
    Finish {
        hello: Hello,
        client_proof: [u8; PROOF_LEN],
    },
    Accept {
        session_id: SessionId,
        server_proof: [u8; PROOF_LEN],
    },
}

/// Why a datagram is not a usable handshake message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParseError {
    /// Unknown type byte, or a length that does not fit the type.
    Malformed,
    /// Another protocol version.
    Version,
}

fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[..N]);
    out
}

impl Message {
    /// Parses a datagram. Lengths are exact except for the Initiation, which may carry more
    /// padding.
    pub(crate) fn parse(datagram: &[u8]) -> Result<Message, ParseError> {
        let (&ty, rest) = datagram.split_first().ok_or(ParseError::Malformed)?;
        let len_ok = match ty {
            TYPE_INITIATION => datagram.len() >= INITIATION_LEN,
            TYPE_COOKIE => datagram.len() == COOKIE_LEN,
            TYPE_FINISH => datagram.len() == FINISH_LEN,
            TYPE_ACCEPT => datagram.len() == ACCEPT_LEN,
            _ => false,
        };
        if !len_ok {
            return Err(ParseError::Malformed);
        }
        if rest[0] != PROTOCOL_VERSION {
            return Err(ParseError::Version);
        }
        let body = &rest[1..];
        if ty == TYPE_ACCEPT {
            return Ok(Message::Accept {
                session_id: SessionId(array(body)),
                server_proof: array(&body[SESSION_ID_LEN..]),
            });
        }
        let key_id = KeyId(array(body));
        let client_random = array(&body[KEY_ID_LEN..]);
        if ty == TYPE_INITIATION {
            return Ok(Message::Initiation {
                key_id,
                client_random,
            });
        }
        let hello = Hello {
            key_id,
            client_random,
            server_random: array(&body[KEY_ID_LEN + RANDOM_LEN..]),
        };
        if ty == TYPE_COOKIE {
            return Ok(Message::Cookie(hello));
        }
        Ok(Message::Finish {
            hello,
            client_proof: array(&body[COOKIE_LEN - 2..]),
        })
    }

    /// The encoded length of this message.
    pub(crate) fn len(&self) -> usize {
        match self {
            Message::Initiation { .. } => INITIATION_LEN,
            Message::Cookie(_) => COOKIE_LEN,
            Message::Finish { .. } => FINISH_LEN,
            Message::Accept { .. } => ACCEPT_LEN,
        }
    }

    /// Writes the message into `out` (at least [`Message::len`] bytes) and returns its length.
    pub(crate) fn write(&self, out: &mut [u8]) -> usize {
        let len = self.len();
        let out = &mut out[..len];
        out.fill(0);
        out[1] = PROTOCOL_VERSION;
        let mut at = 2;
        let mut put = |bytes: &[u8]| {
            out[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        let ty = match self {
            Message::Initiation {
                key_id,
                client_random,
            } => {
                put(&key_id.0);
                put(client_random);
                TYPE_INITIATION
            }
            Message::Cookie(hello) => {
                put(&hello.key_id.0);
                put(&hello.client_random);
                put(&hello.server_random);
                TYPE_COOKIE
            }
            Message::Finish {
                hello,
                client_proof,
            } => {
                put(&hello.key_id.0);
                put(&hello.client_random);
                put(&hello.server_random);
                put(client_proof);
                TYPE_FINISH
            }
            Message::Accept {
                session_id,
                server_proof,
            } => {
                put(&session_id.0);
                put(server_proof);
                TYPE_ACCEPT
            }
        };
        out[0] = ty;
        len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::schedule::hmac;

    fn hello() -> Hello {
        Hello {
            key_id: KeyId([1, 2, 3, 4]),
            client_random: [5; 32],
            server_random: [6; 32],
        }
    }

    #[test]
    fn every_message_round_trips_with_its_documented_length() {
        let msgs = [
            Message::Initiation {
                key_id: KeyId([9; 4]),
                client_random: [7; 32],
            },
            Message::Cookie(hello()),
            Message::Finish {
                hello: hello(),
                client_proof: [8; 32],
            },
            Message::Accept {
                session_id: SessionId([3; 8]),
                server_proof: [4; 32],
            },
        ];
        let lens = [128, 70, 102, 42];
        for (msg, len) in msgs.iter().zip(lens) {
            let mut buf = [0xffu8; 200];
            assert_eq!(msg.write(&mut buf), len);
            assert!(Message::parse(&buf[..len]) == Ok(*msg));
            assert_eq!(
                Message::parse(&buf[..len - 1]).err(),
                Some(ParseError::Malformed)
            );
            buf[1] = 2;
            assert_eq!(Message::parse(&buf[..len]).err(), Some(ParseError::Version));
        }
        let mut buf = [0u8; 300];
        let n = msgs[0].write(&mut buf);
        assert!(buf[38..n].iter().all(|&b| b == 0), "padding is zeros");
        assert!(
            Message::parse(&buf[..300]) == Ok(msgs[0]),
            "extra padding accepted"
        );
        assert_eq!(Message::parse(&[]).err(), Some(ParseError::Malformed));
        assert_eq!(
            Message::parse(&[0x05; 70]).err(),
            Some(ParseError::Malformed)
        );
    }

    #[test]
    fn proofs_bind_role_and_every_transcript_field() {
        let k = hmac(b"k");
        let h = hello();
        let cp = h.client_proof(&k);
        let sp = h.server_proof(&k, SessionId([1; 8]), &cp);
        assert_ne!(cp, sp);
        assert_ne!(sp, h.server_proof(&k, SessionId([2; 8]), &cp));
        assert_ne!(sp, h.server_proof(&k, SessionId([1; 8]), &[0; 32]));
        for change in 0..3 {
            let mut other = h;
            match change {
                0 => other.key_id.0[0] ^= 1,
                1 => other.client_random[31] ^= 1,
                _ => other.server_random[0] ^= 1,
            }
            assert_ne!(other.client_proof(&k), cp);
        }
        assert_ne!(h.client_proof(&hmac(b"other key")), cp);
    }
}
