//! The frame types, their fields, and how each is encoded and parsed.

use super::LEN_PREFIX;
use super::headers::Headers;
use super::wire::{
    FieldError, Reader, put_bytes32, put_str16, put_u16, put_u32, put_u64, str16_len,
};

/// The type byte of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum FrameType {
    /// Client → server: opens the broker session.
    Connect = 1,
    /// Server → client: the server's limits, sent in answer to CONNECT.
    Info = 2,
    /// Client → server: subscribe.
    Sub = 3,
    /// Client → server: unsubscribe, now or after N more messages.
    Unsub = 4,
    /// Client → server: publish.
    Pub = 5,
    /// Server → client: a message for one subscription.
    Msg = 6,
    /// Either way: asks for a PONG.
    Ping = 7,
    /// Either way: answers a PING.
    Pong = 8,
    /// Server → client: the request frame with this id succeeded.
    Ok = 9,
    /// Server → client: an error, about the frame with this id (0 when about none).
    Err = 10,
    /// Either way: the sender closes the session.
    Close = 11,
    /// Server → client (version 3): the head of a message whose payload follows in MSG_PART
    /// frames (cut-through delivery of a large message).
    MsgBegin = 12,
    /// Server → client (version 3): the next bytes of the open MSG_BEGIN's payload.
    MsgPart = 13,
    /// Server → client (version 3): the open MSG_BEGIN's message is abandoned; its bytes so far
    /// are discarded.
    MsgAbort = 14,
}

impl FrameType {
    /// The frame type for a type byte, if it names one.
    pub fn from_u8(b: u8) -> Option<FrameType> {
        Some(match b {
            1 => FrameType::Connect,
            2 => FrameType::Info,
            3 => FrameType::Sub,
            4 => FrameType::Unsub,
            5 => FrameType::Pub,
            6 => FrameType::Msg,
            7 => FrameType::Ping,
            8 => FrameType::Pong,
            9 => FrameType::Ok,
            10 => FrameType::Err,
            11 => FrameType::Close,
            12 => FrameType::MsgBegin,
            13 => FrameType::MsgPart,
            14 => FrameType::MsgAbort,
            _ => return None,
        })
    }
}

/// Option bits a client sends in CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ConnectFlags(pub u32);

impl ConnectFlags {
    /// Do not deliver this client's own publishes back to its own subscriptions.
    pub const NO_ECHO: u32 = 1;

    /// The client offers forward error correction (version 3): it accepts FEC shards, and
    /// sends them if the server's INFO accepts too.
    pub const FEC: u32 = 2;

    /// Whether `NO_ECHO` is set.
    pub fn no_echo(self) -> bool {
        self.0 & Self::NO_ECHO != 0
    }

    /// Whether `FEC` is set.
    pub fn fec(self) -> bool {
        self.0 & Self::FEC != 0
    }
}

/// Option bits the server sends in INFO (version 3 on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct InfoFlags(pub u32);

impl InfoFlags {
    /// Forward error correction is on for this session: the client offered it and the server
    /// wants it too; both sides send FEC shards.
    pub const FEC: u32 = 1;

    /// Whether `FEC` is set.
    pub fn fec(self) -> bool {
        self.0 & Self::FEC != 0
    }
}

/// Flag bits of PUB and MSG.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MsgFlags(pub u8);

impl MsgFlags {
    /// A reply subject follows the subject.
    pub const HAS_REPLY: u8 = 1;
    /// A headers block follows the reply subject.
    pub const HAS_HEADERS: u8 = 2;
    /// PUB only: this is a request; if nobody subscribes to the subject, the server answers at
    /// once with a no-responders MSG on the reply subject.
    pub const REQUEST: u8 = 4;
    /// MSG only: the status "no responders" for the request whose reply subject this is.
    pub const NO_RESPONDERS: u8 = 8;

    /// Whether all bits of `bit` are set.
    pub fn has(self, bit: u8) -> bool {
        self.0 & bit == bit
    }
}

