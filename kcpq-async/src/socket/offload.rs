//! The offload path of [`super::UdpIo`]: batched receive with GRO trains split back into
//! datagrams, and GSO trains on send, through `quinn-udp`.

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;

use quinn_udp::{RecvMeta, UdpSockRef, UdpSocketState};

use super::{IoStats, MAX_GSO_BYTES, RECV_GROUP, RECV_SLOT_LEN, RECV_SLOTS};
use crate::runtime::{Interest, Socket, write_with};

/// The `quinn-udp` state of one socket, its receive buffers, and the datagrams read from the
/// kernel but not yet handed to the caller.
pub(super) struct Offload {
    state: UdpSocketState,
    /// [`RECV_SLOTS`] buffers of [`RECV_SLOT_LEN`] bytes, back to back.
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

impl std::fmt::Debug for Offload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Offload")
            .field("max_gso_segments", &self.state.max_gso_segments())
            .field("gro_segments", &self.state.gro_segments())
            .field("filled", &self.filled)
            .field("next", &self.next)
            .field("offset", &self.offset)
            .finish_non_exhaustive()
    }
}

/// A run of queued datagrams that leaves in one send call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Train {
    /// Datagrams in the train.
    pub(super) count: usize,
    /// Their total length.
    pub(super) bytes: usize,
    /// The length of each but the last (which may be shorter).
    pub(super) segment: usize,
}

/// The train that starts the queue: the first datagram and those after it with the same
/// destination and length, the last of which may be shorter, within `max_segments` datagrams
/// and [`MAX_GSO_BYTES`]. Empty datagrams are never put in a train (GSO would lose them).
pub(super) fn next_train(queued: &[(SocketAddr, usize)], max_segments: usize) -> Train {
    let Some(&(destination, segment)) = queued.first() else {
        return Train {
            count: 0,
            bytes: 0,
            segment: 0,
        };
    };
    let mut train = Train {
        count: 1,
        bytes: segment,
        segment,
    };
    if segment == 0 {
        return train;
    }
    for &(to, len) in &queued[1..] {
        if train.count >= max_segments
            || to != destination
            || len == 0
            || len > segment
            || train.bytes + len > MAX_GSO_BYTES
        {
            break;
        }
        train.count += 1;
        train.bytes += len;
        if len < segment {
            break;
        }
    }
    train
}

/// Where the datagram that starts at `offset` in a received buffer of `len` bytes with datagrams
/// `stride` bytes apart ends: a stride of 0 (no GRO information) means one datagram. An empty
/// datagram is one datagram too.
pub(super) fn datagram_end(len: usize, stride: usize, offset: usize) -> usize {
    let stride = if stride == 0 { len } else { stride };
    offset.saturating_add(stride).min(len)
}

impl Offload {
    /// Sets `socket` up for offload (non-blocking, GRO on where available).
    pub(super) fn new(socket: UdpSockRef<'_>) -> io::Result<Offload> {
        let state = UdpSocketState::new(socket)?;
        Ok(Offload {
            state,
            area: vec![0; RECV_SLOTS * RECV_SLOT_LEN],
            metas: [RecvMeta::default(); RECV_SLOTS],
            filled: 0,
            next: 0,
            offset: 0,
        })
    }

    /// Most datagrams one send call may carry now; `quinn-udp` lowers it to 1 when the device
    /// refuses GSO.
    pub(super) fn max_gso_segments(&self) -> usize {
        self.state.max_gso_segments()
    }

    /// Most datagrams the kernel puts in one receive buffer (1 without GRO).
    #[cfg(test)]
    pub(super) fn gro_segments(&self) -> usize {
        self.state.gro_segments()
    }

    /// Whether datagrams read from the kernel wait to be handed out.
    pub(super) fn has_pending(&self) -> bool {
        self.next < self.filled
    }

