//! The send side's byte store: one growable ring holding the payload of every queued and
//! unacknowledged segment, addressed by absolute stream offsets.
//!
//! Segments refer to `(offset, len)` ranges, so a write is one copy into the ring and a
//! transmission is one copy out of it; no buffer exists per segment. The ring starts at
//! [`MIN_RING`] bytes, grows by doubling (allocation during warm-up only, up to the configured
//! send buffer limit) and never shrinks.

/// The smallest storage: a server holds one ring per session, and most sessions of a big
/// deployment only ever have a few small frames in flight (an idle subscriber's PONGs and
/// acknowledgements of its subscriptions). Busy sessions double their way up once.
const MIN_RING: usize = 256;

/// A FIFO of bytes with absolute offsets: bytes are appended at the end and released from the
/// front; any live range can be read as at most two slices.
#[derive(Debug, Default)]
pub(crate) struct ByteRing {
    buf: Vec<u8>,
    /// Physical index of the first live byte.
    head: usize,
    /// Number of live bytes.
    len: usize,
    /// Absolute offset of the first live byte.
    start: u64,
}

impl ByteRing {
    /// Live bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Absolute offset one past the last live byte (where the next push lands).
    pub(crate) fn end_offset(&self) -> u64 {
        self.start + self.len as u64
    }

    /// Appends `data`, growing the storage if needed.
    pub(crate) fn push(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let needed = self.len + data.len();
        if needed > self.buf.len() {
            self.grow(needed);
        }
        let cap = self.buf.len();
        let tail = (self.head + self.len) % cap;
        let first = data.len().min(cap - tail);
        self.buf[tail..tail + first].copy_from_slice(&data[..first]);
        self.buf[..data.len() - first].copy_from_slice(&data[first..]);
        self.len = needed;
    }

    fn grow(&mut self, needed: usize) {
        let new_cap = needed.next_power_of_two().max(MIN_RING);
        let mut fresh = vec![0u8; new_cap];
        let (a, b) = self.live_slices(0, self.len);
        fresh[..a.len()].copy_from_slice(a);
        fresh[a.len()..a.len() + b.len()].copy_from_slice(b);
        self.buf = fresh;
        self.head = 0;
    }

    /// Releases every byte before absolute offset `offset` (clamped to the live range).
    pub(crate) fn release_to(&mut self, offset: u64) {
        let drop = offset.saturating_sub(self.start).min(self.len as u64) as usize;
        if drop == 0 {
            return;
        }
        self.start += drop as u64;
        self.len -= drop;
        self.head = if self.len == 0 {
            0
        } else {
            (self.head + drop) % self.buf.len()
        };
    }

    /// The bytes of `[offset, offset + len)` as two slices (the second empty unless the range
    /// wraps). The range must be live; a range outside it yields what part of it is live.
    pub(crate) fn slices(&self, offset: u64, len: usize) -> (&[u8], &[u8]) {
        let rel = offset.saturating_sub(self.start).min(self.len as u64) as usize;
        let len = len.min(self.len - rel);
        self.live_slices(rel, len)
    }

    fn live_slices(&self, rel: usize, len: usize) -> (&[u8], &[u8]) {
        if len == 0 {
            return (&[], &[]);
        }
        let cap = self.buf.len();
        let begin = (self.head + rel) % cap;
        let first = len.min(cap - begin);
        (&self.buf[begin..begin + first], &self.buf[..len - first])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(ring: &ByteRing, offset: u64, len: usize) -> Vec<u8> {
        let (a, b) = ring.slices(offset, len);
        [a, b].concat()
    }

    #[test]
    fn storage_starts_small_and_doubles_to_fit() {
        let mut ring = ByteRing::default();
        ring.push(&[1; 120]);
        assert_eq!(ring.buf.len(), MIN_RING);
        ring.push(&[2; 200]);
        assert_eq!(ring.buf.len(), 512);
        assert_eq!(read(&ring, 0, 120), [1; 120]);
        assert_eq!(read(&ring, 120, 200), [2; 200]);
    }

    #[test]
    fn push_release_and_wrap() {
        let mut ring = ByteRing::default();
        let data: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
        ring.push(&data);
        assert_eq!(ring.len(), 3000);
        assert_eq!(ring.buf.len(), 4096);
        ring.release_to(2500);
        assert_eq!(ring.len(), 500);
        ring.push(&data[..2000]);
        // 500 live bytes at the end of storage, then 2000 wrapped to the front.
        assert_eq!(ring.buf.len(), 4096);
        assert_eq!(read(&ring, 2500, 500), &data[2500..]);
        assert_eq!(
            read(&ring, 2900, 300),
            [&data[2900..], &data[..200]].concat()
        );
        // Logical 4000..4200 straddles the physical end of the storage.
        assert_eq!(read(&ring, 4000, 200), &data[1000..1200]);
        let (a, b) = ring.slices(4000, 200);
        assert!(!a.is_empty() && !b.is_empty());
        assert_eq!(ring.end_offset(), 5000);
    }

    #[test]
    fn grow_keeps_order_across_a_wrap() {
        let mut ring = ByteRing::default();
        ring.push(&[1; 4000]);
        ring.release_to(3990);
        ring.push(&[2; 100]);
        ring.push(&[3; 5000]);
        assert_eq!(ring.len(), 5110);
        let all = read(&ring, 3990, 5110);
        assert_eq!(&all[..10], &[1; 10]);
        assert_eq!(&all[10..110], &[2; 100][..]);
        assert_eq!(&all[110..], &[3; 5000][..]);
    }

    #[test]
    fn out_of_range_is_clamped() {
        let mut ring = ByteRing::default();
        ring.push(b"abc");
        ring.release_to(1);
        assert_eq!(read(&ring, 0, 10), b"bc");
        assert_eq!(read(&ring, 9, 10), b"");
        ring.release_to(100);
        assert_eq!(ring.len(), 0);
        assert_eq!(ring.end_offset(), 3);
    }
}
