//! Primitive field readers and writers shared by the frame encoder and decoder.

/// Why a frame body could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldError {
    /// The body ended inside a field.
    Truncated,
    /// A string field is not UTF-8.
    NotUtf8,
}

/// A cursor over a frame body.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], FieldError> {
        if self.bytes.len() < n {
            return Err(FieldError::Truncated);
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], FieldError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, FieldError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, FieldError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, FieldError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, FieldError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A `u16`-length-prefixed UTF-8 string.
    pub(crate) fn str16(&mut self) -> Result<&'a str, FieldError> {
        let len = usize::from(self.u16()?);
        std::str::from_utf8(self.take(len)?).map_err(|_| FieldError::NotUtf8)
    }

    /// A `u32`-length-prefixed byte string.
    pub(crate) fn bytes32(&mut self) -> Result<&'a [u8], FieldError> {
        let len = usize::try_from(self.u32()?).map_err(|_| FieldError::Truncated)?;
        self.take(len)
    }

    /// Everything not read yet.
    pub(crate) fn rest(self) -> &'a [u8] {
        self.bytes
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

pub(crate) fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Writes a `u16`-length-prefixed string, truncating nothing: callers validate lengths first
/// (subjects are bounded far below 64 KiB); an over-long string is cut at 65 535 bytes on a
/// character boundary so the frame stays well-formed.
pub(crate) fn put_str16(out: &mut Vec<u8>, s: &str) {
    let mut end = s.len().min(usize::from(u16::MAX));
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let len = u16::try_from(end).expect("end is at most u16::MAX");
    put_u16(out, len);
    out.extend_from_slice(&s.as_bytes()[..end]);
}

pub(crate) fn put_bytes32(out: &mut Vec<u8>, b: &[u8]) {
    put_u32(out, u32::try_from(b.len()).unwrap_or(u32::MAX));
    out.extend_from_slice(b);
}

pub(crate) const fn str16_len(s: &str) -> usize {
    2 + if s.len() > u16::MAX as usize {
        u16::MAX as usize
    } else {
        s.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_primitives() {
        let mut out = Vec::new();
        out.push(7);
        put_u16(&mut out, 0xBEEF);
        put_u32(&mut out, 0xDEAD_BEEF);
        put_u64(&mut out, u64::MAX - 1);
        put_str16(&mut out, "héllo");
        put_bytes32(&mut out, b"xyz");
        out.extend_from_slice(b"tail");
        let mut r = Reader::new(&out);
        assert_eq!(r.u8(), Ok(7));
        assert_eq!(r.u16(), Ok(0xBEEF));
        assert_eq!(r.u32(), Ok(0xDEAD_BEEF));
        assert_eq!(r.u64(), Ok(u64::MAX - 1));
        assert_eq!(r.str16(), Ok("héllo"));
        assert_eq!(r.bytes32(), Ok(&b"xyz"[..]));
        assert_eq!(r.rest(), b"tail");
    }

    #[test]
    fn truncation_and_bad_utf8_are_errors() {
        assert_eq!(Reader::new(&[1]).u16(), Err(FieldError::Truncated));
        assert_eq!(
            Reader::new(&[5, 0, b'a']).str16(),
            Err(FieldError::Truncated)
        );
        assert_eq!(Reader::new(&[1, 0, 0xFF]).str16(), Err(FieldError::NotUtf8));
        assert_eq!(
            Reader::new(&[9, 0, 0, 0, 1]).bytes32(),
            Err(FieldError::Truncated)
        );
    }

    #[test]
    fn over_long_string_is_cut_on_a_char_boundary() {
        let s = "é".repeat(40_000); // 80 000 bytes
        let mut out = Vec::new();
        put_str16(&mut out, &s);
        let mut r = Reader::new(&out);
        let got = r.str16().unwrap();
        assert!(got.len() <= usize::from(u16::MAX));
        assert!(got.chars().all(|c| c == 'é'));
    }
}