    /// Hands up to `max` datagrams to `handle`, [`RECV_GROUP`] or fewer at a time: those left
    /// from the last receive call first, then new ones, reading the kernel again only when none
    /// are left. A group never spans two receive calls.
    pub(super) fn recv_batch(
        &mut self,
        socket: &impl Socket,
        max: usize,
        stats: &mut IoStats,
        mut handle: impl FnMut(&mut [(SocketAddr, &mut [u8])]),
    ) -> usize {
        let mut handled = 0;
        while handled < max {
            if !self.has_pending() && !self.refill(socket, stats) {
                break;
            }
            // Where the group's datagrams lie in `area`, in ascending order.
            let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
            let mut places = [(unspecified, 0, 0); RECV_GROUP];
            let mut n = 0;
            while n < RECV_GROUP && handled + n < max && self.has_pending() {
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
            handled += n;
        }
        handled
    }

    /// Reads what the kernel holds into the buffers; false when nothing was read.
    fn refill(&mut self, socket: &impl Socket, stats: &mut IoStats) -> bool {
        self.filled = 0;
        self.next = 0;
        self.offset = 0;
        let mut slots = self.area.chunks_mut(RECV_SLOT_LEN);
        let mut bufs: [IoSliceMut<'_>; RECV_SLOTS] =
            std::array::from_fn(|_| IoSliceMut::new(slots.next().unwrap_or_default()));
        let (state, metas) = (&self.state, &mut self.metas);
        let received = socket.try_io(Interest::Read, || {
            state.recv(socket.sock_ref(), &mut bufs, metas)
        });
        match received {
            Ok(filled) => {
                self.filled = filled.min(RECV_SLOTS);
                let datagrams: usize = self.metas[..self.filled]
                    .iter()
                    .map(|meta| match meta.stride {
                        0 => 1,
                        stride => meta.len.div_ceil(stride).max(1),
                    })
                    .sum();
                stats.recv_calls += 1;
                stats.largest_recv = stats.largest_recv.max(datagrams);
                self.filled > 0
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
            Err(e) => {
                log::debug!("UDP receive error: {e}");
                false
            }
        }
    }

    /// Sends `contents`, the `train.count` datagrams of `train` to `destination`, in one call
    /// (waiting while the socket's buffer is full). When the device refuses GSO, `quinn-udp`
    /// turns it off and the datagrams are sent again one by one.
    pub(super) async fn send_train(
        &self,
        socket: &impl Socket,
        destination: SocketAddr,
        contents: &[u8],
        train: &Train,
        stats: &mut IoStats,
    ) {
        let segment_size = (train.count > 1).then_some(train.segment);
        match self.send(socket, destination, contents, segment_size).await {
            Ok(()) => {
                stats.sent += train.count as u64;
                stats.send_calls += 1;
                stats.largest_send = stats.largest_send.max(train.count);
            }
            Err(e) if train.count > 1 && self.state.max_gso_segments() == 1 => {
                log::debug!("GSO send to {destination} failed ({e}); sending one by one");
                for datagram in contents.chunks(train.segment) {
                    match self.send(socket, destination, datagram, None).await {
                        Ok(()) => {
                            stats.sent += 1;
                            stats.send_calls += 1;
                            stats.largest_send = stats.largest_send.max(1);
                        }
                        Err(e) => {
                            stats.send_failures += 1;
                            log::debug!("UDP send to {destination} failed: {e}");
                        }
                    }
                }
            }
            Err(e) => {
                stats.send_failures += train.count as u64;
                log::debug!("UDP send to {destination} failed: {e}");
            }
        }
    }

    /// One send call, retried when the socket becomes writable again.
    async fn send(
        &self,
        socket: &impl Socket,
        destination: SocketAddr,
        contents: &[u8],
        segment_size: Option<usize>,
    ) -> io::Result<()> {
        let transmit = quinn_udp::Transmit {
            destination,
            ecn: None,
            contents,
            segment_size,
            src_ip: None,
        };
        write_with(socket, || self.state.try_send(socket.sock_ref(), &transmit)).await
    }
}
