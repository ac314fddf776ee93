//! The drain contract: how every state machine of this crate is driven.

use std::net::SocketAddr;

use crate::Instant;

/// A datagram to send: `buf[..len]` of the buffer given to `poll_transmit`, to `destination`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send it.
    pub destination: SocketAddr,
    /// How many bytes of the caller's buffer it occupies.
    pub len: usize,
}

/// Most datagrams whose tags a server or client computes together, sending or receiving
/// ([`Drive::handle_datagrams`]): an adapter that reads bursts of datagrams hands them over in
/// groups of this many.
pub const DATAGRAM_BATCH: usize = kcpq_mac::BATCH;

/// A sans-IO state machine driven by datagrams and timeouts: [`Server`](crate::server::Server)
/// and [`Client`](crate::client::Client). Every adapter (kcpq-smol, kcpq-std, kcpq-tokio, the
/// hand-written `event_loop` example) drives both through this trait and follows this contract
/// literally:
///
/// - **Input** is [`handle_datagram`](Drive::handle_datagram) for each datagram that arrives (or
///   [`handle_datagrams`](Drive::handle_datagrams) for several that arrived together) and
///   [`handle_timeout`](Drive::handle_timeout) when the deadline from
///   [`poll_timeout`](Drive::poll_timeout) has passed (calling it early or twice is harmless).
///   API calls (`publish`, `subscribe`, `request`, `flush`, `close`, ...) only change state and
///   queue output; they never block.
/// - **`now` never goes backwards**: every call takes the caller's monotonic clock, and each
///   `now` is at least the previous one given to the same machine. Timers, RTT estimates and
///   liveness are computed from it.
/// - **After every input or API call, drain**: call [`poll_transmit`](Drive::poll_transmit) and
///   send each datagram until it returns `None`, then take [`poll_event`](Drive::poll_event)
///   until `None`. A burst of inputs that are already waiting (the datagrams one readiness
///   wake-up finds, a run of API calls) may be handled first and drained once: output then
///   coalesces into fuller datagrams and one ACK answers the burst. Keep bursts bounded (the
///   adapters take at most 64 datagrams or 256 calls) so that output is not held back long.
/// - **Then sleep** until the next datagram or `poll_timeout()`, whichever comes first. `None`
///   means no timer is pending: sleep until a datagram arrives or the application calls the
///   API. `poll_timeout` is only meaningful after `poll_transmit` returned `None`.
///
/// ```no_run
/// # use kcpq_core::{Drive, Instant};
/// # fn recv_until(_: Option<Instant>) -> Option<(std::net::SocketAddr, Vec<u8>)> { None }
/// # fn send(_: std::net::SocketAddr, _: &[u8]) {}
/// # fn clock() -> Instant { Instant::ZERO }
/// fn run(machine: &mut impl Drive) {
///     let mut buf = vec![0u8; 65_536];
///     loop {
///         let now = clock();
///         while let Some(t) = machine.poll_transmit(now, &mut buf) {
///             send(t.destination, &buf[..t.len]);
///         }
///         while let Some(_event) = machine.poll_event() { /* hand it to the application */ }
///         match recv_until(machine.poll_timeout()) {
///             Some((from, mut datagram)) => machine.handle_datagram(clock(), from, &mut datagram),
///             None => machine.handle_timeout(clock()),
///         }
///     }
/// }
/// ```
pub trait Drive {
    /// What [`poll_event`](Drive::poll_event) yields.
    type Event;

    /// Feeds one datagram that arrived from `from`; it is decrypted in place.
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &mut [u8]);

    /// Feeds datagrams that arrived together (one readiness wake-up's), in order; each is
    /// decrypted in place. The same as [`handle_datagram`](Drive::handle_datagram) for each,
    /// which is what this default does; [`Server`](crate::server::Server) and
    /// [`Client`](crate::client::Client) also compute the tags of up to [`DATAGRAM_BATCH`]
    /// packets at once, so an adapter that reads bursts hands them over in groups that large.
    fn handle_datagrams(&mut self, now: Instant, datagrams: &mut [(SocketAddr, &mut [u8])]) {
        for (from, datagram) in datagrams {
            self.handle_datagram(now, *from, datagram);
        }
    }

    /// Runs the timers due at `now`.
    fn handle_timeout(&mut self, now: Instant);

    /// Writes the next datagram to send into `buf`; `None` when nothing is left.
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit>;

    /// The next event for the owner; `None` when nothing is left.
    fn poll_event(&mut self) -> Option<Self::Event>;

    /// When [`handle_timeout`](Drive::handle_timeout) must be called next; `None` when no timer
    /// is pending.
    fn poll_timeout(&self) -> Option<Instant>;
}
