//! # kcpq-os
//!
//! The operating system's clock, randomness and UDP sockets in the forms the sans-IO core and
//! the adapters take, written once for every runtime adapter (kcpq-std, and kcpq-smol and
//! kcpq-tokio through kcpq-async).
//!
//! They are not in `kcpq_core::adapter` because reading them is what the core never does: its
//! state machines take `now` and their seed as arguments, so that tests and the simulator run
//! them deterministically, and never touch a socket. A crate of its own keeps the core's
//! dependency tree and its code free of clocks, entropy and system calls, while no adapter
//! writes them again. [`tune_packet_tags`] times the ways this CPU computes packet tags, which
//! the core cannot do for lack of a clock. The sockets ([`open_socket`], [`bind_workers`]) are plain std sockets,
//! set up with `socket2`: each adapter registers them with its own runtime or poller, and
//! batches what crosses the kernel with [`udp`].

pub mod udp;

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, SystemTime};

use kcpq_core::Instant;
use kcpq_core::rng::Seed;

/// Converts between the operating system's monotonic clock and the core's [`Instant`], whose
/// zero is the moment the clock was started.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    epoch: std::time::Instant,
    wall_epoch: SystemTime,
}

impl Clock {
    /// A clock whose zero is now.
    pub fn start() -> Clock {
        Clock {
            epoch: std::time::Instant::now(),
            wall_epoch: SystemTime::now(),
        }
    }

    /// Now, as the core counts time.
    pub fn now(self) -> Instant {
        self.core(std::time::Instant::now())
    }

    /// `at` as the core counts time (its zero if `at` is earlier).
    pub fn core(self, at: std::time::Instant) -> Instant {
        let micros = at.saturating_duration_since(self.epoch).as_micros();
        Instant::from_micros(u64::try_from(micros).unwrap_or(u64::MAX))
    }

    /// A core instant on the operating system's clock.
    pub fn std_instant(self, at: Instant) -> std::time::Instant {
        self.epoch + Duration::from_micros(at.as_micros())
    }

    /// How long from now until `deadline` (zero if it has passed).
    pub fn until(self, deadline: Instant) -> Duration {
        deadline.saturating_duration_since(self.now())
    }

    /// The wall-clock time of the clock's zero, for display only.
    pub fn wall_epoch(self) -> SystemTime {
        self.wall_epoch
    }
}

/// Fresh operating-system randomness to seed one core state machine with, at every start.
pub fn fresh_seed() -> std::io::Result<Seed> {
    let mut seed = Seed::default();
    getrandom::fill(&mut seed).map_err(|e| std::io::Error::other(format!("getrandom: {e}")))?;
    Ok(seed)
}

/// Lets the core compute packet tags the fastest way this CPU has: times the ways once per
/// process (about a millisecond, on the first call; later calls return at once) with
/// [`kcpq_mac::calibrate`]. Every adapter calls it before it starts a server or a client. The
/// core itself reads no clock, so it cannot time them; the tags are the same bytes whichever
/// way computes them, only the speed differs.
pub fn tune_packet_tags() {
    static TUNED: std::sync::Once = std::sync::Once::new();
    TUNED.call_once(|| {
        let calibration = kcpq_mac::calibrate();
        log::debug!(
            "packet tags: {:?} for full batches ({calibration:?})",
            calibration.full_batch_engine()
        );
    });
}

/// A bound, non-blocking UDP socket whose receive and send buffers were asked for
/// `recv_buffer` and `send_buffer` bytes (the kernel may grant less: a warning is logged). With
/// `reuse_port`, other sockets may bind the same address (SO_REUSEPORT: the kernel spreads
/// senders over them by their address), as a server's workers do.
pub fn open_socket(
    addr: SocketAddr,
    recv_buffer: usize,
    send_buffer: usize,
    reuse_port: bool,
) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Type};
    let socket = socket2::Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if let Err(e) = socket.set_recv_buffer_size(recv_buffer) {
        log::warn!("cannot set SO_RCVBUF to {recv_buffer}: {e}");
    }
    if let Err(e) = socket.set_send_buffer_size(send_buffer) {
        log::warn!("cannot set SO_SNDBUF to {send_buffer}: {e}");
    }
    if reuse_port {
        set_reuse_port(&socket)?;
    }
    socket.bind(&addr.into())?;
    socket.set_nonblocking(true)?;
    Ok(UdpSocket::from(socket))
}

/// The sockets of a server of `workers` workers on `addr`, as [`open_socket`] makes them: one
/// plain socket for one worker; for several, one SO_REUSEPORT socket each on the same address.
/// SO_REUSEPORT would also let a second server started by mistake on this address share its
/// traffic, so the address is first bound alone: an address in use is refused as with one
/// worker (and port 0 gets its port, which every worker's socket then binds).
pub fn bind_workers(
    addr: SocketAddr,
    workers: usize,
    recv_buffer: usize,
    send_buffer: usize,
) -> io::Result<Vec<UdpSocket>> {
    if workers <= 1 {
        return Ok(vec![open_socket(addr, recv_buffer, send_buffer, false)?]);
    }
    let addr = UdpSocket::bind(addr)?.local_addr()?;
    let open = |_| open_socket(addr, recv_buffer, send_buffer, true);
    (0..workers).map(open).collect()
}

#[cfg(all(
    unix,
    not(any(target_os = "solaris", target_os = "illumos", target_os = "cygwin"))
))]
fn set_reuse_port(socket: &socket2::Socket) -> io::Result<()> {
    socket.set_reuse_port(true)
}

#[cfg(not(all(
    unix,
    not(any(target_os = "solaris", target_os = "illumos", target_os = "cygwin"))
)))]
fn set_reuse_port(_: &socket2::Socket) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "several workers need SO_REUSEPORT, which this platform lacks",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_instants_round_trip_through_the_os_clock() {
        let clock = Clock::start();
        let at = Instant::from_micros(1_500);
        assert_eq!(clock.core(clock.std_instant(at)), at);
        assert_eq!(
            clock.core(clock.epoch - Duration::from_secs(1)),
            Instant::ZERO
        );
        assert_eq!(clock.until(Instant::ZERO), Duration::ZERO);
        assert_ne!(
            fresh_seed().expect("OS randomness"),
            fresh_seed().expect("OS randomness")
        );
    }

    #[test]
    fn workers_share_an_address_that_no_other_server_can_take() {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        let sockets = bind_workers(any, 3, 1 << 16, 1 << 16).expect("three sockets");
        let addr = sockets[0].local_addr().expect("an address");
        assert_ne!(addr.port(), 0);
        assert!(sockets.iter().all(|s| s.local_addr().ok() == Some(addr)));
        let taken = bind_workers(addr, 2, 1 << 16, 1 << 16).expect_err("the address is in use");
        assert_eq!(taken.kind(), io::ErrorKind::AddrInUse);
        assert!(bind_workers(addr, 1, 1 << 16, 1 << 16).is_err());
    }
}
