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
//! Datagrams cross the kernel in batches where the system allows, as in kcpq-async and through
//! the same code (`kcpq_os::udp`): one `recvmmsg` (with GRO trains split back into datagrams)
//! fills up to 16 buffers, whose datagrams reach the core in groups so that it checks their
//! tags together; outgoing datagrams are queued and leave in GSO trains, one `sendmsg` for up
//! to 64 datagrams of equal length to one peer. Without offload (refused by the system, or
//! turned off in the options) it is one `recv_from` and one `send_to` per datagram.
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

use kcpq_core::Transmit;
use kcpq_os::udp::{IoStats, RECV_SLOT_LEN, RecvArea, SendQueue, TrainCursor};
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};
use quinn_udp::{UdpSockRef, UdpSocketState};

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

/// How datagrams cross the kernel boundary.
enum Path {
    /// One `recv_from` / `send_to` per datagram; received datagrams are read into this buffer.
    Plain(Vec<u8>),
    /// Batched calls and segmentation offload through `quinn-udp`.
    Offload(Box<Offload>),
}

/// The `quinn-udp` state of the socket and its receive buffers.
struct Offload {
    state: UdpSocketState,
    area: RecvArea,
}

/// The UDP socket a driver thread owns, with the poller it sleeps in and its queue of
/// outgoing datagrams.
pub(crate) struct IoSocket {
    socket: UdpSocket,
    poll: Poll,
    events: Events,
    /// The last read stopped at the batch bound: more datagrams may be queued.
    more: bool,
    path: Path,
    queue: SendQueue,
    stats: IoStats,
}