/// Error codes carried by ERR frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The peer broke the protocol (malformed frame, frame out of order).
    Protocol,
    /// A subject, filter or queue group name is invalid.
    InvalidSubject,
    /// A payload exceeds the server's limit.
    PayloadTooLarge,
    /// The session holds as many subscriptions as the server allows.
    TooManySubscriptions,
    /// A subscription id is already in use on this session.
    DuplicateSubscription,
    /// The server holds as many sessions as it allows.
    TooManySessions,
    /// Another session already uses this client name.
    DuplicateName,
    /// The session's pending bytes exceed the server's limit.
    SlowConsumer,
    /// The protocol version is not supported.
    UnsupportedVersion,
    /// A new connection took this client's name over; this session ends and should not
    /// reconnect (version 2).
    Replaced,
    /// The server was full and this session, silent the longest, made room for a new client
    /// (version 2).
    Evicted,
    /// A code this version does not know.
    Other(u16),
}

impl ErrorCode {
    /// The code's wire value.
    pub fn to_u16(self) -> u16 {
        match self {
            ErrorCode::Protocol => 1,
            ErrorCode::InvalidSubject => 2,
            ErrorCode::PayloadTooLarge => 3,
            ErrorCode::TooManySubscriptions => 4,
            ErrorCode::DuplicateSubscription => 5,
            ErrorCode::TooManySessions => 6,
            ErrorCode::DuplicateName => 7,
            ErrorCode::SlowConsumer => 8,
            ErrorCode::UnsupportedVersion => 9,
            ErrorCode::Replaced => 10,
            ErrorCode::Evicted => 11,
            ErrorCode::Other(v) => v,
        }
    }

    /// The code for a wire value.
    pub fn from_u16(v: u16) -> ErrorCode {
        match v {
            1 => ErrorCode::Protocol,
            2 => ErrorCode::InvalidSubject,
            3 => ErrorCode::PayloadTooLarge,
            4 => ErrorCode::TooManySubscriptions,
            5 => ErrorCode::DuplicateSubscription,
            6 => ErrorCode::TooManySessions,
            7 => ErrorCode::DuplicateName,
            8 => ErrorCode::SlowConsumer,
            9 => ErrorCode::UnsupportedVersion,
            10 => ErrorCode::Replaced,
            11 => ErrorCode::Evicted,
            other => ErrorCode::Other(other),
        }
    }
}

/// CONNECT: the first frame a client sends on a new session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connect<'a> {
    /// Id answered by the server's INFO (or ERR).
    pub req_id: u32,
    /// The client's protocol version.
    pub version: u16,
    /// Options.
    pub flags: ConnectFlags,
    /// A random token chosen once per client instance: a CONNECT with a name already connected
    /// replaces that session when the tokens are equal (the same client reconnecting before the
    /// server noticed the old session died), and is refused with `DuplicateName` otherwise.
    pub instance: u64,
    /// The client's name, unique per server (empty: the server names it).
    pub name: &'a str,
    /// How often the client PINGs, in milliseconds (version 2 on; 0: not announced, and
    /// never encoded for version 1). The server ends a session silent for about two of them.
    pub ping_interval_ms: u32,
}

/// INFO: the server's answer to CONNECT, with its limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Info<'a> {
    /// The CONNECT this answers.
    pub req_id: u32,
    /// The server's protocol version.
    pub version: u16,
    /// The largest payload (headers included) the server accepts.
    pub max_payload: u32,
    /// The most subscriptions one session may hold.
    pub max_subscriptions: u32,
    /// How often the client should PING, in milliseconds.
    pub ping_interval_ms: u32,
    /// The server's name.
    pub server_name: &'a str,
    /// The client's name as the server knows it.
    pub client_name: &'a str,
    /// Options agreed for the session (version 3 on; never encoded for earlier versions).
    pub flags: InfoFlags,
}

/// SUB: subscribe subscription `sid` to `filter`, optionally in a queue group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sub<'a> {
    /// Id answered by OK or ERR.
    pub req_id: u32,
    /// The client-chosen subscription id that MSG frames carry.
    pub sid: u32,
    /// The subject filter (may hold `*` and `>`).
    pub filter: &'a str,
    /// The queue group, if any.
    pub queue: Option<&'a str>,
    /// What the server does when this subscription's queue is full.
    pub flags: SubFlags,
}

