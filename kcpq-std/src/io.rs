//! The I/O socket of one driver thread and the waker that interrupts its sleep.
//!
//! The I/O thread sleeps in `recv_from` with a read timeout equal to the core's `poll_timeout`.
//! A handle that queues a command must interrupt that sleep. std offers no portable way to wait
//! on a socket and a channel at once (no `poll` without `libc` or `unsafe`), so each driver owns
//! a private **waker socket**: a UDP socket bound to an ephemeral port on the loopback address.
//! Waking sends one byte from it to the I/O socket; the I/O thread recognises the datagram by
//! its source address (the waker's own, which nothing else can bind while we hold it) and
//! discards it before the core sees it. Wakes coalesce through a flag: a handle sends a datagram
//! only if no wake is outstanding, and the I/O thread re-arms the flag before it reads commands,
//! so a burst of publishes costs one datagram, and no command is left unseen (the flag is
//! cleared before the channel is drained, and set after a command is queued). Datagrams from
//! any other local process at that address could at worst cause a spurious wake-up.
//!
//! A socketpair would do the same but needs platform code; a loopback datagram is portable std.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kcpq_core::adapter::DEFAULT_SOCKET_BUFFER;

/// The largest UDP payload, so no datagram is ever truncated.
pub(crate) const MAX_DATAGRAM: usize = 65_536;

/// Datagrams read without blocking after the first one, before the core's output is drained.
/// Reading a batch lets KCP acknowledge it with one ACK datagram instead of one per segment.
const RECV_BATCH: usize = 64;

/// Wakes the I/O thread from its sleep in `recv_from`. Shared by every handle of one driver.
#[derive(Debug)]
pub(crate) struct Waker {
    socket: UdpSocket,
    target: SocketAddr,
    pending: AtomicBool,
}

impl Waker {
    /// A waker aimed at the I/O socket bound at `io_addr`.
    fn new(io_addr: SocketAddr) -> io::Result<Waker> {
        let loopback: IpAddr = match io_addr {
            SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
        };
        let target_ip = if io_addr.ip().is_unspecified() {
            loopback
        } else {
            io_addr.ip()
        };
        let socket = UdpSocket::bind(SocketAddr::new(loopback, 0))?;
        Ok(Waker {
            socket,
            target: SocketAddr::new(target_ip, io_addr.port()),
            pending: AtomicBool::new(false),
        })
    }

    /// Interrupts the I/O thread's sleep, unless a wake is already on its way.
    pub(crate) fn wake(&self) {
        if !self.pending.swap(true, Ordering::SeqCst)
            && let Err(e) = self.socket.send_to(&[0], self.target)
        {
            // The I/O thread still wakes at its next deadline or datagram; allow a retry.
            self.pending.store(false, Ordering::SeqCst);
            log::warn!("kcpq-std: waking the I/O thread failed: {e}");
        }
    }

    /// Called by the I/O thread before it reads commands: the next wake sends a datagram.
    pub(crate) fn rearm(&self) {
        self.pending.store(false, Ordering::SeqCst);
    }
}

/// The UDP socket a driver thread owns, with the address of its waker.
#[derive(Debug)]
pub(crate) struct IoSocket {
    socket: UdpSocket,
    waker_addr: SocketAddr,
}

impl IoSocket {
    /// Takes ownership of `socket` and makes the waker that interrupts its reads.
    pub(crate) fn new(socket: UdpSocket) -> io::Result<(IoSocket, Waker)> {
        let sock = socket2::SockRef::from(&socket);
        for (what, result) in [
            ("receive", sock.set_recv_buffer_size(DEFAULT_SOCKET_BUFFER)),
            ("send", sock.set_send_buffer_size(DEFAULT_SOCKET_BUFFER)),
        ] {
            if let Err(e) = result {
                log::warn!("kcpq-std: cannot raise the UDP {what} buffer: {e}");
            }
        }
        let waker = Waker::new(socket.local_addr()?)?;
        let waker_addr = waker.socket.local_addr()?;
        Ok((IoSocket { socket, waker_addr }, waker))
    }

    /// Sends one datagram. UDP is unreliable anyway: a failed send is logged and KCP resends.
    pub(crate) fn send(&self, to: SocketAddr, bytes: &[u8]) {
        if let Err(e) = self.socket.send_to(bytes, to) {
            log::debug!("kcpq-std: send to {to} failed: {e}");
        }
    }

    /// Sleeps until a datagram arrives or `timeout` passes (`None`: no deadline), then reads
    /// what else is already queued, up to a batch, without blocking. Every datagram that is not
    /// a wake-up goes to `handle` with its source.
    pub(crate) fn wait(
        &self,
        buf: &mut [u8],
        timeout: Option<Duration>,
        mut handle: impl FnMut(SocketAddr, &mut [u8]),
    ) {
        if timeout.is_some_and(|t| t.is_zero()) {
            return;
        }
        if let Err(e) = self.socket.set_read_timeout(timeout) {
            return log::warn!("kcpq-std: set_read_timeout failed: {e}");
        }
        let mut next = self.socket.recv_from(buf);
        if let Err(e) = &next
            && !is_timeout(e)
        {
            log::debug!("kcpq-std: recv failed: {e}");
        }
        // The first read sleeps; the rest of the batch only takes what is already there.
        let mut read = 0;
        while let Ok((len, from)) = next {
            // A wake-up only ends the sleep; the core does not see it.
            if from != self.waker_addr {
                handle(from, &mut buf[..len]);
            }
            read += 1;
            if read > RECV_BATCH || (read == 1 && self.socket.set_nonblocking(true).is_err()) {
                break;
            }
            next = self.socket.recv_from(buf);
        }
        if read > 0
            && let Err(e) = self.socket.set_nonblocking(false)
        {
            log::warn!("kcpq-std: set_nonblocking(false) failed: {e}");
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    use io::ErrorKind::{Interrupted, TimedOut, WouldBlock};
    matches!(e.kind(), WouldBlock | TimedOut | Interrupted)
}
