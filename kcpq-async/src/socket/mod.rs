//! UDP socket I/O, kept apart so that the event loop does not care how datagrams cross the
//! kernel boundary: it queues outgoing datagrams with [`UdpIo::slot`] / [`UdpIo::commit`],
//! flushes them with [`UdpIo::send_batch`], and takes incoming ones with [`UdpIo::recv_batch`].
//!
//! # Batching (offload)
//!
//! With [`SocketOptions::offload`] on (the default), the socket is driven through `quinn-udp`,
//! which uses the kernel's batched calls where they exist:
//!
//! - **Receive**: one `recvmmsg` call fills up to [`RECV_SLOTS`](kcpq_os::udp::RECV_SLOTS)
//!   buffers. On Linux the socket also enables `UDP_GRO`: the kernel may hand over a *train* of
//!   consecutive datagrams from one sender in one buffer, every datagram `stride` bytes long but
//!   the last; the train is split back into datagrams ([`kcpq_os::udp::RecvArea`], shared with
//!   kcpq-std). Datagrams read beyond the caller's burst bound stay queued in user space and are
//!   handled first by the next call ([`UdpIo::has_pending`] tells the event loop not to sleep
//!   on them).
//! - **Send**: consecutive queued datagrams to the same destination with the same length (the
//!   last may be shorter) leave in one `sendmsg` carrying a `UDP_SEGMENT` control message (GSO,
//!   Linux 4.18 and later): the kernel, or the network card, cuts the train into datagrams. A
//!   train holds at most `max_gso_segments` (64 on Linux) datagrams and
//!   [`MAX_GSO_BYTES`](kcpq_os::udp::MAX_GSO_BYTES) bytes ([`kcpq_os::udp::SendQueue`] forms
//!   the trains).
//!   Datagrams to different destinations, or of other lengths, leave in separate calls
//!   (`quinn-udp` 0.6 sends with `sendmsg`, not `sendmmsg`).
//!
//! # Fallbacks
//!
//! - Where GSO or GRO is missing (other systems, older kernels), `quinn-udp` reports one segment:
//!   every datagram leaves in its own call and every receive buffer holds one datagram
//!   (`recvmmsg` still batches where it exists, `recvmsg` elsewhere).
//! - A device that refuses GSO at send time (`EIO`/`EINVAL`: no checksum offload, IPsec) makes
//!   `quinn-udp` turn GSO off for the socket; the train that failed is resent one datagram at a
//!   time, so nothing is lost to the switch.
//! - When `quinn-udp` cannot set the socket up, a warning is logged and the plain path is used.
//! - With offload off: one `recv_from` / `send_to` per datagram and no socket option beyond the
//!   buffer sizes, exactly as before offload existed.
//!
//! Offload changes one more thing: `quinn-udp` sets don't-fragment on the socket
//! (`IP_PMTUDISC_PROBE`, `IPV6_DONTFRAG`), so a datagram larger than the interface MTU is refused
//! instead of being fragmented. KCPQ's default datagrams (1400 bytes) fit a 1500-byte path.

mod offload;
#[cfg(test)]
mod tests;

use std::io;
use std::net::{SocketAddr, UdpSocket};

use kcpq_core::Transmit;
use kcpq_os::udp::{IoStats, RECV_SLOT_LEN, SendQueue, TrainCursor};

use crate::runtime::{Socket, write_with};
use offload::Offload;

pub use kcpq_core::adapter::DEFAULT_SOCKET_BUFFER;

/// Socket settings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SocketOptions {
    /// Requested `SO_RCVBUF`, in bytes (the kernel may grant less).
    pub recv_buffer: usize,
    /// Requested `SO_SNDBUF`, in bytes (the kernel may grant less).
    pub send_buffer: usize,
    /// Batch datagrams with the kernel's offloads where available: `recvmmsg` and GRO on
    /// receive, GSO (`UDP_SEGMENT`) on send, with clean fallbacks where they are missing.
    /// Default `true`; `false` makes one plain system call per datagram. With it on, the socket
    /// also refuses to fragment datagrams larger than the interface MTU.
    pub offload: bool,
}

impl Default for SocketOptions {
    fn default() -> Self {
        SocketOptions {
            recv_buffer: DEFAULT_SOCKET_BUFFER,
            send_buffer: DEFAULT_SOCKET_BUFFER,
            offload: true,
        }
    }
}

/// How datagrams cross the kernel boundary.
#[derive(Debug)]
enum Path {
    /// One `recv_from` / `send_to` per datagram, into this buffer.
    Plain(Vec<u8>),
    /// Batched calls and segmentation offload.
    Offload(Box<Offload>),
}

/// A bound UDP socket with an outgoing batch.
#[derive(Debug)]
pub(crate) struct UdpIo<S: Socket> {
    socket: S,
    path: Path,
    queue: SendQueue,
    stats: IoStats,
}

impl<S: Socket> UdpIo<S> {
    /// Binds `addr` with `options`; datagrams are at most `max_datagram` bytes.
    pub(crate) fn bind(
        addr: SocketAddr,
        options: &SocketOptions,
        max_datagram: usize,
    ) -> io::Result<UdpIo<S>> {
        let (recv_buffer, send_buffer) = (options.recv_buffer, options.send_buffer);
        let socket = kcpq_os::open_socket(addr, recv_buffer, send_buffer, false)?;
        UdpIo::register(socket, options, max_datagram)
    }

