//! The I/O socket of one driver thread and the waker that interrupts its sleep.
//!
//! The I/O thread sleeps in a [`mio::Poll`] (epoll on Linux, kqueue on the BSDs and macOS) on
//! two sources, with a timeout equal to the core's `poll_timeout`: its UDP socket, and a
//! [`mio::Waker`] (an eventfd on Linux) that a handle which queued a command uses to interrupt
//! the sleep. Wakes coalesce through a flag: a handle wakes the thread only if no wake is
//! outstanding, and the I/O thread re-arms the flag before it reads commands, so a burst of
//! publishes costs one wake-up, and no command is left unseen (the flag is cleared before the
//! channel is drained, and set after a command is queued).
//!
//! Readiness is edge-triggered: the socket is read until it would block; a read that stops at
//! the batch bound instead remembers that more may be queued, and the next wait reads on
//! without sleeping.
//!
//! A poller replaced an earlier waker, a one-byte loopback datagram sent to the I/O socket's
//! own address: it cost a second socket per driver and two system calls per wake-up, other
//! local processes could wake the thread by sending to it, and with a server's workers
//! (several SO_REUSEPORT sockets on one address) the kernel could hand the datagram to another
//! worker's socket, so the wanted worker never woke.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};

/// The largest UDP payload, so no datagram is ever truncated.
pub(crate) const MAX_DATAGRAM: usize = 65_536;

/// Datagrams read in one wake-up before the core's output is drained. Reading a batch lets KCP
/// acknowledge it with one ACK datagram instead of one per segment.
const RECV_BATCH: usize = 64;

/// The poller's token for the socket (the waker's is any other).
const SOCKET: Token = Token(0);

/// Wakes the I/O thread from its sleep in the poller. Shared by every handle of one driver.
#[derive(Debug)]
pub(crate) struct Waker {
    waker: mio::Waker,
    pending: AtomicBool,
}

impl Waker {
    /// Interrupts the I/O thread's sleep, unless a wake is already on its way.
    pub(crate) fn wake(&self) {
        if !self.pending.swap(true, Ordering::SeqCst)
            && let Err(e) = self.waker.wake()
        {
            // The I/O thread still wakes at its next deadline or datagram; allow a retry.
            self.pending.store(false, Ordering::SeqCst);
            log::warn!("kcpq-std: waking the I/O thread failed: {e}");
        }
    }

    /// Called by the I/O thread before it reads commands: the next wake interrupts a sleep.
    pub(crate) fn rearm(&self) {
        self.pending.store(false, Ordering::SeqCst);
    }
}

/// The UDP socket a driver thread owns, with the poller it sleeps in.
#[derive(Debug)]
pub(crate) struct IoSocket {
    socket: UdpSocket,
    poll: Poll,
    events: Events,
    /// The last read stopped at the batch bound: more datagrams may be queued.
    more: bool,
}

impl IoSocket {
    /// Takes ownership of `socket` (bound, its buffers set: `kcpq_os::open_socket`) and makes
    /// the waker that interrupts the thread's sleep.
    pub(crate) fn new(socket: std::net::UdpSocket) -> io::Result<(IoSocket, Arc<Waker>)> {
        socket.set_nonblocking(true)?;
        let mut socket = UdpSocket::from_std(socket);
        let poll = Poll::new()?;
        (poll.registry()).register(&mut socket, SOCKET, Interest::READABLE)?;
        let waker = mio::Waker::new(poll.registry(), Token(1))?;
        let pending = AtomicBool::new(false);
        let io = IoSocket {
            socket,
            poll,
            events: Events::with_capacity(2),
            more: false,
        };
        Ok((io, Arc::new(Waker { waker, pending })))
    }

