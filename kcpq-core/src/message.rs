//! What both ends of the protocol hand their owner: received messages, request ids and why a
//! request failed. The client and the server's owner API share these types.

use crate::proto::Headers;
use crate::subject::Subject;

/// A client-chosen subscription id.
pub type Sid = u32;

/// Identifies one request made with [`Client::request`](crate::client::Client::request) or
/// [`Server::request`](crate::server::Server::request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

/// A received message, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The subscription it arrived on.
    pub sid: Sid,
    /// The subject it was published to (shared with the subscription's previous message when
    /// they are the same).
    pub subject: Subject,
    /// Where to send a reply, if the publisher asked for one.
    pub reply: Option<String>,
    /// The encoded headers block, if any; read it with [`Message::headers`].
    pub raw_headers: Option<Vec<u8>>,
    /// The payload.
    pub payload: Vec<u8>,
}

impl Message {
    /// The headers, if any.
    pub fn headers(&self) -> Option<Headers<'_>> {
        self.raw_headers
            .as_deref()
            .and_then(|raw| Headers::parse(raw).ok())
    }
}

/// Why a request got no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestFailure {
    /// Nobody subscribes to the subject (answered at once by the server).
    #[error("no responders: nobody subscribes to the request subject")]
    NoResponders,
    /// No reply within the request's timeout.
    #[error("request timed out")]
    TimedOut,
    /// The session ended before a reply came.
    #[error("disconnected before the reply arrived")]
    Disconnected,
}

impl crate::queue::Weighed for Message {
    /// Subject, reply, headers and payload bytes.
    fn weight(&self) -> usize {
        self.subject.len()
            + self.reply.as_ref().map_or(0, String::len)
            + self.raw_headers.as_ref().map_or(0, Vec::len)
            + self.payload.len()
    }
}