impl std::fmt::Debug for IoSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IoSocket")
            .field("socket", &self.socket)
            .field("offload", &self.offload())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl IoSocket {
    /// Takes ownership of `socket` (bound, its buffers set: `kcpq_os::open_socket`) and makes
    /// the waker that interrupts the thread's sleep. Datagrams are at most `max_datagram`
    /// bytes; `offload` asks for batched calls (see the module documentation), and falls back
    /// to plain ones with a warning where the system refuses.
    pub(crate) fn new(
        socket: std::net::UdpSocket,
        offload: bool,
        max_datagram: usize,
    ) -> io::Result<(IoSocket, Arc<Waker>)> {
        socket.set_nonblocking(true)?;
        let mut socket = UdpSocket::from_std(socket);
        let poll = Poll::new()?;
        (poll.registry()).register(&mut socket, SOCKET, Interest::READABLE)?;
        let waker = mio::Waker::new(poll.registry(), Token(1))?;
        let pending = AtomicBool::new(false);
        let plain = || Path::Plain(vec![0; RECV_SLOT_LEN]);
        let path = match offload {
            true => match UdpSocketState::new(UdpSockRef::from(&socket)) {
                Ok(state) => Path::Offload(Box::new(Offload {
                    state,
                    area: RecvArea::default(),
                })),
                Err(e) => {
                    log::warn!("kcpq-std: UDP offload unavailable ({e}); one call per datagram");
                    plain()
                }
            },
            false => plain(),
        };
        let io = IoSocket {
            socket,
            poll,
            events: Events::with_capacity(2),
            more: false,
            path,
            queue: SendQueue::new(max_datagram),
            stats: IoStats::default(),
        };
        Ok((io, Arc::new(Waker { waker, pending })))
    }

    /// Whether batched offload is in use.
    pub(crate) fn offload(&self) -> bool {
        matches!(self.path, Path::Offload(_))
    }

    /// Most datagrams one send call may carry now (1 without offload or GSO).
    #[cfg(test)]
    fn path_max_gso_segments(&self) -> usize {
        match &self.path {
            Path::Plain(_) => 1,
            Path::Offload(offload) => offload.state.max_gso_segments(),
        }
    }

    /// The buffer the next outgoing datagram is written into.
    pub(crate) fn slot(&mut self) -> &mut [u8] {
        self.queue.slot()
    }

    /// Queues the datagram just written into [`IoSocket::slot`], sending the queue when it is
    /// full.
    pub(crate) fn commit(&mut self, transmit: Transmit) {
        if self.queue.commit(transmit) {
            self.flush();
        }
    }

    /// Forgets a slot taken with [`IoSocket::slot`] that was not used.
    pub(crate) fn release_slot(&mut self) {
        self.queue.release_slot();
    }

    /// Sends every queued datagram, in order. UDP is unreliable anyway: a datagram the system
    /// refuses is logged and dropped, and KCP resends it. A full send buffer is waited out, as
    /// on a blocking socket, rather than dropping a burst.
    pub(crate) fn flush(&mut self) {
        match &self.path {
            Path::Plain(_) => {
                for (to, datagram) in self.queue.datagrams() {
                    let sent = self.send_blocking(|s| s.send_to(datagram, to).map(drop));
                    count_sent(&mut self.stats, sent, 1, to);
                }
            }
            Path::Offload(offload) => {
                let mut cursor = TrainCursor::default();
                while let Some((to, contents, train)) =
                    (self.queue).next_train(&mut cursor, offload.state.max_gso_segments())
                {
                    let segment_size = (train.count > 1).then_some(train.segment);
                    let sent = self.send_train(&offload.state, to, contents, segment_size);
                    match sent {
                        Err(e) if train.count > 1 && offload.state.max_gso_segments() == 1 => {
                            // The device refused GSO and `quinn-udp` turned it off: one by one.
                            log::debug!("kcpq-std: GSO send to {to} failed ({e}); one by one");
                            for datagram in contents.chunks(train.segment) {
                                let sent = self.send_train(&offload.state, to, datagram, None);
                                count_sent(&mut self.stats, sent, 1, to);
                            }
                        }
                        sent => count_sent(&mut self.stats, sent, train.count, to),
                    }
                }
            }
        }
        self.queue.clear();
    }

    /// One send call of `contents` (a GSO train when `segment_size` is set) through
    /// `quinn-udp`.
    fn send_train(
        &self,
        state: &UdpSocketState,
        destination: SocketAddr,
        contents: &[u8],
        segment_size: Option<usize>,
    ) -> io::Result<()> {
        let transmit = kcpq_os::udp::transmit(destination, contents, segment_size);
        self.send_blocking(|s| state.try_send(UdpSockRef::from(s), &transmit))
    }

    /// Runs the send `call`; if the socket's buffer is full, runs it again on the socket made
    /// blocking for the while.
    fn send_blocking(&self, call: impl Fn(&UdpSocket) -> io::Result<()>) -> io::Result<()> {
        let sent = call(&self.socket);
        if !matches!(&sent, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
            return sent;
        }
        let blocking = socket2::SockRef::from(&self.socket);
        let sent = (blocking.set_nonblocking(false)).and_then(|()| call(&self.socket));
        if let Err(e) = blocking.set_nonblocking(true) {
            log::warn!("kcpq-std: set_nonblocking(true) failed: {e}");
        }
        sent
    }

    /// Sleeps until a datagram arrives, the waker is woken or `timeout` passes (`None`: no
    /// deadline), without sleeping when datagrams may still be queued; then hands what the
    /// socket holds, up to a batch, to `handle` in groups of (source, datagram) read together.
    pub(crate) fn wait(
        &mut self,
        timeout: Option<Duration>,
        mut handle: impl FnMut(&mut [(SocketAddr, &mut [u8])]),
    ) {
        let queued = match &self.path {
            Path::Plain(_) => false,
            Path::Offload(offload) => offload.area.has_pending(),
        };
        if !std::mem::take(&mut self.more) && !queued {
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
        // Readiness is edge-triggered, so the socket is read until it would block; a read
        // that stops at the bound, or at an error report (ICMP on some systems, which does not
        // empty the queue), leaves `more` set and the next wait reads on without sleeping.
        self.more = match &mut self.path {
            Path::Plain(buf) => {
                let (mut calls, mut read) = (0, 0);
                let drained = loop {
                    if calls == RECV_BATCH {
                        break false;
                    }
                    calls += 1;
                    match self.socket.recv_from(buf) {
                        Ok((len, from)) => {
                            handle(&mut [(from, &mut buf[..len])]);
                            read += 1;
                            self.stats.count_recv(1);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break true,
                        Err(e) => log::debug!("kcpq-std: recv failed: {e}"),
                    }
                };
                self.stats.received += read;
                !drained
            }
            Path::Offload(offload) => {
                let (state, socket) = (&offload.state, &self.socket);
                let mut failed = false;
                let recv = |bufs: &mut [io::IoSliceMut<'_>], metas: &mut [quinn_udp::RecvMeta]| {
                    let got = state.recv(UdpSockRef::from(socket), bufs, metas);
                    failed |= matches!(&got, Err(e) if e.kind() != io::ErrorKind::WouldBlock);
                    got
                };
                let read = (offload.area).recv_batch(RECV_BATCH, &mut self.stats, recv, handle);
                failed || read >= RECV_BATCH
            }
        };
    }
}

/// Counts a send call of `count` datagrams to `to`, or logs its failure.
fn count_sent(stats: &mut IoStats, sent: io::Result<()>, count: usize, to: SocketAddr) {
    match sent {
        Ok(()) => stats.count_send(count),
        Err(e) => {
            stats.send_failures += count as u64;
            log::debug!("kcpq-std: send to {to} failed: {e}");
        }
    }
}

impl Drop for IoSocket {
    fn drop(&mut self) {
        log::debug!(
            "kcpq-std: UDP socket closed (offload {}): {:?}",
            self.offload(),
            self.stats
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Instant;

    const BOUND: Duration = Duration::from_secs(10);
    /// KCPQ's default datagram bound (KCP MTU 1367 plus 64).
    const MAX_DATAGRAM: usize = 1431;

    fn io(offload: bool) -> (IoSocket, Arc<Waker>, SocketAddr) {
        let buffer = kcpq_core::adapter::DEFAULT_SOCKET_BUFFER;
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        let socket = kcpq_os::open_socket(any, buffer, buffer, false).expect("bind");
        let addr = socket.local_addr().expect("an address");
        let (io, waker) = IoSocket::new(socket, offload, MAX_DATAGRAM).expect("a poller");
        (io, waker, addr)
    }

    #[test]
    fn a_wake_interrupts_a_sleep_without_a_deadline_and_a_burst_of_wakes_is_one() {
        let (mut io, waker, _) = io(true);
        let (slept, woke) = mpsc::channel();
        let sleeper = std::thread::spawn(move || {
            for _ in 0..2 {
                io.wait(None, |_| panic!("no datagram was sent"));
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
        io.wait(Some(Duration::from_millis(20)), |_| {});
        assert!(
            start.elapsed() >= Duration::from_millis(20),
            "no stale wake-up"
        );
    }

    /// Reads until `total` datagrams came or [`BOUND`] passed; each wait hands at most a
    /// batch, in groups of at most the core's tag batch.
    fn read_all(io: &mut IoSocket, total: usize) -> Vec<Vec<u8>> {
        let (start, mut got) = (Instant::now(), Vec::new());
        while got.len() < total && start.elapsed() < BOUND {
            let mut batch = 0;
            io.wait(Some(BOUND), |group| {
                assert!(!group.is_empty() && group.len() <= kcpq_os::udp::RECV_GROUP);
                got.extend(group.iter().map(|(_, datagram)| datagram.to_vec()));
                batch += group.len();
            });
            assert!(batch <= RECV_BATCH);
        }
        got
    }

    #[test]
    fn datagrams_beyond_a_batch_are_read_without_sleeping() {
        for offload in [true, false] {
            let (mut io, _waker, addr) = io(offload);
            let sender = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
            let total = 3 * RECV_BATCH + 5;
            for i in 0..total {
                sender.send_to(&[i as u8], addr).expect("send");
            }
            let start = Instant::now();
            let got: Vec<u8> = read_all(&mut io, total).iter().map(|d| d[0]).collect();
            let want: Vec<u8> = (0..total).map(|i| i as u8).collect();
            assert_eq!(got, want, "every datagram, in order (offload {offload})");
            assert!(start.elapsed() < BOUND / 2, "a queued batch never waits");
        }
    }

    #[test]
    fn queued_datagrams_arrive_whole_and_in_order_with_offload_on_either_side_or_off() {
        for (send_offload, recv_offload) in [(true, true), (true, false), (false, true)] {
            let (mut tx, _tx_waker, _) = io(send_offload);
            let (mut rx, _rx_waker, to) = io(recv_offload);
            // Runs of full datagrams, each ended by a shorter one, as a sender's queue holds.
            let lengths: Vec<usize> = (0..3 * kcpq_os::udp::MAX_BATCH)
                .map(|i| if i % 20 == 19 { 100 + i } else { MAX_DATAGRAM })
                .collect();
            // The receiver reads each full queue as it arrives: what the kernel buffers in
            // between stays within the smallest default receive buffer.
            let mut got = Vec::new();
            for (i, &len) in lengths.iter().enumerate() {
                let slot = tx.slot();
                slot[..len].fill(i as u8);
                slot[..2].copy_from_slice(&(i as u16).to_le_bytes());
                // The 64th datagram fills the queue, which is then sent.
                tx.commit(Transmit {
                    destination: to,
                    len,
                });
                if (i + 1) % kcpq_os::udp::MAX_BATCH == 0 {
                    got.extend(read_all(&mut rx, kcpq_os::udp::MAX_BATCH));
                }
            }
            let _ = tx.slot();
            tx.release_slot();
            tx.flush();
            assert_eq!(got.len(), lengths.len(), "every datagram arrived");
            for (i, datagram) in got.iter().enumerate() {
                assert_eq!(datagram.len(), lengths[i], "datagram {i} whole");
                assert_eq!(
                    &datagram[..2],
                    &(i as u16).to_le_bytes(),
                    "datagram {i} in order"
                );
                assert!(
                    datagram[2..].iter().all(|&b| b == i as u8),
                    "datagram {i} intact"
                );
            }
            assert_eq!(tx.stats.sent, lengths.len() as u64);
            if send_offload && tx.offload() && tx.path_max_gso_segments() > 1 {
                assert!(
                    tx.stats.send_calls * 4 < tx.stats.sent,
                    "GSO trains: {:?}",
                    tx.stats
                );
            }
        }
    }
}
