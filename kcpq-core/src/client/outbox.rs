//! Encoded frames waiting to enter the KCP stream, bounded in bytes.

use crate::proto::{Frame, FrameType, LEN_PREFIX};
use crate::session::Session;

/// Frames in the order they were made, written into the stream whole as KCP accepts them.
#[derive(Debug)]
pub(crate) struct Outbox {
    buf: Vec<u8>,
    start: usize,
    max_bytes: usize,
}

impl Outbox {
    pub(crate) fn new(max_bytes: usize) -> Self {
        Outbox {
            buf: Vec::new(),
            start: 0,
            max_bytes,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Appends `frame`; `false` (and nothing appended) when it would exceed the bound.
    pub(crate) fn push(&mut self, frame: &Frame<'_>) -> bool {
        if self.len() + frame.encoded_len() > self.max_bytes {
            return false;
        }
        frame.encode(&mut self.buf);
        true
    }

    /// Keeps only PUB frames (after a disconnect: the restore sends subscriptions again, and
    /// the PINGs of failed flushes are moot).
    pub(crate) fn retain_publishes(&mut self) {
        let mut kept = Vec::with_capacity(self.len());
        let mut at = self.start;
        while at + LEN_PREFIX < self.buf.len() {
            let mut prefix = [0u8; LEN_PREFIX];
            prefix.copy_from_slice(&self.buf[at..at + LEN_PREFIX]);
            let end = at + LEN_PREFIX + u32::from_le_bytes(prefix) as usize;
            if self.buf[at + LEN_PREFIX] == FrameType::Pub as u8 {
                kept.extend_from_slice(&self.buf[at..end]);
            }
            at = end;
        }
        self.buf = kept;
        self.start = 0;
    }

    /// Drops everything (the client is closed).
    pub(crate) fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
    }

    /// Writes whole frames into `session` until it refuses one or none are left.
    pub(crate) fn drain_into(&mut self, session: &mut Session) {
        while self.len() >= LEN_PREFIX {
            let mut prefix = [0u8; LEN_PREFIX];
            prefix.copy_from_slice(&self.buf[self.start..self.start + LEN_PREFIX]);
            let end = self.start + LEN_PREFIX + u32::from_le_bytes(prefix) as usize;
            if session.write_encoded(&self.buf[self.start..end]).is_err() {
                break;
            }
            self.start = end;
        }
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{FrameDecoder, Pub, Sub, SubFlags};

    #[test]
    fn retain_publishes_keeps_only_pub_frames_in_order() {
        let mut outbox = Outbox::new(1 << 20);
        const ONE: &[u8] = &[1];
        const TWO: &[u8] = &[2];
        let publish = |payload: &'static [u8]| {
            Frame::Pub(Pub {
                subject: "a",
                reply: None,
                headers: None,
                request: false,
                payload,
            })
        };
        assert!(outbox.push(&publish(ONE)));
        assert!(outbox.push(&Frame::Sub(Sub {
            req_id: 1,
            sid: 1,
            filter: "a",
            queue: None,
            flags: SubFlags::default(),
        })));
        assert!(outbox.push(&Frame::Ping { req_id: 2 }));
        assert!(outbox.push(&publish(TWO)));
        outbox.retain_publishes();

        let mut decoder = FrameDecoder::new(1 << 20);
        decoder.push(&outbox.buf[outbox.start..]);
        let mut payloads = Vec::new();
        while let Some(frame) = decoder.next_frame() {
            match frame.expect("valid frames") {
                Frame::Pub(p) => payloads.push(p.payload[0]),
                other => panic!("kept {other:?}"),
            }
        }
        assert_eq!(payloads, vec![1, 2]);
    }

    #[test]
    fn push_refuses_beyond_the_bound() {
        let mut outbox = Outbox::new(16);
        assert!(outbox.push(&Frame::Ping { req_id: 1 }));
        assert!(!outbox.push(&Frame::Pub(Pub {
            subject: "a",
            reply: None,
            headers: None,
            request: false,
            payload: &[0; 16],
        })));
    }
}
