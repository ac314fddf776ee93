//! The KCP ARQ: a sans-IO port of the reference `ikcp.c` (skywind3000), wire-compatible with it.
//!
//! [`Kcp`] is one endpoint of a conversation. It owns no socket and reads no clock: every call
//! that depends on time takes `now`, datagrams come in through [`Kcp::handle_datagram`] and go
//! out through [`Kcp::poll_transmit`] into a buffer the caller owns.
//!
//! # Drain contract
//!
//! After every input (`handle_datagram`, `handle_timeout`, `write`, a read), drain output, then
//! sleep until the deadline:
//!
//! ```
//! # use kcpq_core::{Instant, kcp::{Kcp, KcpConfig}};
//! let mut kcp = Kcp::new(7, KcpConfig::fast(), Instant::ZERO);
//! let mut buf = [0u8; 1367];
//! let now = Instant::ZERO;
//! kcp.write(b"hello").unwrap();
//! while let Some(len) = kcp.poll_transmit(now, &mut buf) {
//!     let _datagram = &buf[..len]; // protect and send it
//! }
//! let _wake_at = kcp.poll_timeout(); // None: nothing to wait for; else call handle_timeout then
//! ```
//!
//! # Wire format
//!
//! Segments have the reference's 24-byte little-endian header (see [`segment`]); one datagram
//! carries several segments, packed up to the MTU as `ikcp_flush` does.
//!
//! # Deviations from the reference (each also listed in `docs/kcp.md`)
//!
//! - **No update tick.** The reference flushes every `interval` ms from `ikcp_update`. Here data
//!   and ACKs leave in `poll_transmit`, which the caller drains after each input: ACKs go out at
//!   the end of each input batch (a lone one up to `ack_delay` later, TCP's way: see
//!   [`KcpConfig::ack_delay`]), and writes made before a drain
//!   coalesce into segments of up to the MSS. Retransmission deadlines are kept per segment and
//!   reported by `poll_timeout`; `interval` only remains in the RTO formula
//!   `rto = srtt + max(interval, 4 * rttvar)`, where it keeps the reference's conservative floor.
//! - **Idle means no deadline.** `poll_timeout` is `None` when nothing is unacknowledged, no ACK
//!   waits and no probe is armed; the window-probe timer runs only while data waits behind a
//!   zero remote window (the reference probes whenever the remote window is zero).
//! - **Bounded send side in bytes.** `write` refuses with [`KcpWriteError::Full`] instead of
//!   queueing without limit; the bound counts payload plus 24 bytes per segment. Stream writes
//!   are also refused whole (the reference accepts any size).
//! - **Receive side bounded by the window in total.** The reference buffers up to `rcv_wnd`
//!   out-of-order segments *and* up to `rcv_wnd` unread ones; here data is accepted only inside
//!   the free window it advertises (`recv_window - unread segments`), so both together never
//!   exceed `recv_window`. Segments beyond are dropped, counted, and not acknowledged.
//! - **Hostile input is refused.** An `una` or ACK for sequence numbers never sent, a payload
//!   over the MSS, a wrong conv or an unknown command stops parsing the datagram and is
//!   counted ([`KcpDrops`]); the reference accepts some of these (an `una` past `snd_nxt` would
//!   acknowledge unsent data).
//! - **Timers run after the input.** `handle_datagram` applies ACKs before it checks
//!   retransmission timers, so a timer that expired while its ACK was on the way never fires.
//! - **A stall resends two probes, not the window.** When more than two timers expire
//!   together, the two oldest segments are resent and the others held until an ACK answers the
//!   probes (then the ones still unacknowledged are resent) or the probes' own timer expires;
//!   see `docs/kcp.md` and [`KcpStats::timeouts_held`].
//! - **Per-segment RTO capped at 60 s.** The reference lets a segment's backed-off RTO grow
//!   without bound (and wrap); here it stops at 60 s.
//! - **Fast-ack counting** follows the reference (upstream `ikcp.c` defines
//!   `IKCP_FASTACK_CONSERVE`): an ACK for a later segment counts only when that segment was sent
//!   no earlier than this one's last transmission.
//! - **Initial congestion window 1** (the reference starts at 0 and raises it to 1 at the end
//!   of the first flush, which in effect delays the first segment by one tick).
//! - **Messages of up to `min(127, recv_window)` fragments** in message mode: the reference's
//!   `ikcp_send` refuses 128 or more and its receiver cannot reassemble them; a larger write is
//!   refused with [`KcpWriteError::TooLarge`]. This side still receives messages of up to
//!   `min(256, recv_window)` fragments.
//!
//! # Memory
//!
//! The send side stores payload in one byte ring (growing by doubling during warm-up up to the
//! send buffer limit); received segments use recycled buffers of `mss` bytes, at most
//! `recv_window` of them; the queues are `VecDeque`s that keep their capacity. In steady state
//! no call allocates.

mod config;
mod endpoint;
mod recv;
mod ring;
mod rto;
pub mod segment;
mod send;
mod stats;
#[cfg(test)]
mod tests;

pub use config::{
    DEFAULT_MTU, KcpConfig, KcpConfigError, MAX_INTERVAL_MS, MAX_MTU, MAX_RTO_MS, MIN_MTU,
};
pub use endpoint::{Kcp, KcpReadError, KcpState, KcpWriteError};
pub use segment::{Command, DecodeError, HEADER_LEN, SegmentHeader, Segments};
pub use stats::{KcpDrops, KcpStats};
