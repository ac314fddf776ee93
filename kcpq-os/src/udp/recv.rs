//! The buffers of one batched receive call, split back into datagrams.

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;

use quinn_udp::RecvMeta;

use super::{IoStats, RECV_GROUP, RECV_SLOT_LEN, RECV_SLOTS};

/// [`RECV_SLOTS`] receive buffers of [`RECV_SLOT_LEN`] bytes, what the last receive call put in
/// each, and the datagrams read from the kernel but not yet handed out.
pub struct RecvArea {
    /// The buffers, back to back.
    area: Vec<u8>,
    /// What the last receive call put in each buffer.
    metas: [RecvMeta; RECV_SLOTS],
    /// Buffers the last receive call filled.
    filled: usize,
    /// The buffer being handed out.
    next: usize,
    /// Where the next datagram starts in buffer `next`.
    offset: usize,
}

impl std::fmt::Debug for RecvArea {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvArea")
            .field("filled", &self.filled)
            .field("next", &self.next)
            .field("offset", &self.offset)
            .finish_non_exhaustive()
    }
}

impl Default for RecvArea {
    fn default() -> Self {
        RecvArea {
            area: vec![0; RECV_SLOTS * RECV_SLOT_LEN],
            metas: [RecvMeta::default(); RECV_SLOTS],
            filled: 0,
            next: 0,
            offset: 0,
        }
    }
}

impl RecvArea {
    /// Whether datagrams read from the kernel wait to be handed out.
    pub fn has_pending(&self) -> bool {
        self.next < self.filled
    }

    /// Hands up to `max` datagrams to `handle`, [`RECV_GROUP`] or fewer at a time, in arrival
    /// order: those left from the last receive call first, then new ones, calling `recv` (one
    /// non-blocking receive into the buffers, as `UdpSocketState::recv` does) only when none
    /// are left; returns how many. Stops when `recv` finds nothing (`WouldBlock`) or fails (a
    /// failure, an ICMP report on some systems, is logged and read as "nothing queued"). A
    /// group never spans two receive calls.
    pub fn recv_batch(
        &mut self,
        max: usize,
        stats: &mut IoStats,
        mut recv: impl FnMut(&mut [IoSliceMut<'_>], &mut [RecvMeta]) -> io::Result<usize>,
        mut handle: impl FnMut(&mut [(SocketAddr, &mut [u8])]),
    ) -> usize {
        let mut handled = 0;
        while handled < max {
            if !self.has_pending() && !self.refill(stats, &mut recv) {
                break;
            }
            handled += self.next_group(max - handled, &mut handle);
        }
        stats.received += handled as u64;
        handled
    }

    /// Hands the next group of up to `max` pending datagrams (and at most [`RECV_GROUP`]) to
    /// `handle`; returns how many.
    fn next_group(
        &mut self,
        max: usize,
        handle: &mut impl FnMut(&mut [(SocketAddr, &mut [u8])]),
    ) -> usize {
        // Where the group's datagrams lie in `area`, in ascending order.
        let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
        let mut places = [(unspecified, 0, 0); RECV_GROUP];
        let mut n = 0;
        while n < RECV_GROUP && n < max && self.has_pending() {
            let meta = self.metas[self.next];
            let len = meta.len.min(RECV_SLOT_LEN);
            let start = self.next * RECV_SLOT_LEN;
            let end = datagram_end(len, meta.stride, self.offset);
            places[n] = (meta.addr, start + self.offset, start + end);
            n += 1;
            if end >= len {
                self.next += 1;
                self.offset = 0;
            } else {
                self.offset = end;
            }
        }
        let mut group: [(SocketAddr, &mut [u8]); RECV_GROUP] =
            std::array::from_fn(|_| (unspecified, &mut [][..]));
        let mut rest = &mut self.area[..];
        let mut consumed = 0;
        for (entry, &(addr, start, end)) in group.iter_mut().zip(&places[..n]) {
            let (_, tail) = std::mem::take(&mut rest).split_at_mut(start - consumed);
            let (datagram, tail) = tail.split_at_mut(end - start);
            *entry = (addr, datagram);
            rest = tail;
            consumed = end;
        }
        handle(&mut group[..n]);
        n
    }

    /// Reads what the kernel holds into the buffers with `recv`; false when nothing was read.
    fn refill(
        &mut self,
        stats: &mut IoStats,
        recv: &mut impl FnMut(&mut [IoSliceMut<'_>], &mut [RecvMeta]) -> io::Result<usize>,
    ) -> bool {
        self.filled = 0;
        self.next = 0;
        self.offset = 0;
        let mut slots = self.area.chunks_mut(RECV_SLOT_LEN);
        let mut bufs: [IoSliceMut<'_>; RECV_SLOTS] =
            std::array::from_fn(|_| IoSliceMut::new(slots.next().unwrap_or_default()));
        match recv(&mut bufs, &mut self.metas) {
            Ok(filled) => {
                self.filled = filled.min(RECV_SLOTS);
                let datagrams: usize = self.metas[..self.filled]
                    .iter()
                    .map(|meta| match meta.stride {
                        0 => 1,
                        stride => meta.len.div_ceil(stride).max(1),
                    })
                    .sum();
                stats.count_recv(datagrams);
                self.filled > 0
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
            Err(e) => {
                log::debug!("UDP receive error: {e}");
                false
            }
        }
    }
}

/// Where the datagram that starts at `offset` in a received buffer of `len` bytes with datagrams
/// `stride` bytes apart ends: a stride of 0 (no GRO information) means one datagram. An empty
/// datagram is one datagram too.
pub fn datagram_end(len: usize, stride: usize, offset: usize) -> usize {
    let stride = if stride == 0 { len } else { stride };
    offset.saturating_add(stride).min(len)
}
