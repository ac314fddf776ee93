//! A received message as every adapter hands it out: the core's message, stamped with the time
//! the driver took it from the network, its payload in the adapter's buffer type (`Vec<u8>` in
//! kcpq-std, `Bytes` in kcpq-async).

use crate::proto::Headers;
use crate::queue::Weighed;
use crate::subject::Subject;

/// A message received on a subscription or as the reply to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Message<P = Vec<u8>> {
    /// The subscription it arrived on (the client's id for it).
    pub sid: u32,
    /// The subject it was published to (shared with the subscription's previous message when
    /// they are the same: see [`Subject`]).
    pub subject: Subject,
    /// Where to send a reply, if the publisher asked for one.
    pub reply: Option<String>,
    /// The encoded headers block, if any; read it with [`Message::headers`].
    pub raw_headers: Option<P>,
    /// The payload.
    pub payload: P,
    /// When the driver (task or thread) took it from the network.
    pub received: std::time::Instant,
}

impl<P: AsRef<[u8]>> Message<P> {
    /// The headers, if any (a malformed block reads as none).
    pub fn headers(&self) -> Option<Headers<'_>> {
        let raw = self.raw_headers.as_ref()?;
        Headers::parse(raw.as_ref()).ok()
    }

    /// The value of the first header named `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers().and_then(|h| h.get(name))
    }
}

impl<P: From<Vec<u8>>> Message<P> {
    /// The core's message, taken from the network at `received`, without copying its payload.
    pub fn from_core(message: crate::Message, received: std::time::Instant) -> Message<P> {
        Message {
            sid: message.sid,
            subject: message.subject,
            reply: message.reply,
            raw_headers: message.raw_headers.map(P::from),
            payload: P::from(message.payload),
            received,
        }
    }
}

impl<P: AsRef<[u8]>> Weighed for Message<P> {
    /// Subject, reply, headers and payload bytes, as the core's message weighs.
    fn weight(&self) -> usize {
        self.subject.len()
            + self.reply.as_ref().map_or(0, String::len)
            + self.raw_headers.as_ref().map_or(0, |h| h.as_ref().len())
            + self.payload.as_ref().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_and_weight_read_the_payload_type() {
        let mut raw = Vec::new();
        crate::proto::encode_headers([("k", "v")], &mut raw).expect("valid headers");
        let core = crate::Message {
            sid: 1,
            subject: "a.b".into(),
            reply: None,
            raw_headers: Some(raw.clone()),
            payload: b"xyz".to_vec(),
        };
        let weight = core.weight();
        let message: Message = Message::from_core(core, std::time::Instant::now());
        assert_eq!(message.header("k"), Some("v"));
        assert_eq!(message.weight(), weight);
    }
}