    /// Sends one datagram. UDP is unreliable anyway: a failed send is logged and KCP resends.
    /// A full send buffer is waited out, as on a blocking socket, rather than dropping a burst.
    pub(crate) fn send(&self, to: SocketAddr, bytes: &[u8]) {
        let mut sent = self.socket.send_to(bytes, to);
        if matches!(&sent, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
            let blocking = socket2::SockRef::from(&self.socket);
            sent = (blocking.set_nonblocking(false)).and_then(|()| self.socket.send_to(bytes, to));
            if let Err(e) = blocking.set_nonblocking(true) {
                log::warn!("kcpq-std: set_nonblocking(true) failed: {e}");
            }
        }
        if let Err(e) = sent {
            log::debug!("kcpq-std: send to {to} failed: {e}");
        }
    }

    /// Sleeps until a datagram arrives, the waker is woken or `timeout` passes (`None`: no
    /// deadline), without sleeping when datagrams may still be queued; then hands what the
    /// socket holds, up to a batch, to `handle` with its source.
    pub(crate) fn wait(
        &mut self,
        buf: &mut [u8],
        timeout: Option<Duration>,
        mut handle: impl FnMut(SocketAddr, &mut [u8]),
    ) {
        if !std::mem::take(&mut self.more) {
            if timeout.is_some_and(|t| t.is_zero()) {
                return;
            }
            if let Err(e) = self.poll.poll(&mut self.events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    log::warn!("kcpq-std: poll failed: {e}");
                }
                return;
            }
            if !self.events.iter().any(|event| event.token() == SOCKET) {
                return;
            }
        }
        for _ in 0..RECV_BATCH {
            match self.socket.recv_from(buf) {
                Ok((len, from)) => handle(from, &mut buf[..len]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // An error report (ICMP on some systems) does not empty the queue: read on.
                Err(e) => log::debug!("kcpq-std: recv failed: {e}"),
            }
        }
        self.more = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Instant;

    const BOUND: Duration = Duration::from_secs(10);

    fn io() -> (IoSocket, Arc<Waker>, SocketAddr) {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let addr = socket.local_addr().expect("an address");
        let (io, waker) = IoSocket::new(socket).expect("a poller");
        (io, waker, addr)
    }

    #[test]
    fn a_wake_interrupts_a_sleep_without_a_deadline_and_a_burst_of_wakes_is_one() {
        let (mut io, waker, _) = io();
        let (slept, woke) = mpsc::channel();
        let sleeper = std::thread::spawn(move || {
            let mut buf = [0; 16];
            for _ in 0..2 {
                io.wait(&mut buf, None, |_, _| panic!("no datagram was sent"));
                let _ = slept.send(());
            }
            io
        });
        for _ in 0..1000 {
            waker.wake();
        }
        woke.recv_timeout(BOUND).expect("the wake ended the sleep");
        // Still outstanding (not re-armed): the next wakes send nothing, the thread sleeps on.
        waker.wake();
        assert!(woke.recv_timeout(Duration::from_millis(50)).is_err());
        waker.rearm();
        waker.wake();
        woke.recv_timeout(BOUND)
            .expect("a re-armed wake ends the next sleep");
        let mut io = sleeper.join().expect("the sleeper");
        // The first wake and the 1 001 after it were one: nothing is left to wake a sleep.
        let start = Instant::now();
        io.wait(&mut [0; 16], Some(Duration::from_millis(20)), |_, _| {});
        assert!(
            start.elapsed() >= Duration::from_millis(20),
            "no stale wake-up"
        );
    }

    #[test]
    fn datagrams_beyond_a_batch_are_read_without_sleeping() {
        let (mut io, _waker, addr) = io();
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let total = 3 * RECV_BATCH + 5;
        for i in 0..total {
            sender.send_to(&[i as u8], addr).expect("send");
        }
        let (start, mut buf, mut got) = (Instant::now(), [0; 16], Vec::new());
        while got.len() < total && start.elapsed() < BOUND {
            let mut batch = 0;
            io.wait(&mut buf, Some(BOUND), |_, datagram| {
                got.push(datagram[0]);
                batch += 1;
            });
            assert!(batch <= RECV_BATCH);
        }
        let want: Vec<u8> = (0..total).map(|i| i as u8).collect();
        assert_eq!(got, want, "every datagram, in order");
        assert!(start.elapsed() < BOUND / 2, "a queued batch never waits");
    }
}
