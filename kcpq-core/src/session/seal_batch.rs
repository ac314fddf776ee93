//! Datagrams sealed in groups, so that their tags are computed together.
//!
//! A server or client that has several datagrams to send writes up to [`kcpq_mac::BATCH`] of
//! them at once: the first into the caller's buffer, the others into this batch's own buffers,
//! then tags them all in one call ([`crate::crypto::finish_all`]). `poll_transmit` hands the
//! rest out one by one before it produces anything new, so datagrams leave in the order they
//! were sealed. The batch holds at most `BATCH - 1` datagrams; its buffers and lists are
//! allocated once and reused.

use std::net::SocketAddr;

use crate::crypto::{UntaggedPacket, finish_all};
use crate::drive::Transmit;

/// Sealed datagrams waiting to be handed out, and the buffers they were written in.
#[derive(Default)]
pub(crate) struct SealBatch {
    /// Up to `BATCH - 1` buffers, allocated as batches first grew that large.
    buffers: Vec<Vec<u8>>,
    /// Destination and length of the datagram in each of `buffers`, in order.
    ready: Vec<(SocketAddr, usize)>,
    /// The first of `ready` not yet handed out.
    next: usize,
    /// The packets being tagged (empty between calls; kept for its capacity).
    untagged: Vec<UntaggedPacket>,
}

impl std::fmt::Debug for SealBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealBatch")
            .field("waiting", &(self.ready.len() - self.next))
            .finish()
    }
}

impl SealBatch {
    /// Copies the next waiting datagram into `buf`, if one waits.
    pub(crate) fn pop(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        let &(destination, len) = self.ready.get(self.next)?;
        let len = len.min(buf.len());
        buf[..len].copy_from_slice(&self.buffers[self.next][..len]);
        self.next += 1;
        if self.next == self.ready.len() {
            self.next = 0;
            self.ready.clear();
        }
        Some(Transmit { destination, len })
    }

    /// Tags `first` (sealed into `buf`) together with up to `BATCH - 1` more datagrams that
    /// `more` seals into the batch's buffers (`None` when it has nothing more), and keeps those
    /// for [`SealBatch::pop`]. The buffers hold `max_datagram` bytes, or `buf`'s length if that
    /// is shorter (a caller may pass a 64 KiB buffer; a session's datagrams are far smaller).
    /// Returns the first's length. Call only when `pop` returns `None`.
    pub(crate) fn seal(
        &mut self,
        buf: &mut [u8],
        first: UntaggedPacket,
        max_datagram: usize,
        mut more: impl FnMut(&mut [u8]) -> Option<(SocketAddr, UntaggedPacket)>,
    ) -> usize {
        debug_assert!(
            self.ready.is_empty(),
            "SealBatch::seal with datagrams waiting"
        );
        let first_len = first.len();
        self.untagged.clear();
        self.untagged.push(first);
        while self.untagged.len() < kcpq_mac::BATCH {
            let i = self.untagged.len() - 1;
            if self.buffers.len() == i {
                self.buffers.push(Vec::new());
            }
            let spare = &mut self.buffers[i];
            let spare_len = max_datagram.min(buf.len());
            if spare.len() != spare_len {
                spare.resize(spare_len, 0);
            }
            let Some((destination, packet)) = more(spare) else {
                break;
            };
            self.ready.push((destination, packet.len()));
            self.untagged.push(packet);
        }
        finish_all(&self.untagged, buf, &mut self.buffers);
        self.untagged.clear();
        first_len
    }
}
