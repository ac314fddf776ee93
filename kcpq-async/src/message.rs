//! A received message, as the async API hands it out.

use bytes::Bytes;
use kcpq_core::proto::Headers;

use crate::inbox::Item;

/// A message received on a subscription or as the reply to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Message {
    /// The subscription it arrived on (the client's id for it).
    pub sid: u32,
    /// The subject it was published to.
    pub subject: String,
    /// Where to send a reply, if the publisher asked for one.
    pub reply: Option<String>,
    /// The encoded headers block, if any; read it with [`Message::headers`].
    pub raw_headers: Option<Bytes>,
    /// The payload.
    pub payload: Bytes,
    /// When the driver task took it from the network.
    pub received: std::time::Instant,
}

impl Message {
    /// The headers, if any (a malformed block reads as none).
    pub fn headers(&self) -> Option<Headers<'_>> {
        self.raw_headers
            .as_deref()
            .and_then(|raw| Headers::parse(raw).ok())
    }

    /// The value of the first header named `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers().and_then(|h| h.get(name))
    }

    /// Converts the core's owned message without copying the payload.
    pub(crate) fn from_core(
        message: kcpq_core::client::Message,
        received: std::time::Instant,
    ) -> Message {
        Message {
            sid: message.sid,
            subject: message.subject,
            reply: message.reply,
            raw_headers: message.raw_headers.map(Bytes::from),
            payload: Bytes::from(message.payload),
            received,
        }
    }

    pub(crate) fn from_item(item: Item) -> Message {
        Message::from_core(item.message, item.received)
    }
}
