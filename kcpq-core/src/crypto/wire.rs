//! Wire constants shared by every KCPQ packet: type bytes, lengths, the session id.
//!
//! Every datagram starts with a type byte. Data packets are `0x10 | key_phase`; handshake and
//! reset packets use the values below. Multi-byte integers are big-endian (network order).
//! The full layouts are in `docs/protocol.md`.

use std::fmt;

/// Protocol version carried in every handshake message.
pub const PROTOCOL_VERSION: u8 = 1;

/// Type byte of a handshake Initiation (client to server).
pub const TYPE_INITIATION: u8 = 0x01;
/// Type byte of a handshake Cookie (server to client).
pub const TYPE_COOKIE: u8 = 0x02;
/// Type byte of a handshake Finish (client to server).
pub const TYPE_FINISH: u8 = 0x03;
/// Type byte of a handshake Accept (server to client).
pub const TYPE_ACCEPT: u8 = 0x04;
/// Type byte of a stateless reset (server to client).
pub const TYPE_RESET: u8 = 0x05;
/// Type byte of a data packet in key phase 0; phase 1 sets bit 0 ([`KEY_PHASE_BIT`]).
pub const TYPE_DATA: u8 = 0x10;
/// The key-phase bit of a data packet's type byte.
pub const KEY_PHASE_BIT: u8 = 0x01;

/// Length of a session id.
pub const SESSION_ID_LEN: usize = 8;
/// Length of a packet number.
pub const PACKET_NUMBER_LEN: usize = 8;
/// Length of each side's handshake random.
pub const RANDOM_LEN: usize = 32;
/// Length of the truncated HMAC-SHA256 tag of a data packet.
pub const TAG_LEN: usize = 16;
/// Data header: type(1) || session id(8) || packet number(8).
pub const DATA_HEADER_LEN: usize = 1 + SESSION_ID_LEN + PACKET_NUMBER_LEN;
/// Bytes a data packet adds to its payload: header plus tag (33). KCP's MTU is the UDP payload
/// budget minus this (1400 - 33 = 1367 by default).
pub const DATA_OVERHEAD: usize = DATA_HEADER_LEN + TAG_LEN;

/// The unguessable id of a session, chosen by the responder and carried in every data packet.
/// Servers find sessions by it, never by source address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(pub [u8; SESSION_ID_LEN]);

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({self})")
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// The KCP conversation id of a session: the XOR of the session id's two big-endian halves.
/// Both ends compute it; the session layer checks it on every segment.
pub fn conv_for(session_id: SessionId) -> u32 {
    let [a, b, c, d, e, f, g, h] = session_id.0;
    u32::from_be_bytes([a, b, c, d]) ^ u32::from_be_bytes([e, f, g, h])
}

/// Whether `datagram` looks like a data packet (type byte and minimum length), unverified.
pub fn is_data_packet(datagram: &[u8]) -> bool {
    datagram.len() >= DATA_OVERHEAD && datagram[0] & !KEY_PHASE_BIT == TYPE_DATA
}

/// The session id of a data packet, read without verifying anything, for routing only.
/// `None` if the datagram is not shaped like a data packet.
pub fn peek_session_id(datagram: &[u8]) -> Option<SessionId> {
    if !is_data_packet(datagram) {
        return None;
    }
    let mut id = [0u8; SESSION_ID_LEN];
    id.copy_from_slice(&datagram[1..1 + SESSION_ID_LEN]);
    Some(SessionId(id))
}

/// Whether `datagram` is a handshake message (Initiation, Cookie, Finish or Accept), by type byte.
pub fn is_handshake_packet(datagram: &[u8]) -> bool {
    matches!(datagram.first(), Some(&(TYPE_INITIATION..=TYPE_ACCEPT)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overhead_is_33_bytes() {
        assert_eq!(DATA_HEADER_LEN, 17);
        assert_eq!(DATA_OVERHEAD, 33);
        assert_eq!(1400 - DATA_OVERHEAD, 1367);
    }

    #[test]
    fn peek_reads_only_data_shaped_packets() {
        let mut pkt = [0u8; DATA_OVERHEAD];
        pkt[0] = TYPE_DATA | KEY_PHASE_BIT;
        pkt[1..9].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(
            peek_session_id(&pkt),
            Some(SessionId([1, 2, 3, 4, 5, 6, 7, 8]))
        );
        assert_eq!(peek_session_id(&pkt[..DATA_OVERHEAD - 1]), None);
        pkt[0] = TYPE_RESET;
        assert_eq!(peek_session_id(&pkt), None);
        pkt[0] = 0x12;
        assert_eq!(peek_session_id(&pkt), None);
        assert_eq!(peek_session_id(&[]), None);
        assert!(is_handshake_packet(&[TYPE_FINISH]));
        assert!(!is_handshake_packet(&[TYPE_RESET]));
        assert!(!is_handshake_packet(&[]));
    }

    #[test]
    fn conv_mixes_both_halves() {
        assert_eq!(conv_for(SessionId([0, 0, 0, 1, 0, 0, 0, 0])), 1);
        assert_eq!(conv_for(SessionId([0, 0, 0, 1, 0, 0, 0, 3])), 2);
        assert_eq!(conv_for(SessionId([0xff; 8])), 0);
        assert_eq!(format!("{}", SessionId([0xab; 8])), "abababababababab");
    }
}