/// Flag bits of SUB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SubFlags(pub u8);

impl SubFlags {
    /// When the server's queue for this subscription is full, drop the oldest queued messages
    /// instead of the new one (live video: the newest frame matters).
    pub const DROP_OLDEST: u8 = 1;

    /// Whether `DROP_OLDEST` is set.
    pub fn drop_oldest(self) -> bool {
        self.0 & Self::DROP_OLDEST != 0
    }
}

/// UNSUB: remove a subscription now (`max_msgs == 0`) or after that many more messages.
/// Unsubscribing is not acknowledged, as in NATS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsub {
    /// The subscription.
    pub sid: u32,
    /// 0: now; N: after N more messages.
    pub max_msgs: u64,
}

/// PUB: publish a message. Never acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pub<'a> {
    /// The subject.
    pub subject: &'a str,
    /// The reply subject, if any.
    pub reply: Option<&'a str>,
    /// Headers, if any.
    pub headers: Option<Headers<'a>>,
    /// Whether this is a request (answered with no-responders when nobody listens).
    pub request: bool,
    /// The payload.
    pub payload: &'a [u8],
}

/// MSG: a message delivered to subscription `sid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Msg<'a> {
    /// The subscription it is for.
    pub sid: u32,
    /// The subject it was published on.
    pub subject: &'a str,
    /// The reply subject, if any.
    pub reply: Option<&'a str>,
    /// Headers, if any.
    pub headers: Option<Headers<'a>>,
    /// The status "no responders" for a request (the payload is empty).
    pub no_responders: bool,
    /// The payload.
    pub payload: &'a [u8],
}

/// MSG_BEGIN: the head of a message for subscription `sid` whose payload follows, in order, in
/// MSG_PART frames until `payload_len` bytes have come (or a MSG_ABORT ends it). At most one such
/// message is open on a session's stream at a time; other frames, MSG included, may come between
/// its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsgBegin<'a> {
    /// The subscription it is for.
    pub sid: u32,
    /// The subject it was published on.
    pub subject: &'a str,
    /// The reply subject, if any.
    pub reply: Option<&'a str>,
    /// Headers, if any (whole: they are never split over parts).
    pub headers: Option<Headers<'a>>,
    /// The payload's length: the bytes the MSG_PART frames will carry in all.
    pub payload_len: u32,
}

/// ERR: something went wrong with the frame `req_id` (0: with no particular frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrFrame<'a> {
    /// The frame it answers, or 0.
    pub req_id: u32,
    /// What kind of error.
    pub code: ErrorCode,
    /// A message for humans.
    pub message: &'a str,
}

/// CLOSE: the sender ends the session; the receiver should reconnect later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Close<'a> {
    /// Why, for humans.
    pub reason: &'a str,
}

