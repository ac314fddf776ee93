//! The outgoing queue and the trains it is sent in.

use std::net::SocketAddr;

use kcpq_core::Transmit;

use super::{MAX_BATCH, MAX_GSO_BYTES};

/// Outgoing datagrams, back to back in one buffer, waiting to be sent in order.
#[derive(Debug)]
pub struct SendQueue {
    /// The longest datagram a slot holds.
    slot_len: usize,
    batch: Vec<u8>,
    /// Destination and length of each queued datagram.
    queued: Vec<(SocketAddr, usize)>,
    /// Bytes of `batch` holding queued datagrams.
    used: usize,
}

/// A run of queued datagrams that leaves in one send call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Train {
    /// Datagrams in the train.
    pub count: usize,
    /// Their total length.
    pub bytes: usize,
    /// The length of each but the last (which may be shorter).
    pub segment: usize,
}

/// Where [`SendQueue::next_train`] goes on: the first datagram not yet handed out.
#[derive(Debug, Default, Clone, Copy)]
pub struct TrainCursor {
    index: usize,
    offset: usize,
}

impl SendQueue {
    /// An empty queue of datagrams of at most `max_datagram` bytes.
    pub fn new(max_datagram: usize) -> SendQueue {
        SendQueue {
            slot_len: max_datagram,
            batch: Vec::with_capacity(max_datagram * MAX_BATCH),
            queued: Vec::with_capacity(MAX_BATCH),
            used: 0,
        }
    }

    /// The buffer the next outgoing datagram is written into.
    pub fn slot(&mut self) -> &mut [u8] {
        let start = self.batch.len();
        self.batch.resize(start + self.slot_len, 0);
        &mut self.batch[start..]
    }

    /// Keeps the datagram just written into [`SendQueue::slot`]; true when the queue is full
    /// ([`MAX_BATCH`] datagrams) and should be sent.
    pub fn commit(&mut self, transmit: Transmit) -> bool {
        let len = transmit.len.min(self.slot_len);
        self.queued.push((transmit.destination, len));
        self.used += len;
        self.batch.truncate(self.used);
        self.queued.len() >= MAX_BATCH
    }

    /// Forgets a slot taken with [`SendQueue::slot`] that was not used.
    pub fn release_slot(&mut self) {
        self.batch.truncate(self.used);
    }

    /// Whether no datagram is queued.
    pub fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }

    /// The queued datagrams one by one, in order, with their destinations.
    pub fn datagrams(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        self.queued.iter().scan(0, |offset, &(to, len)| {
            let datagram = &self.batch[*offset..*offset + len];
            *offset += len;
            Some((to, datagram))
        })
    }

    /// The train at `cursor` (within `max_segments` datagrams, see [`next_train`]) with its
    /// destination and contents, and moves the cursor past it; `None` once all are handed out.
    /// `max_segments` may change from one call to the next (a device that refuses GSO).
    pub fn next_train(
        &self,
        cursor: &mut TrainCursor,
        max_segments: usize,
    ) -> Option<(SocketAddr, &[u8], Train)> {
        let queued = self.queued.get(cursor.index..).filter(|q| !q.is_empty())?;
        let train = next_train(queued, max_segments);
        let contents = &self.batch[cursor.offset..cursor.offset + train.bytes];
        cursor.index += train.count;
        cursor.offset += train.bytes;
        Some((queued[0].0, contents, train))
    }

    /// Empties the queue once it has been sent.
    pub fn clear(&mut self) {
        self.queued.clear();
        self.batch.clear();
        self.used = 0;
    }
}

/// What one send call hands `quinn-udp`: `contents` for `destination`, cut into datagrams of
/// `segment_size` bytes by GSO when it is set (a train), one datagram otherwise.
pub fn transmit(
    destination: SocketAddr,
    contents: &[u8],
    segment_size: Option<usize>,
) -> quinn_udp::Transmit<'_> {
    quinn_udp::Transmit {
        destination,
        ecn: None,
        contents,
        segment_size,
        src_ip: None,
    }
}

/// The train that starts the queue: the first datagram and those after it with the same
/// destination and length, the last of which may be shorter, within `max_segments` datagrams
/// and [`MAX_GSO_BYTES`]. Empty datagrams are never put in a train (GSO would lose them).
pub fn next_train(queued: &[(SocketAddr, usize)], max_segments: usize) -> Train {
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
