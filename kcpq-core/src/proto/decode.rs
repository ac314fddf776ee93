//! Incremental frame decoding from the KCP byte stream.

use super::LEN_PREFIX;
use super::frame::{BodyError, Frame, parse_body};

/// Bytes offered for reading when no frame length is known yet (a few KCP segments' worth).
const DEFAULT_CHUNK: usize = 16 * 1024;
/// The most bytes offered for one read, so a huge frame is filled in bounded steps.
const MAX_CHUNK: usize = 256 * 1024;

/// Why a frame from the peer was refused. The decoder stays in sync after every error: the
/// offending frame is consumed (an oversize frame is skipped without being buffered), so the
/// caller may report it (ERR) and go on, or close the session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The length prefix announces a frame larger than the limit.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    Oversize {
        /// The announced body length.
        len: usize,
        /// The decoder's limit.
        max: usize,
    },
    /// The type byte names no frame type.
    #[error("unknown frame type {0}")]
    UnknownType(u8),
    /// A frame's body does not match its type's layout.
    #[error("malformed frame body: {0}")]
    Malformed(&'static str),
}

impl From<BodyError> for DecodeError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::UnknownType(t) => DecodeError::UnknownType(t),
            BodyError::Field(super::wire::FieldError::Truncated) => {
                DecodeError::Malformed("a field runs past the end of the frame")
            }
            BodyError::Field(super::wire::FieldError::NotUtf8) => {
                DecodeError::Malformed("a string field is not UTF-8")
            }
            BodyError::TrailingBytes => DecodeError::Malformed("bytes left after the last field"),
            BodyError::BadHeaders => DecodeError::Malformed("invalid headers block"),
            BodyError::Empty => DecodeError::Malformed("empty frame"),
        }
    }
}

/// Turns a byte stream, delivered in arbitrary pieces, into frames.
///
/// Memory is bounded: the decoder holds at most one frame of `max_body` bytes plus one read
/// chunk (at most 256 KiB). Fill it either by copying ([`push`](Self::push)) or, without an extra
/// copy, by reading straight into [`read_buffer`](Self::read_buffer) and calling
/// [`commit`](Self::commit).
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// First byte not yet consumed.
    start: usize,
    /// One past the last byte filled.
    end: usize,
    /// Bytes of an oversize frame still to discard.
    skip: usize,
    max_body: usize,
}

impl FrameDecoder {
    /// A decoder that refuses frames whose body (type byte included) exceeds `max_body` bytes.
    pub fn new(max_body: usize) -> Self {
        FrameDecoder {
            buf: Vec::new(),
            start: 0,
            end: 0,
            skip: 0,
            max_body,
        }
    }

    /// The configured limit.
    pub fn max_body(&self) -> usize {
        self.max_body
    }

    /// Bytes buffered and not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// How many bytes the decoder would like next: the rest of the current frame if its length
    /// is known, else a default chunk; always between 16 KiB and 256 KiB.
    pub fn wanted(&self) -> usize {
        let have = self.buffered();
        if self.skip > 0 {
            return self.skip.clamp(1, MAX_CHUNK);
        }
        if have >= LEN_PREFIX {
            let len = self.peek_len();
            if len <= self.max_body {
                let missing = (LEN_PREFIX + len).saturating_sub(have);
                return missing.clamp(DEFAULT_CHUNK, MAX_CHUNK);
            }
        }
        DEFAULT_CHUNK
    }

    /// A writable slice of [`wanted`](Self::wanted) bytes; write the stream's next bytes into
    /// its front and call [`commit`](Self::commit) with how many were written.
    pub fn read_buffer(&mut self) -> &mut [u8] {
        let want = self.wanted();
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.buf.len() - self.end < want && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() < self.end + want {
            self.buf.resize(self.end + want, 0);
        }
        &mut self.buf[self.end..self.end + want]
    }

    /// Marks `n` bytes written into the slice from [`read_buffer`](Self::read_buffer) as filled.
    /// `n` larger than that slice is clamped to it.
    pub fn commit(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
        self.discard_skipped();
    }