    /// Registers a socket from `kcpq_os::open_socket` with the runtime of the calling thread.
    pub(crate) fn register(
        socket: UdpSocket,
        options: &SocketOptions,
        max_datagram: usize,
    ) -> io::Result<UdpIo<S>> {
        let socket = S::register(socket)?;
        let path = match options.offload {
            true => match Offload::new(socket.sock_ref()) {
                Ok(offload) => Path::Offload(Box::new(offload)),
                Err(e) => {
                    log::warn!("UDP offload unavailable ({e}); one system call per datagram");
                    Path::Plain(vec![0; RECV_SLOT_LEN])
                }
            },
            false => Path::Plain(vec![0; RECV_SLOT_LEN]),
        };
        Ok(UdpIo {
            socket,
            path,
            queue: SendQueue::new(max_datagram),
            stats: IoStats::default(),
        })
    }

    /// The address the socket is bound to.
    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Whether batched offload is in use (it was asked for and the socket accepted it).
    pub(crate) fn offload(&self) -> bool {
        matches!(self.path, Path::Offload(_))
    }

    /// Most datagrams one GSO train may hold now (1 without offload or without GSO).
    pub(crate) fn max_gso_segments(&self) -> usize {
        match &self.path {
            Path::Plain(_) => 1,
            Path::Offload(offload) => offload.max_gso_segments(),
        }
    }

    /// Most datagrams the kernel puts in one receive buffer (1 without offload or without GRO).
    #[cfg(test)]
    pub(crate) fn gro_segments(&self) -> usize {
        match &self.path {
            Path::Plain(_) => 1,
            Path::Offload(offload) => offload.gro_segments(),
        }
    }

    /// The counts so far.
    #[cfg(test)]
    pub(crate) fn stats(&self) -> IoStats {
        self.stats
    }

    /// Waits until a datagram can be read (at once when some were read but not yet handled).
    pub(crate) async fn readable(&self) -> io::Result<()> {
        if self.has_pending() {
            return Ok(());
        }
        self.socket.readable().await
    }

    /// Whether datagrams already read from the kernel wait for the next [`UdpIo::recv_batch`].
    pub(crate) fn has_pending(&self) -> bool {
        match &self.path {
            Path::Plain(_) => false,
            Path::Offload(offload) => offload.has_pending(),
        }
    }

    /// Hands up to `max` received datagrams to `handle` without waiting, in arrival order and
    /// in groups of up to [`kcpq_os::udp::RECV_GROUP`] (sender, datagram) pairs that were read together, so
    /// the core can check their tags at once; returns how many. Stops early when nothing more
    /// is queued. Receive errors (an ICMP report on some systems) are logged and read as
    /// "nothing queued".
    pub(crate) fn recv_batch(
        &mut self,
        max: usize,
        mut handle: impl FnMut(&mut [(SocketAddr, &mut [u8])]),
    ) -> usize {
        match &mut self.path {
            Path::Plain(buf) => {
                let mut handled = 0;
                while handled < max {
                    match self.socket.try_recv_from(buf) {
                        Ok((len, from)) => {
                            handle(&mut [(from, &mut buf[..len])]);
                            handled += 1;
                            self.stats.count_recv(1);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => {
                            log::debug!("UDP receive error: {e}");
                            break;
                        }
                    }
                }
                self.stats.received += handled as u64;
                handled
            }
            Path::Offload(offload) => {
                offload.recv_batch(&self.socket, max, &mut self.stats, handle)
            }
        }
    }

    /// The buffer the next outgoing datagram is written into.
    pub(crate) fn slot(&mut self) -> &mut [u8] {
        self.queue.slot()
    }

    /// Keeps the datagram just written into [`UdpIo::slot`]; true when the batch is full.
    pub(crate) fn commit(&mut self, transmit: Transmit) -> bool {
        self.queue.commit(transmit)
    }

    /// Forgets a slot taken with [`UdpIo::slot`] that was not used.
    pub(crate) fn release_slot(&mut self) {
        self.queue.release_slot();
    }

    /// Sends every queued datagram, in order. A datagram the system refuses is dropped and
    /// logged: to the protocol above, that is packet loss, which KCP and the handshake recover
    /// from.
    pub(crate) async fn send_batch(&mut self) {
        match &self.path {
            Path::Plain(_) => {
                for (destination, datagram) in self.queue.datagrams() {
                    let sent = write_with(&self.socket, || {
                        self.socket.try_send_to(datagram, destination)
                    });
                    match sent.await {
                        Ok(_) => self.stats.count_send(1),
                        Err(e) => {
                            self.stats.send_failures += 1;
                            log::debug!("UDP send to {destination} failed: {e}");
                        }
                    }
                }
            }
            Path::Offload(offload) => {
                let mut cursor = TrainCursor::default();
                while let Some((destination, contents, train)) = self
                    .queue
                    .next_train(&mut cursor, offload.max_gso_segments())
                {
                    offload
                        .send_train(&self.socket, destination, contents, &train, &mut self.stats)
                        .await;
                }
            }
        }
        self.queue.clear();
    }
}

impl<S: Socket> Drop for UdpIo<S> {
    fn drop(&mut self) {
        log::debug!(
            "UDP socket closed (offload {}, GSO trains up to {} datagrams): {:?}",
            self.offload(),
            self.max_gso_segments(),
            self.stats
        );
    }
}
