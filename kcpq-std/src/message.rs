//! Received messages.

use kcpq_core::proto::Headers;

use crate::queue::Weighed;

/// A message delivered to a subscription or as the reply to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The subscription it arrived on (the client's id for it).
    pub sid: u32,
    /// The subject it was published to.
    pub subject: String,
    /// Where to send a reply, if the publisher asked for one.
    pub reply: Option<String>,
    /// The encoded headers block, if any; read it with [`Message::headers`].
    pub raw_headers: Option<Vec<u8>>,
    /// The payload.
    pub payload: Vec<u8>,
    /// When the I/O thread took it from the core.
    pub received: std::time::Instant,
}

impl Message {
    /// The message as the core delivered it, stamped with the time it arrived.
    pub(crate) fn from_core(m: kcpq_core::client::Message, received: std::time::Instant) -> Self {
        Message {
            sid: m.sid,
            subject: m.subject,
            reply: m.reply,
            raw_headers: m.raw_headers,
            payload: m.payload,
            received,
        }
    }

    /// The headers, if any.
    pub fn headers(&self) -> Option<Headers<'_>> {
        self.raw_headers
            .as_deref()
            .and_then(|raw| Headers::parse(raw).ok())
    }

    /// The value of the first header named `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers().and_then(|h| h.get(name))
    }
}

impl Weighed for Message {
    fn weight(&self) -> usize {
        self.subject.len()
            + self.reply.as_ref().map_or(0, String::len)
            + self.raw_headers.as_ref().map_or(0, Vec::len)
            + self.payload.len()
    }
}
