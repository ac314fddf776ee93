//! Broker frames: the messages client and server exchange over the reliable KCP byte stream.
//!
//! Every frame is length-prefixed binary:
//!
//! ```text
//! len: u32 LE   (bytes that follow: the type byte and the body)
//! type: u8
//! body          (fields per type, see `docs/protocol.md`)
//! ```
//!
//! All integers are little-endian. Strings are UTF-8 with a `u16` length prefix. A payload is the
//! rest of the frame, so it costs no length field of its own.
//!
//! [`FrameDecoder`] works on partial input: bytes arrive in arbitrary pieces from the KCP stream
//! and whole frames come out, borrowed from the decoder's buffer without further copies. A frame
//! whose announced length exceeds the configured maximum is refused as soon as its 4-byte length
//! prefix is read, before any of its body is buffered.

mod decode;
mod frame;
mod headers;
mod wire;

pub use decode::{DecodeError, FrameDecoder};
pub(crate) use frame::parse_body as parse_frame_body;
pub(crate) use frame::parse_pub_head;
pub use frame::{
    Close, Connect, ConnectFlags, ErrFrame, ErrorCode, Frame, FrameType, Info, InfoFlags, Msg,
    MsgBegin, MsgFlags, Pub, Sub, SubFlags, Unsub,
};
pub use headers::{HeaderError, Headers, HeadersIter, encode_headers};

/// The protocol version this crate speaks, sent in CONNECT and INFO.
///
/// Version 2 adds the client's ping interval to CONNECT and the error codes `Replaced` and
/// `Evicted`. Version 3 adds cut-through delivery of large messages to the client (MSG_BEGIN,
/// MSG_PART, MSG_ABORT); the server sends them only to clients that announced version 3. A
/// server still accepts [`MIN_PROTOCOL_VERSION`].
pub const PROTOCOL_VERSION: u16 = 3;

/// The oldest client protocol version a server accepts: version 1 clients announce no ping
/// interval, so the server assumes the one it tells them in INFO.
pub const MIN_PROTOCOL_VERSION: u16 = 1;

/// Default maximum payload (headers included): 1 MiB, as NATS. Video users raise it; client
/// and server agree on the server's limit in INFO.
pub const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024;

/// The id of a client's keepalive PING, which the server does not answer: the KCP
/// acknowledgement of the PING shows the client that the server lives, and a PONG would cost
/// each side another datagram and wake-up per keepalive (and its acknowledgement). Flushes and
/// drains never use it (their ids start at 1 and skip 0). A server that predates this answers
/// it anyway; the client ignores a PONG it did not wait for.
pub const KEEPALIVE_REQ_ID: u32 = 0;

/// Bytes of the length prefix in front of every frame.
pub const LEN_PREFIX: usize = 4;

/// The largest frame body (type byte included) a decoder accepts when the payload limit is
/// `max_payload`: the payload plus room for two subjects of `max_subject_len` bytes and the fixed
/// fields. Headers count against the payload limit, as in NATS.
pub const fn max_frame_len(max_payload: usize, max_subject_len: usize) -> usize {
    // type(1) + sid(4) + flags(1) + 2 * (len(2) + subject) + headers len(4)
    max_payload + 1 + 4 + 1 + 2 * (2 + max_subject_len) + 4
}