/// One decoded frame, borrowing from the buffer it was decoded from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Frame<'a> {
    /// See [`Connect`].
    Connect(Connect<'a>),
    /// See [`Info`].
    Info(Info<'a>),
    /// See [`Sub`].
    Sub(Sub<'a>),
    /// See [`Unsub`].
    Unsub(Unsub),
    /// See [`Pub`].
    Pub(Pub<'a>),
    /// See [`Msg`].
    Msg(Msg<'a>),
    /// Asks for a PONG with the same id; with [`KEEPALIVE_REQ_ID`](super::KEEPALIVE_REQ_ID), a
    /// keepalive that is not answered.
    Ping {
        /// Echoed in the PONG.
        req_id: u32,
    },
    /// Answers the PING with this id.
    Pong {
        /// The PING's id.
        req_id: u32,
    },
    /// The frame with this id succeeded.
    Ok {
        /// The answered frame's id.
        req_id: u32,
    },
    /// See [`ErrFrame`].
    Err(ErrFrame<'a>),
    /// See [`Close`].
    Close(Close<'a>),
    /// See [`MsgBegin`].
    MsgBegin(MsgBegin<'a>),
    /// The next payload bytes of the open MSG_BEGIN.
    MsgPart {
        /// The bytes.
        bytes: &'a [u8],
    },
    /// The open MSG_BEGIN's message is abandoned (its publisher stalled or left mid-message).
    MsgAbort,
}

fn opt_str16_len(s: Option<&str>) -> usize {
    s.map_or(0, str16_len)
}

fn headers_len(h: Option<Headers<'_>>) -> usize {
    h.map_or(0, |h| 4 + h.as_bytes().len())
}

fn msg_flags(reply: Option<&str>, headers: Option<Headers<'_>>, extra: u8) -> u8 {
    let mut f = extra;
    if reply.is_some() {
        f |= MsgFlags::HAS_REPLY;
    }
    if headers.is_some() {
        f |= MsgFlags::HAS_HEADERS;
    }
    f
}

impl<'a> Frame<'a> {
    /// The frame's type byte.
    pub fn frame_type(&self) -> FrameType {
        match self {
            Frame::Connect(_) => FrameType::Connect,
            Frame::Info(_) => FrameType::Info,
            Frame::Sub(_) => FrameType::Sub,
            Frame::Unsub(_) => FrameType::Unsub,
            Frame::Pub(_) => FrameType::Pub,
            Frame::Msg(_) => FrameType::Msg,
            Frame::Ping { .. } => FrameType::Ping,
            Frame::Pong { .. } => FrameType::Pong,
            Frame::Ok { .. } => FrameType::Ok,
            Frame::Err(_) => FrameType::Err,
            Frame::Close(_) => FrameType::Close,
            Frame::MsgBegin(_) => FrameType::MsgBegin,
            Frame::MsgPart { .. } => FrameType::MsgPart,
            Frame::MsgAbort => FrameType::MsgAbort,
        }
    }

    /// The length of the body after the length prefix (type byte included).
    pub fn body_len(&self) -> usize {
        1 + match self {
            Frame::Connect(c) => {
                4 + 2 + 4 + 8 + str16_len(c.name) + if c.version >= 2 { 4 } else { 0 }
            }
            Frame::Info(i) => {
                4 + 2
                    + 4
                    + 4
                    + 4
                    + str16_len(i.server_name)
                    + str16_len(i.client_name)
                    + if i.version >= 3 { 4 } else { 0 }
            }
            Frame::Sub(s) => 4 + 4 + 1 + str16_len(s.filter) + str16_len(s.queue.unwrap_or("")),
            Frame::Unsub(_) => 4 + 8,
            Frame::Pub(p) => {
                1 + str16_len(p.subject)
                    + opt_str16_len(p.reply)
                    + headers_len(p.headers)
                    + p.payload.len()
            }
            Frame::Msg(m) => {
                4 + 1
                    + str16_len(m.subject)
                    + opt_str16_len(m.reply)
                    + headers_len(m.headers)
                    + m.payload.len()
            }
            Frame::Ping { .. } | Frame::Pong { .. } | Frame::Ok { .. } => 4,
            Frame::Err(e) => 4 + 2 + str16_len(e.message),
            Frame::Close(c) => str16_len(c.reason),
            Frame::MsgBegin(m) => {
                4 + 1 + str16_len(m.subject) + opt_str16_len(m.reply) + headers_len(m.headers) + 4
            }
            Frame::MsgPart { bytes } => bytes.len(),
            Frame::MsgAbort => 0,
        }
    }

    /// The whole encoded length, length prefix included.
    pub fn encoded_len(&self) -> usize {
        LEN_PREFIX + self.body_len()
    }

    /// Appends the encoded frame (length prefix, type, body) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        let payload = self.encode_head(out);
        out.extend_from_slice(payload);
    }

    /// Appends the encoded frame to `out` except its payload, which ends every frame that has
    /// one (PUB, MSG), and returns the payload: written after the head, it completes the
    /// frame. Lets a writer copy a large payload once, straight into its destination.
    pub fn encode_head(&self, out: &mut Vec<u8>) -> &'a [u8] {
        put_u32(out, u32::try_from(self.body_len()).unwrap_or(u32::MAX));
        out.push(self.frame_type() as u8);
        match self {
            Frame::Connect(c) => {
                put_u32(out, c.req_id);
                put_u16(out, c.version);
                put_u32(out, c.flags.0);
                put_u64(out, c.instance);
                put_str16(out, c.name);
                if c.version >= 2 {
                    put_u32(out, c.ping_interval_ms);
                }
            }
            Frame::Info(i) => {
                put_u32(out, i.req_id);
                put_u16(out, i.version);
                put_u32(out, i.max_payload);
                put_u32(out, i.max_subscriptions);
                put_u32(out, i.ping_interval_ms);
                put_str16(out, i.server_name);
                put_str16(out, i.client_name);
                if i.version >= 3 {
                    put_u32(out, i.flags.0);
                }
            }
            Frame::Sub(s) => {
                put_u32(out, s.req_id);
                put_u32(out, s.sid);
                out.push(s.flags.0);
                put_str16(out, s.filter);
                put_str16(out, s.queue.unwrap_or(""));
            }
            Frame::Unsub(u) => {
                put_u32(out, u.sid);
                put_u64(out, u.max_msgs);
            }
            Frame::Pub(p) => {
                let extra = if p.request { MsgFlags::REQUEST } else { 0 };
                out.push(msg_flags(p.reply, p.headers, extra));
                encode_message_head(out, p.subject, p.reply, p.headers);
                return p.payload;
            }
            Frame::Msg(m) => {
                put_u32(out, m.sid);
                let extra = if m.no_responders {
                    MsgFlags::NO_RESPONDERS
                } else {
                    0
                };
                out.push(msg_flags(m.reply, m.headers, extra));
                encode_message_head(out, m.subject, m.reply, m.headers);
                return m.payload;
            }
            Frame::Ping { req_id } | Frame::Pong { req_id } | Frame::Ok { req_id } => {
                put_u32(out, *req_id);
            }
            Frame::Err(e) => {
                put_u32(out, e.req_id);
                put_u16(out, e.code.to_u16());
                put_str16(out, e.message);
            }
            Frame::Close(c) => put_str16(out, c.reason),
            Frame::MsgBegin(m) => {
                put_u32(out, m.sid);
                out.push(msg_flags(m.reply, m.headers, 0));
                encode_message_head(out, m.subject, m.reply, m.headers);
                put_u32(out, m.payload_len);
            }
            Frame::MsgPart { bytes } => return bytes,
            Frame::MsgAbort => {}
        }
        &[]
    }
}

/// The fields of PUB and MSG before the payload (which runs to the end of the frame).
fn encode_message_head(
    out: &mut Vec<u8>,
    subject: &str,
    reply: Option<&str>,
    headers: Option<Headers<'_>>,
) {
    put_str16(out, subject);
    if let Some(r) = reply {
        put_str16(out, r);
    }
    if let Some(h) = headers {
        put_bytes32(out, h.as_bytes());
    }
}

/// Why a frame body did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyError {
    UnknownType(u8),
    Field(FieldError),
    TrailingBytes,
    BadHeaders,
    Empty,
}

impl From<FieldError> for BodyError {
    fn from(e: FieldError) -> Self {
        BodyError::Field(e)
    }
}

/// Parses one frame body (type byte first, length prefix already removed).
pub(crate) fn parse_body(body: &[u8]) -> Result<Frame<'_>, BodyError> {
    let (&type_byte, rest) = body.split_first().ok_or(BodyError::Empty)?;
    let ty = FrameType::from_u8(type_byte).ok_or(BodyError::UnknownType(type_byte))?;
    let mut r = Reader::new(rest);
    let frame = match ty {
        FrameType::Connect => {
            let req_id = r.u32()?;
            let version = r.u16()?;
            let flags = ConnectFlags(r.u32()?);
            let instance = r.u64()?;
            let name = r.str16()?;
            let ping_interval_ms = if version >= 2 { r.u32()? } else { 0 };
            Frame::Connect(Connect {
                req_id,
                version,
                flags,
                instance,
                name,
                ping_interval_ms,
            })
        }
        FrameType::Info => {
            let req_id = r.u32()?;
            let version = r.u16()?;
            let max_payload = r.u32()?;
            let max_subscriptions = r.u32()?;
            let ping_interval_ms = r.u32()?;
            let server_name = r.str16()?;
            let client_name = r.str16()?;
            let flags = InfoFlags(if version >= 3 { r.u32()? } else { 0 });
            Frame::Info(Info {
                req_id,
                version,
                max_payload,
                max_subscriptions,
                ping_interval_ms,
                server_name,
                client_name,
                flags,
            })
        }
        FrameType::Sub => {
            let req_id = r.u32()?;
            let sid = r.u32()?;
            let flags = SubFlags(r.u8()?);
            let filter = r.str16()?;
            let queue = Some(r.str16()?).filter(|q| !q.is_empty());
            Frame::Sub(Sub {
                req_id,
                sid,
                filter,
                queue,
                flags,
            })
        }
        FrameType::Unsub => Frame::Unsub(Unsub {
            sid: r.u32()?,
            max_msgs: r.u64()?,
        }),
        FrameType::Pub => {
            let flags = MsgFlags(r.u8()?);
            let (subject, reply, headers, payload) = parse_message_fields(r, flags)?;
            let request = flags.has(MsgFlags::REQUEST);
            return Ok(Frame::Pub(Pub {
                subject,
                reply,
                headers,
                request,
                payload,
            }));
        }
        FrameType::Msg => {
            let sid = r.u32()?;
            let flags = MsgFlags(r.u8()?);
            let (subject, reply, headers, payload) = parse_message_fields(r, flags)?;
            let no_responders = flags.has(MsgFlags::NO_RESPONDERS);
            return Ok(Frame::Msg(Msg {
                sid,
                subject,
                reply,
                headers,
                no_responders,
                payload,
            }));
        }
        FrameType::Ping => Frame::Ping { req_id: r.u32()? },
        FrameType::Pong => Frame::Pong { req_id: r.u32()? },
        FrameType::Ok => Frame::Ok { req_id: r.u32()? },
        FrameType::Err => Frame::Err(ErrFrame {
            req_id: r.u32()?,
            code: ErrorCode::from_u16(r.u16()?),
            message: r.str16()?,
        }),
        FrameType::Close => Frame::Close(Close { reason: r.str16()? }),
        FrameType::MsgBegin => {
            let sid = r.u32()?;
            let flags = MsgFlags(r.u8()?);
            let (subject, reply, headers) = parse_message_head(&mut r, flags)?;
            Frame::MsgBegin(MsgBegin {
                sid,
                subject,
                reply,
                headers,
                payload_len: r.u32()?,
            })
        }
        FrameType::MsgPart => return Ok(Frame::MsgPart { bytes: r.rest() }),
        FrameType::MsgAbort => Frame::MsgAbort,
    };
    if !r.is_empty() {
        return Err(BodyError::TrailingBytes);
    }
    Ok(frame)
}

type MessageFields<'a> = (&'a str, Option<&'a str>, Option<Headers<'a>>, &'a [u8]);

type MessageHead<'a> = (&'a str, Option<&'a str>, Option<Headers<'a>>);

fn parse_message_fields(
    mut r: Reader<'_>,
    flags: MsgFlags,
) -> Result<MessageFields<'_>, BodyError> {
    let (subject, reply, headers) = parse_message_head(&mut r, flags)?;
    Ok((subject, reply, headers, r.rest()))
}

/// Subject, reply subject and headers: the fields between the flags and the payload.
fn parse_message_head<'a>(
    r: &mut Reader<'a>,
    flags: MsgFlags,
) -> Result<MessageHead<'a>, BodyError> {
    let subject = r.str16()?;
    let reply = if flags.has(MsgFlags::HAS_REPLY) {
        Some(r.str16()?)
    } else {
        None
    };
    let headers = if flags.has(MsgFlags::HAS_HEADERS) {
        Some(Headers::parse(r.bytes32()?).map_err(|_| BodyError::BadHeaders)?)
    } else {
        None
    };
    Ok((subject, reply, headers))
}

