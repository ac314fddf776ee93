//! UDP socket I/O, kept in one small module so that batched system calls (recvmmsg, sendmmsg,
//! GSO) can replace the plain ones without touching the event loop.

use std::io;
use std::net::{SocketAddr, UdpSocket};

use async_io::Async;
use kcpq_core::server::Transmit;
use socket2::{Domain, Protocol, Socket, Type};

/// Default size requested for the socket's receive and send buffers: 4 MiB. Bursts of KCP
/// segments (a window of 1024 segments is 1.4 MB) must not overflow the kernel's queue; Linux
/// caps the request at `net.core.rmem_max` / `wmem_max` unless those are raised.
pub const DEFAULT_SOCKET_BUFFER: usize = 4 * 1024 * 1024;

/// Most datagrams collected before they are sent: a batch bounds the memory and the latency of
/// the first datagram in it.
const MAX_BATCH: usize = 64;

/// Socket settings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SocketOptions {
    /// Requested `SO_RCVBUF`, in bytes (the kernel may grant less).
    pub recv_buffer: usize,
    /// Requested `SO_SNDBUF`, in bytes (the kernel may grant less).
    pub send_buffer: usize,
}

impl Default for SocketOptions {
    fn default() -> Self {
        SocketOptions {
            recv_buffer: DEFAULT_SOCKET_BUFFER,
            send_buffer: DEFAULT_SOCKET_BUFFER,
        }
    }
}

/// A bound UDP socket with an outgoing batch.
#[derive(Debug)]
pub(crate) struct UdpIo {
    socket: Async<UdpSocket>,
    slot_len: usize,
    batch: Vec<u8>,
    queued: Vec<(SocketAddr, usize)>,
    /// Bytes of `batch` holding queued datagrams.
    used: usize,
}

impl UdpIo {
    /// Binds `addr` with `options`; datagrams are at most `max_datagram` bytes.
    pub(crate) fn bind(
        addr: SocketAddr,
        options: &SocketOptions,
        max_datagram: usize,
    ) -> io::Result<UdpIo> {
        let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        if let Err(e) = socket.set_recv_buffer_size(options.recv_buffer) {
            log::warn!("cannot set SO_RCVBUF to {}: {e}", options.recv_buffer);
        }
        if let Err(e) = socket.set_send_buffer_size(options.send_buffer) {
            log::warn!("cannot set SO_SNDBUF to {}: {e}", options.send_buffer);
        }
        socket.bind(&addr.into())?;
        let socket = Async::new(UdpSocket::from(socket))?;
        Ok(UdpIo {
            socket,
            slot_len: max_datagram,
            batch: Vec::with_capacity(max_datagram * MAX_BATCH),
            queued: Vec::with_capacity(MAX_BATCH),
            used: 0,
        })
    }

    /// The address the socket is bound to.
    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.get_ref().local_addr()
    }

    /// Waits until a datagram can be read.
    pub(crate) async fn readable(&self) -> io::Result<()> {
        self.socket.readable().await
    }

    /// Reads one datagram into `buf` without waiting; `None` when none is queued. Errors (an
    /// ICMP report on some systems) are logged and read as "nothing queued".
    pub(crate) fn try_recv(&self, buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        match self.socket.get_ref().recv_from(buf) {
            Ok((len, from)) => Some((from, len)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
            Err(e) => {
                log::debug!("UDP receive error: {e}");
                None
            }
        }
    }

    /// The buffer the next outgoing datagram is written into.
    pub(crate) fn slot(&mut self) -> &mut [u8] {
        let start = self.batch.len();
        self.batch.resize(start + self.slot_len, 0);
        &mut self.batch[start..]
    }

    /// Keeps the datagram just written into [`UdpIo::slot`]; true when the batch is full.
    pub(crate) fn commit(&mut self, transmit: Transmit) -> bool {
        let len = transmit.len.min(self.slot_len);
        self.queued.push((transmit.destination, len));
        self.used += len;
        self.batch.truncate(self.used);
        self.queued.len() >= MAX_BATCH
    }

    /// Forgets a slot taken with [`UdpIo::slot`] that was not used.
    pub(crate) fn release_slot(&mut self) {
        self.batch.truncate(self.used);
    }

    /// Sends every queued datagram. A datagram the system refuses is dropped and logged: to the
    /// protocol above, that is packet loss, which KCP and the handshake recover from.
    pub(crate) async fn send_batch(&mut self) {
        let mut offset = 0;
        for (destination, len) in self.queued.drain(..) {
            let datagram = &self.batch[offset..offset + len];
            offset += len;
            if let Err(e) = self.socket.send_to(datagram, destination).await {
                log::debug!("UDP send to {destination} failed: {e}");
            }
        }
        self.batch.clear();
        self.used = 0;
    }
}