    /// Appends a copy of `data`. The buffer grows only as far as the bytes not yet returned as
    /// frames need (an idle session's decoder holds no chunk-sized buffer), and the consumed
    /// front is dropped before it grows.
    pub fn push(&mut self, mut data: &[u8]) {
        if self.skip > 0 {
            // Skipping outlasts the buffered bytes (`discard_skipped` ran at the last commit),
            // so these bytes are still the refused frame's.
            let n = self.skip.min(data.len());
            self.skip -= n;
            data = &data[n..];
        }
        if data.is_empty() {
            return;
        }
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 && self.buf.capacity() - self.end < data.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        self.buf.truncate(self.end);
        self.buf.extend_from_slice(data);
        self.end = self.buf.len();
    }

    fn discard_skipped(&mut self) {
        let n = self.skip.min(self.buffered());
        self.skip -= n;
        self.start += n;
    }

    fn peek_len(&self) -> usize {
        let mut len = [0u8; LEN_PREFIX];
        len.copy_from_slice(&self.buf[self.start..self.start + LEN_PREFIX]);
        usize::try_from(u32::from_le_bytes(len)).unwrap_or(usize::MAX)
    }

    /// The frame at the front while only part of it has arrived: its body bytes so far (type
    /// byte first) and the whole body's announced length. `None` when no frame is under way, when
    /// the front frame is whole (take it with [`next_frame`](Self::next_frame)), or while a
    /// refused frame is skipped. Cut-through delivery reads a large PUB's head and payload here
    /// before the frame is complete.
    pub fn partial(&self) -> Option<(&[u8], usize)> {
        if self.skip > 0 || self.buffered() < LEN_PREFIX {
            return None;
        }
        let len = self.peek_len();
        let have = self.buffered() - LEN_PREFIX;
        if len > self.max_body || have >= len {
            return None;
        }
        let body_start = self.start + LEN_PREFIX;
        Some((&self.buf[body_start..self.end], len))
    }

    /// The next whole frame, `None` if more bytes are needed, or an error for a refused frame
    /// (which is consumed, so calling again continues with the next one).
    #[must_use]
    pub fn next_frame(&mut self) -> Option<Result<Frame<'_>, DecodeError>> {
        self.discard_skipped();
        if self.buffered() < LEN_PREFIX {
            return None;
        }
        let len = self.peek_len();
        if len > self.max_body {
            self.start += LEN_PREFIX;
            self.skip = len;
            self.discard_skipped();
            return Some(Err(DecodeError::Oversize {
                len,
                max: self.max_body,
            }));
        }
        if self.buffered() < LEN_PREFIX + len {
            return None;
        }
        let body_start = self.start + LEN_PREFIX;
        let body_end = body_start + len;
        self.start = body_end;
        Some(parse_body(&self.buf[body_start..body_end]).map_err(DecodeError::from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Frame, Headers, Pub, encode_headers};

    fn sample_frames(headers: &[u8]) -> Vec<Frame<'_>> {
        vec![
            Frame::Ping { req_id: 1 },
            Frame::Pub(Pub {
                subject: "a.b",
                reply: Some("_INBOX.x.1"),
                headers: Some(Headers::parse(headers).unwrap()),
                request: true,
                payload: b"hello",
            }),
            Frame::Pub(Pub {
                subject: "c",
                reply: None,
                headers: None,
                request: false,
                payload: &[],
            }),
            Frame::Ok { req_id: 9 },
        ]
    }

    #[test]
    fn byte_by_byte_input_yields_the_same_frames() {
        let mut h = Vec::new();
        encode_headers([("k", "v")], &mut h).unwrap();
        let frames = sample_frames(&h);
        let mut wire = Vec::new();
        for f in &frames {
            f.encode(&mut wire);
        }
        let mut dec = FrameDecoder::new(1024);
        let mut got = 0;
        for b in &wire {
            dec.push(std::slice::from_ref(b));
            while let Some(f) = dec.next_frame() {
                assert_eq!(f.unwrap(), frames[got]);
                got += 1;
            }
        }
        assert_eq!(got, frames.len());
        assert_eq!(dec.buffered(), 0);
    }

