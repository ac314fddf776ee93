//! Batched UDP I/O written once for every adapter: the outgoing datagrams queued back to back
//! and cut into GSO trains ([`SendQueue`]), and the buffers of one batched receive call split
//! back into datagrams and handed out in groups ([`RecvArea`]).
//!
//! The system calls go through `quinn-udp` (`UdpSocketState`): `recvmmsg` with `UDP_GRO` on
//! receive, `sendmsg` with `UDP_SEGMENT` (GSO) on send, and their fallbacks where the system
//! lacks them. What this module does not do is wait: kcpq-async awaits its runtime's readiness,
//! kcpq-std sleeps in its poller or blocks on a full send buffer, and each hands its own
//! non-blocking receive or send call to the types here.

use kcpq_core::crypto::handshake::MAX_HANDSHAKE_LEN;

mod recv;
mod send;
#[cfg(test)]
mod tests;

pub use recv::{RecvArea, datagram_end};
pub use send::{SendQueue, Train, TrainCursor, next_train, transmit};

/// Most datagrams queued before they are sent: a batch bounds the memory and the latency of
/// the first datagram in it.
pub const MAX_BATCH: usize = 64;

/// Size of one receive buffer: the largest UDP datagram, which is also the largest train the
/// kernel coalesces with GRO (its total, headers included, stays within the 64 KiB of one IP
/// packet), so neither is ever truncated.
pub const RECV_SLOT_LEN: usize = 65_536;

/// Receive buffers one batched receive call may fill: 16 calls' worth of datagrams per system
/// call, for 1 MiB of buffers per socket (untouched pages cost no memory).
pub const RECV_SLOTS: usize = 16;

/// Most datagrams handed to the core in one group: as many as it computes the tags of together.
pub const RECV_GROUP: usize = kcpq_core::drive::DATAGRAM_BATCH;

/// Most payload bytes in one GSO train: the kernel builds the train as one UDP datagram, whose
/// payload is at most 65 535 bytes minus the 20-byte IPv4 and 8-byte UDP headers.
pub const MAX_GSO_BYTES: usize = 65_507;

/// The largest datagram the core sends when KCP's MTU is `kcp_mtu`: room for a KCP segment
/// with its packet protection (33 bytes) or an FEC shard's header, with bytes to spare, and
/// never less than the largest handshake message (128 bytes), which a small MTU does not shrink.
/// Each adapter sizes its outgoing slots with it.
pub const fn max_datagram(kcp_mtu: usize) -> usize {
    let protected = kcp_mtu + 64;
    if protected > MAX_HANDSHAKE_LEN {
        protected
    } else {
        MAX_HANDSHAKE_LEN
    }
}

/// Counts of a socket's work, which the adapters log at debug level when it closes: they show
/// how much the offloads batched (datagrams per system call).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IoStats {
    /// Datagrams handed to the kernel.
    pub sent: u64,
    /// Send system calls that succeeded (one per datagram, or per GSO train).
    pub send_calls: u64,
    /// Most datagrams in one send call.
    pub largest_send: usize,
    /// Datagrams the kernel refused (dropped, as packet loss).
    pub send_failures: u64,
    /// Datagrams received.
    pub received: u64,
    /// Receive system calls that returned data.
    pub recv_calls: u64,
    /// Most datagrams returned by one receive call.
    pub largest_recv: usize,
}

impl IoStats {
    /// Counts a send call that carried `datagrams`.
    pub fn count_send(&mut self, datagrams: usize) {
        self.sent += datagrams as u64;
        self.send_calls += 1;
        self.largest_send = self.largest_send.max(datagrams);
    }

    /// Counts a receive call that returned `datagrams`.
    pub fn count_recv(&mut self, datagrams: usize) {
        self.recv_calls += 1;
        self.largest_recv = self.largest_recv.max(datagrams);
    }
}
