//! The segment header codec: the 24-byte little-endian header of the reference `ikcp.c`.
//!
//! ```text
//!  0               4       5       6               8
//!  +---------------+-------+-------+---------------+
//!  |     conv      |  cmd  |  frg  |      wnd      |
//!  +---------------+-------+-------+---------------+
//!  |      ts       |      sn       |      una      |   (u32 each, at 8, 12, 16)
//!  +---------------+---------------+---------------+
//!  |      len      |  payload (len bytes) ...          (u32 at 20, payload from 24)
//!  +---------------+------------------------------
//! ```
//!
//! A datagram holds one or more segments back to back; [`Segments`] walks them and stops at the
//! first one that does not decode.

use thiserror::Error;

/// Length of the encoded segment header in bytes (`IKCP_OVERHEAD`).
pub const HEADER_LEN: usize = 24;

/// The command carried by a segment (`IKCP_CMD_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Command {
    /// Data (`IKCP_CMD_PUSH`, 81).
    Push = 81,
    /// Acknowledgement of one data segment (`IKCP_CMD_ACK`, 82).
    Ack = 82,
    /// Window probe: "tell me your receive window" (`IKCP_CMD_WASK`, 83).
    WindowProbe = 83,
    /// Window update: "this is my receive window" (`IKCP_CMD_WINS`, 84).
    WindowSize = 84,
}

impl Command {
    /// The command for a wire value, or `None` for an unknown one.
    pub fn from_u8(value: u8) -> Option<Command> {
        match value {
            81 => Some(Command::Push),
            82 => Some(Command::Ack),
            83 => Some(Command::WindowProbe),
            84 => Some(Command::WindowSize),
            _ => None,
        }
    }

    /// The wire value of this command.
    pub fn as_u8(self) -> u8 {
        self as u8
    }
}

/// Why bytes did not decode as a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer than [`HEADER_LEN`] bytes were left.
    #[error("truncated segment header: {available} bytes, a header needs {HEADER_LEN}")]
    TruncatedHeader {
        /// Bytes that were available.
        available: usize,
    },
    /// The command byte is not one of the four KCP commands.
    #[error("unknown segment command {0}")]
    UnknownCommand(u8),
    /// The header announces more payload than the bytes that follow it.
    #[error("segment payload of {len} bytes announced but only {available} follow the header")]
    TruncatedPayload {
        /// Announced payload length.
        len: u32,
        /// Bytes that followed the header.
        available: usize,
    },
}

/// One decoded segment header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Conversation id; both peers use the same one.
    pub conv: u32,
    /// The command.
    pub cmd: Command,
    /// Fragment count-down in message mode (0 = last fragment of a message); 0 in stream mode.
    pub frg: u8,
    /// The sender's free receive window, in segments.
    pub wnd: u16,
    /// Timestamp (sender's milliseconds, wrapping); an ACK echoes the acknowledged segment's `ts`.
    pub ts: u32,
    /// Sequence number of a PUSH, or the sequence number an ACK acknowledges.
    pub sn: u32,
    /// The sender's next expected sequence number: everything before it was received.
    pub una: u32,
    /// Payload length in bytes.
    pub len: u32,
}

impl SegmentHeader {
    /// Decodes the header at the start of `buf` and returns it with its payload.
    pub fn decode(buf: &[u8]) -> Result<(SegmentHeader, &[u8]), DecodeError> {
        let Some((head, rest)) = buf.split_first_chunk::<HEADER_LEN>() else {
            return Err(DecodeError::TruncatedHeader {
                available: buf.len(),
            });
        };
        let u32_at =
            |at: usize| u32::from_le_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
        let cmd = Command::from_u8(head[4]).ok_or(DecodeError::UnknownCommand(head[4]))?;
        let len = u32_at(20);
        let payload = usize::try_from(len)
            .ok()
            .and_then(|n| rest.get(..n))
            .ok_or(DecodeError::TruncatedPayload {
                len,
                available: rest.len(),
            })?;
        let header = SegmentHeader {
            conv: u32_at(0),
            cmd,
            frg: head[5],
            wnd: u16::from_le_bytes([head[6], head[7]]),
            ts: u32_at(8),
            sn: u32_at(12),
            una: u32_at(16),
            len,
        };
        Ok((header, payload))
    }

