//! Message headers: an ordered list of (name, value) pairs carried by PUB and MSG.
//!
//! Encoding (inside the frame's `u32`-length-prefixed headers block):
//!
//! ```text
//! count: u16, then count times: name_len: u16, name, value_len: u16, value
//! ```
//!
//! Names are non-empty printable ASCII without `:` or spaces (as in NATS and HTTP); values are
//! UTF-8 without CR or LF. Names may repeat; order is kept. [`Headers`] is a validated, borrowed
//! view over the encoded bytes, so decoding a MSG allocates nothing.

use super::wire::{FieldError, Reader, put_str16, put_u16};

/// Why a set of headers was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// A header name is empty or holds a character other than printable ASCII without `:`.
    #[error("invalid header name {0:?}: use printable ASCII without ':' or spaces")]
    InvalidName(String),
    /// A header value holds CR or LF.
    #[error("invalid value for header {0:?}: values may not contain CR or LF")]
    InvalidValue(String),
    /// More than 65 535 headers, or a name or value longer than 65 535 bytes.
    #[error("headers too large: at most 65535 headers of at most 65535 bytes each")]
    TooLarge,
    /// The encoded block is malformed (only from the network).
    #[error("malformed headers block")]
    Malformed,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
}

fn valid_value(value: &str) -> bool {
    !value.bytes().any(|b| b == b'\r' || b == b'\n')
}

/// A validated, borrowed headers block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Headers<'a> {
    raw: &'a [u8],
    count: u16,
}

impl<'a> Headers<'a> {
    /// Validates an encoded headers block.
    pub fn parse(raw: &'a [u8]) -> Result<Headers<'a>, HeaderError> {
        let mut r = Reader::new(raw);
        let count = r.u16().map_err(|_| HeaderError::Malformed)?;
        for _ in 0..count {
            let (name, value) = read_pair(&mut r).map_err(|_| HeaderError::Malformed)?;
            if !valid_name(name) || !valid_value(value) {
                return Err(HeaderError::Malformed);
            }
        }
        if !r.is_empty() {
            return Err(HeaderError::Malformed);
        }
        Ok(Headers { raw, count })
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }

    /// The number of (name, value) pairs.
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The pairs, in order.
    pub fn iter(&self) -> HeadersIter<'a> {
        let mut reader = Reader::new(self.raw);
        // The count was validated in `parse`; skip it.
        let _ = reader.u16();
        HeadersIter {
            reader,
            left: self.count,
        }
    }

    /// The first value of the header `name` (names compare ASCII case-insensitively).
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

fn read_pair<'a>(r: &mut Reader<'a>) -> Result<(&'a str, &'a str), FieldError> {
    Ok((r.str16()?, r.str16()?))
}

/// Iterator over the pairs of a [`Headers`] block.
#[derive(Debug)]
pub struct HeadersIter<'a> {
    reader: Reader<'a>,
    left: u16,
}

impl<'a> Iterator for HeadersIter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // The block was validated in `Headers::parse`, so reading cannot fail here.
        read_pair(&mut self.reader).ok()
    }
}

/// Encodes `pairs` as a headers block appended to `out`, validating names and values.
/// On error `out` is left as it was.
pub fn encode_headers<'p>(
    pairs: impl IntoIterator<Item = (&'p str, &'p str)>,
    out: &mut Vec<u8>,
) -> Result<(), HeaderError> {
    let start = out.len();
    put_u16(out, 0);
    let mut count: u16 = 0;
    let result = (|| {
        for (name, value) in pairs {
            if !valid_name(name) {
                return Err(HeaderError::InvalidName(name.to_owned()));
            }
            if !valid_value(value) {
                return Err(HeaderError::InvalidValue(name.to_owned()));
            }
            let limit = usize::from(u16::MAX);
            if name.len() > limit || value.len() > limit {
                return Err(HeaderError::TooLarge);
            }
            count = count.checked_add(1).ok_or(HeaderError::TooLarge)?;
            put_str16(out, name);
            put_str16(out, value);
        }
        Ok(())
    })();
    match result {
        Ok(()) => {
            out[start..start + 2].copy_from_slice(&count.to_le_bytes());
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_order_and_duplicates() {
        let mut buf = Vec::new();
        encode_headers(
            [("Trace-Id", "abc"), ("X", "1"), ("X", "2"), ("Empty", "")],
            &mut buf,
        )
        .unwrap();
        let h = Headers::parse(&buf).unwrap();
        assert_eq!(h.len(), 4);
        let pairs: Vec<_> = h.iter().collect();
        assert_eq!(
            pairs,
            [("Trace-Id", "abc"), ("X", "1"), ("X", "2"), ("Empty", "")]
        );
        assert_eq!(h.get("trace-id"), Some("abc"));
        assert_eq!(h.get("x"), Some("1"));
        assert_eq!(h.get("missing"), None);
    }

    #[test]
    fn invalid_pairs_are_refused_and_leave_output_untouched() {
        let mut buf = vec![9];
        assert_eq!(
            encode_headers([("ok", "1"), ("bad name", "v")], &mut buf),
            Err(HeaderError::InvalidName("bad name".into()))
        );
        assert_eq!(
            encode_headers([("a:b", "v")], &mut buf),
            Err(HeaderError::InvalidName("a:b".into()))
        );
        assert_eq!(
            encode_headers([("", "v")], &mut buf),
            Err(HeaderError::InvalidName("".into()))
        );
        assert_eq!(
            encode_headers([("k", "line\r\nbreak")], &mut buf),
            Err(HeaderError::InvalidValue("k".into()))
        );
        assert_eq!(buf, [9]);
    }

    #[test]
    fn malformed_blocks_are_rejected() {
        assert_eq!(Headers::parse(&[]), Err(HeaderError::Malformed));
        assert_eq!(Headers::parse(&[1, 0]), Err(HeaderError::Malformed));
        // count 0 but trailing bytes
        assert_eq!(Headers::parse(&[0, 0, 1]), Err(HeaderError::Malformed));
        // a name with a space smuggled in on the wire
        let raw = [1, 0, 3, 0, b'a', b' ', b'b', 0, 0];
        assert_eq!(Headers::parse(&raw), Err(HeaderError::Malformed));
        assert!(Headers::parse(&[0, 0]).unwrap().is_empty());
    }
}