/// Parses the head of a PUB from the first bytes of its body (type byte first), before the rest
/// of its payload has arrived. Returns the PUB with an empty payload and the length of its head
/// (the payload starts there), `Ok(None)` if `prefix` does not hold the whole head yet, or the
/// error the whole frame will be refused with. `prefix` that is not a PUB gives `Ok(None)`.
pub(crate) fn parse_pub_head(prefix: &[u8]) -> Result<Option<(Pub<'_>, usize)>, BodyError> {
    let Some((&type_byte, rest)) = prefix.split_first() else {
        return Ok(None);
    };
    if type_byte != FrameType::Pub as u8 {
        return Ok(None);
    }
    let mut r = Reader::new(rest);
    let parsed = (|| {
        let flags = MsgFlags(r.u8()?);
        let head = parse_message_head(&mut r, flags)?;
        Ok::<_, BodyError>((flags, head))
    })();
    let (flags, (subject, reply, headers)) = match parsed {
        Ok(parsed) => parsed,
        Err(BodyError::Field(FieldError::Truncated)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let head_len = prefix.len() - r.rest().len();
    let p = Pub {
        subject,
        reply,
        headers,
        request: flags.has(MsgFlags::REQUEST),
        payload: &[],
    };
    Ok(Some((p, head_len)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::encode_headers;

    fn round_trip(frame: Frame<'_>) {
        let mut wire = Vec::new();
        frame.encode(&mut wire);
        assert_eq!(wire.len(), frame.encoded_len(), "{frame:?}");
        let body_len = u32::from_le_bytes(wire[..4].try_into().unwrap()) as usize;
        assert_eq!(body_len, frame.body_len());
        assert_eq!(parse_body(&wire[4..]), Ok(frame));
        // The head leaves out exactly the payload, which completes the frame.
        let mut head = Vec::new();
        let tail = frame.encode_head(&mut head);
        match frame {
            Frame::Pub(Pub { payload, .. })
            | Frame::Msg(Msg { payload, .. })
            | Frame::MsgPart { bytes: payload } => assert_eq!(tail, payload),
            _ => assert!(tail.is_empty()),
        }
        assert_eq!(head.len() + tail.len(), wire.len());
        assert_eq!(&wire[..head.len()], head.as_slice());
    }

    #[test]
    fn every_frame_type_round_trips() {
        let mut h = Vec::new();
        encode_headers([("Nats-Msg-Id", "42")], &mut h).unwrap();
        let headers = Some(Headers::parse(&h).unwrap());
        let frames = [
            Frame::Connect(Connect {
                req_id: 1,
                version: 1,
                flags: ConnectFlags(ConnectFlags::NO_ECHO),
                instance: 0x0123_4567_89ab_cdef,
                name: "cam-7",
                ping_interval_ms: 0,
            }),
            Frame::Connect(Connect {
                req_id: 2,
                version: 2,
                flags: ConnectFlags(0),
                instance: 7,
                name: "",
                ping_interval_ms: 15_000,
            }),
            Frame::Info(Info {
                req_id: 1,
                version: 1,
                max_payload: 1 << 20,
                max_subscriptions: 1000,
                ping_interval_ms: 15_000,
                server_name: "edge-1",
                client_name: "cam-7",
                flags: InfoFlags(0),
            }),
            Frame::Info(Info {
                req_id: 1,
                version: 3,
                max_payload: 1 << 20,
                max_subscriptions: 1000,
                ping_interval_ms: 15_000,
                server_name: "edge-1",
                client_name: "cam-7",
                flags: InfoFlags(InfoFlags::FEC),
            }),
            Frame::Sub(Sub {
                req_id: 2,
                sid: 7,
                filter: "video.>",
                queue: None,
                flags: SubFlags(SubFlags::DROP_OLDEST),
            }),
            Frame::Sub(Sub {
                req_id: 3,
                sid: 8,
                filter: "jobs.*",
                queue: Some("workers"),
                flags: SubFlags::default(),
            }),
            Frame::Unsub(Unsub {
                sid: 7,
                max_msgs: 0,
            }),
            Frame::Unsub(Unsub {
                sid: 8,
                max_msgs: u64::MAX,
            }),
            Frame::Pub(Pub {
                subject: "a",
                reply: None,
                headers: None,
                request: false,
                payload: b"x",
            }),
            Frame::Pub(Pub {
                subject: "svc.echo",
                reply: Some("_INBOX.abc.1"),
                headers,
                request: true,
                payload: &[0, 1, 2],
            }),
            Frame::Msg(Msg {
                sid: 8,
                subject: "jobs.1",
                reply: Some("r"),
                headers,
                no_responders: false,
                payload: b"job",
            }),
            Frame::MsgBegin(MsgBegin {
                sid: 9,
                subject: "video.cam",
                reply: Some("r"),
                headers,
                payload_len: 100_000,
            }),
            Frame::MsgBegin(MsgBegin {
                sid: 10,
                subject: "v",
                reply: None,
                headers: None,
                payload_len: 0,
            }),
            Frame::MsgPart { bytes: b"part" },
            Frame::MsgPart { bytes: &[] },
            Frame::MsgAbort,
            Frame::Msg(Msg {
                sid: 1,
                subject: "_INBOX.abc.1",
                reply: None,
                headers: None,
                no_responders: true,
                payload: &[],
            }),
            Frame::Ping { req_id: 4 },
            Frame::Pong { req_id: 4 },
            Frame::Ok { req_id: 2 },
            Frame::Err(ErrFrame {
                req_id: 3,
                code: ErrorCode::InvalidSubject,
                message: "bad",
            }),
            Frame::Err(ErrFrame {
                req_id: 0,
                code: ErrorCode::Other(999),
                message: "",
            }),
            Frame::Close(Close {
                reason: "server shutting down",
            }),
        ];
        for f in frames {
            round_trip(f);
        }
    }

    #[test]
    fn error_codes_round_trip() {
        for v in 0..20u16 {
            assert_eq!(ErrorCode::from_u16(v).to_u16(), v);
        }
    }

    #[test]
    fn trailing_bytes_and_unknown_types_are_rejected() {
        assert_eq!(
            parse_body(&[7, 1, 0, 0, 0, 9]),
            Err(BodyError::TrailingBytes)
        );
        assert_eq!(parse_body(&[0]), Err(BodyError::UnknownType(0)));
        assert_eq!(parse_body(&[]), Err(BodyError::Empty));
        // PUB claiming headers whose block is malformed
        assert_eq!(
            parse_body(&[5, MsgFlags::HAS_HEADERS, 1, 0, b'a', 1, 0, 0, 0, 9]),
            Err(BodyError::BadHeaders)
        );
    }

    #[test]
    fn a_pub_head_is_parsed_from_the_first_bytes_of_its_frame() {
        let mut h = Vec::new();
        encode_headers([("k", "v")], &mut h).unwrap();
        for (reply, headers) in [(None, None), (Some("_INBOX.x.1"), Some(&h[..]))] {
            let payload = [7u8; 50];
            let p = Pub {
                subject: "video.cam",
                reply,
                headers: headers.map(|h| Headers::parse(h).unwrap()),
                request: reply.is_some(),
                payload: &payload,
            };
            let mut wire = Vec::new();
            Frame::Pub(p).encode(&mut wire);
            let body = &wire[LEN_PREFIX..];
            let head_len = body.len() - payload.len();
            for cut in 0..=body.len() {
                let parsed = parse_pub_head(&body[..cut]).unwrap();
                if cut < head_len {
                    assert_eq!(parsed, None, "cut at {cut}");
                } else {
                    let (head, len) = parsed.expect("the head is there");
                    assert_eq!(len, head_len);
                    assert_eq!(head, Pub { payload: &[], ..p });
                }
            }
        }
        // Not a PUB: nothing to say; a bad headers block: the error the whole frame gets.
        assert_eq!(parse_pub_head(&[FrameType::Msg as u8, 0]), Ok(None));
        let mut bad = vec![FrameType::Pub as u8, MsgFlags::HAS_HEADERS, 1, 0, b'a'];
        bad.extend_from_slice(&3u32.to_le_bytes());
        bad.extend_from_slice(b"xyz");
        assert_eq!(parse_pub_head(&bad), Err(BodyError::BadHeaders));
    }
}