    #[test]
    fn oversize_frame_is_refused_at_its_prefix_and_skipped_unbuffered() {
        let big = vec![7u8; 5000];
        let mut wire = Vec::new();
        Frame::Pub(Pub {
            subject: "s",
            reply: None,
            headers: None,
            request: false,
            payload: &big,
        })
        .encode(&mut wire);
        Frame::Ping { req_id: 3 }.encode(&mut wire);
        let mut dec = FrameDecoder::new(100);
        // Only the prefix and a little more arrive: already refused.
        dec.push(&wire[..10]);
        assert!(matches!(
            dec.next_frame(),
            Some(Err(DecodeError::Oversize { max: 100, .. }))
        ));
        assert!(dec.next_frame().is_none());
        for chunk in wire[10..].chunks(333) {
            dec.push(chunk);
            assert!(dec.buffered() <= 333);
            if let Some(f) = dec.next_frame() {
                assert_eq!(f, Ok(Frame::Ping { req_id: 3 }));
            }
        }
        assert_eq!(dec.buffered(), 0);
    }

    #[test]
    fn malformed_body_is_reported_and_stream_stays_in_sync() {
        let mut wire = vec![2, 0, 0, 0, 200, 1]; // unknown type 200
        wire.extend_from_slice(&[3, 0, 0, 0, 7, 1, 0]); // PING with a truncated id
        Frame::Pong { req_id: 5 }.encode(&mut wire);
        let mut dec = FrameDecoder::new(64);
        dec.push(&wire);
        assert_eq!(dec.next_frame(), Some(Err(DecodeError::UnknownType(200))));
        assert!(matches!(
            dec.next_frame(),
            Some(Err(DecodeError::Malformed(_)))
        ));
        assert_eq!(dec.next_frame(), Some(Ok(Frame::Pong { req_id: 5 })));
        assert_eq!(dec.next_frame(), None);
    }

    #[test]
    fn zero_copy_reads_respect_wanted() {
        let payload = vec![1u8; 100_000];
        let mut wire = Vec::new();
        Frame::Pub(Pub {
            subject: "v",
            reply: None,
            headers: None,
            request: false,
            payload: &payload,
        })
        .encode(&mut wire);
        let mut dec = FrameDecoder::new(200_000);
        let mut src = &wire[..];
        let mut frames = 0;
        while !src.is_empty() {
            let dst = dec.read_buffer();
            assert!(dst.len() <= MAX_CHUNK);
            let n = dst.len().min(src.len()).min(1367);
            dst[..n].copy_from_slice(&src[..n]);
            dec.commit(n);
            src = &src[n..];
            while let Some(f) = dec.next_frame() {
                match f.unwrap() {
                    Frame::Pub(p) => assert_eq!(p.payload.len(), 100_000),
                    other => panic!("unexpected {other:?}"),
                }
                frames += 1;
            }
        }
        assert_eq!(frames, 1);
        assert!(dec.buf.len() < 100_000 + 2 * MAX_CHUNK);
    }

    #[test]
    fn a_frame_under_way_is_shown_partially_until_it_is_whole() {
        let payload = vec![5u8; 3000];
        let frame = Frame::Pub(Pub {
            subject: "v",
            reply: None,
            headers: None,
            request: false,
            payload: &payload,
        });
        let mut wire = Vec::new();
        frame.encode(&mut wire);
        let mut dec = FrameDecoder::new(10_000);
        assert_eq!(dec.partial(), None);
        dec.push(&wire[..2]);
        assert_eq!(dec.partial(), None, "the length prefix is not there yet");
        dec.push(&wire[2..1000]);
        let (body, len) = dec.partial().expect("under way");
        assert_eq!(len, wire.len() - LEN_PREFIX);
        assert_eq!(body, &wire[LEN_PREFIX..1000]);
        assert!(dec.next_frame().is_none());
        dec.push(&wire[1000..]);
        assert_eq!(dec.partial(), None, "whole: take it with next_frame");
        assert_eq!(dec.next_frame(), Some(Ok(frame)));
        // An oversize frame being skipped is not shown.
        let mut small = FrameDecoder::new(100);
        small.push(&wire[..1000]);
        assert!(small.next_frame().unwrap().is_err());
        assert_eq!(small.partial(), None);
    }
}