    /// The 24 encoded header bytes (the payload follows them on the wire).
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..4].copy_from_slice(&self.conv.to_le_bytes());
        out[4] = self.cmd.as_u8();
        out[5] = self.frg;
        out[6..8].copy_from_slice(&self.wnd.to_le_bytes());
        out[8..12].copy_from_slice(&self.ts.to_le_bytes());
        out[12..16].copy_from_slice(&self.sn.to_le_bytes());
        out[16..20].copy_from_slice(&self.una.to_le_bytes());
        out[20..24].copy_from_slice(&self.len.to_le_bytes());
        out
    }
}

/// An iterator over the segments of one datagram.
///
/// Yields `Ok((header, payload))` for each segment and, at the first segment that does not
/// decode, one `Err` after which it stops: a malformed length makes everything after it
/// meaningless.
#[derive(Clone, Debug)]
pub struct Segments<'a> {
    rest: &'a [u8],
}

impl<'a> Segments<'a> {
    /// Iterates over the segments packed in `datagram`.
    pub fn new(datagram: &'a [u8]) -> Self {
        Segments { rest: datagram }
    }
}

impl<'a> Iterator for Segments<'a> {
    type Item = Result<(SegmentHeader, &'a [u8]), DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match SegmentHeader::decode(self.rest) {
            Ok((header, payload)) => {
                self.rest = &self.rest[HEADER_LEN + payload.len()..];
                Some(Ok((header, payload)))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(cmd: Command, len: u32) -> SegmentHeader {
        SegmentHeader {
            conv: 0x0102_0304,
            cmd,
            frg: 7,
            wnd: 0xBEEF,
            ts: u32::MAX - 1,
            sn: 0x8000_0001,
            una: 42,
            len,
        }
    }

    #[test]
    fn encode_is_little_endian_in_reference_order() {
        let bytes = header(Command::Ack, 3).encode();
        assert_eq!(&bytes[0..4], &[4, 3, 2, 1]);
        assert_eq!(bytes[4], 82);
        assert_eq!(bytes[5], 7);
        assert_eq!(&bytes[6..8], &[0xEF, 0xBE]);
        assert_eq!(&bytes[8..12], &(u32::MAX - 1).to_le_bytes());
        assert_eq!(&bytes[12..16], &[1, 0, 0, 0x80]);
        assert_eq!(&bytes[16..20], &[42, 0, 0, 0]);
        assert_eq!(&bytes[20..24], &[3, 0, 0, 0]);
    }

    #[test]
    fn round_trip_every_command() {
        for cmd in [
            Command::Push,
            Command::Ack,
            Command::WindowProbe,
            Command::WindowSize,
        ] {
            let h = header(cmd, 5);
            let mut wire = h.encode().to_vec();
            wire.extend_from_slice(b"hello trailing");
            let (decoded, payload) = SegmentHeader::decode(&wire).unwrap();
            assert_eq!(decoded, h);
            assert_eq!(payload, b"hello");
        }
    }

    #[test]
    fn decode_errors() {
        assert_eq!(
            SegmentHeader::decode(&[0; 23]),
            Err(DecodeError::TruncatedHeader { available: 23 })
        );
        let mut wire = header(Command::Push, 10).encode().to_vec();
        wire.extend_from_slice(&[0; 9]);
        assert_eq!(
            SegmentHeader::decode(&wire),
            Err(DecodeError::TruncatedPayload {
                len: 10,
                available: 9
            })
        );
        wire[4] = 80;
        assert_eq!(
            SegmentHeader::decode(&wire),
            Err(DecodeError::UnknownCommand(80))
        );
        let mut huge = header(Command::Push, u32::MAX).encode().to_vec();
        huge.push(1);
        assert_eq!(
            SegmentHeader::decode(&huge),
            Err(DecodeError::TruncatedPayload {
                len: u32::MAX,
                available: 1
            })
        );
    }

    #[test]
    fn segments_walks_a_datagram_and_stops_at_the_first_error() {
        let mut wire = Vec::new();
        wire.extend_from_slice(&header(Command::Push, 2).encode());
        wire.extend_from_slice(b"ab");
        wire.extend_from_slice(&header(Command::Ack, 0).encode());
        wire.extend_from_slice(&[1, 2, 3]);
        let all: Vec<_> = Segments::new(&wire).collect();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].as_ref().unwrap().1, b"ab");
        assert_eq!(all[1].as_ref().unwrap().0.cmd, Command::Ack);
        assert_eq!(all[2], Err(DecodeError::TruncatedHeader { available: 3 }));
        assert_eq!(Segments::new(&[]).count(), 0);
    }
}
