//! The ARQ state of one endpoint: construction, the clock, timers and accessors.
//!
//! Sending lives in `send.rs`, receiving in `recv.rs`; both are `impl Kcp` blocks over the state
//! declared here.

use std::collections::VecDeque;
use std::time::Duration;

use thiserror::Error;

use super::config::{KcpConfig, KcpConfigError};
use super::ring::ByteRing;
use super::rto::RttEstimator;
use super::stats::KcpStats;
use crate::Instant;

/// Remote window assumed before the peer told us its own (`IKCP_WND_RCV`).
pub(crate) const INITIAL_REMOTE_WINDOW: u16 = 128;
/// Initial slow-start threshold (`IKCP_THRESH_INIT`), and its floor (`IKCP_THRESH_MIN`).
pub(crate) const THRESH_MIN: u32 = 2;
/// First wait before probing a zero remote window (`IKCP_PROBE_INIT`), ms.
pub(crate) const PROBE_INIT_MS: u32 = 7000;
/// Largest wait between window probes (`IKCP_PROBE_LIMIT`), ms.
pub(crate) const PROBE_LIMIT_MS: u32 = 120_000;
/// A segment is fast-retransmitted only while transmitted at most this often
/// (`IKCP_FASTACK_LIMIT`).
pub(crate) const FAST_RESEND_LIMIT: u32 = 5;
/// Most segments retransmitted when timers expire together (see [`Kcp::check_timeouts`]).
pub(crate) const TIMEOUT_PROBES: usize = 2;
/// Probe flag: send a WASK.
pub(crate) const ASK_SEND: u8 = 1;
/// Probe flag: send a WINS.
pub(crate) const ASK_TELL: u8 = 2;

/// Signed distance `later - earlier` of two wrapping u32 values (sequence numbers or
/// millisecond timestamps), as `_itimediff` in the reference.
#[inline]
pub(crate) fn diff(later: u32, earlier: u32) -> i32 {
    later.wrapping_sub(earlier) as i32
}

/// Liveness of the link as KCP sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KcpState {
    /// No segment has reached the dead-link transmission count.
    Alive,
    /// A segment was transmitted `dead_link` times without an acknowledgement. The endpoint
    /// keeps working; the caller decides to close the session.
    DeadLink,
}

/// A segment waiting in the send queue: payload assigned, no sequence number yet.
#[derive(Clone, Copy, Debug)]
pub(crate) struct QueuedSegment {
    pub(crate) offset: u64,
    pub(crate) len: usize,
    pub(crate) frg: u8,
}

/// A segment in the send buffer (it has a sequence number). Sequence numbers in the buffer are
/// contiguous from its front; acknowledged segments in the middle stay as tombstones
/// (`acked`) until everything before them is acknowledged.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SendSegment {
    pub(crate) sn: u32,
    pub(crate) frg: u8,
    pub(crate) offset: u64,
    pub(crate) len: usize,
    /// Timestamp of the latest transmission.
    pub(crate) ts: u32,
    /// When to retransmit (valid once `xmit > 0`).
    pub(crate) resendts: u32,
    /// This segment's current RTO (backs off per timeout).
    pub(crate) rto: u32,
    /// ACKs seen for later segments since the last transmission.
    pub(crate) fastack: u32,
    /// Transmission count, including a retransmission decided but not yet sent.
    pub(crate) xmit: u32,
    /// Must be (re)transmitted by the next `poll_transmit`.
    pub(crate) pending: bool,
    pub(crate) acked: bool,
    /// Its timer expired but it was held back while older segments probe the path: it is
    /// retransmitted when the peer answers a probe without having acknowledged it.
    pub(crate) held: bool,
}

/// A received data segment (in the reorder buffer or the in-order receive queue).
#[derive(Debug)]
pub(crate) struct RecvSegment {
    pub(crate) sn: u32,
    pub(crate) frg: u8,
    pub(crate) data: Vec<u8>,
}

/// Why [`Kcp::write`] refused the bytes. Nothing was queued.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum KcpWriteError {
    /// The send buffer is too full right now: drain `poll_transmit`, let ACKs arrive, retry.
    #[error(
        "KCP send buffer full: a write of {len} bytes does not fit, {available} bytes can be \
         written now; retry after acknowledgements free space"
    )]
    Full {
        /// Bytes of the refused write.
        len: usize,
        /// What [`Kcp::send_capacity`] reported.
        available: usize,
    },
    /// The write can never fit: larger than the whole send buffer, or (message mode) a message
    /// of more fragments than `min(127, recv_window)` (127 as the reference `ikcp.c`, which
    /// cannot receive longer messages).
    #[error("KCP write of {len} bytes can never be accepted: the largest possible is {max} bytes")]
    TooLarge {
        /// Bytes of the refused write.
        len: usize,
        /// Largest write that can ever be accepted.
        max: usize,
    },
}

/// Why [`Kcp::read_message`] returned no message.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum KcpReadError {
    /// The next message is larger than the buffer; nothing was consumed.
    #[error("KCP message of {needed} bytes does not fit a {available}-byte buffer")]
    BufferTooSmall {
        /// Size of the next message ([`Kcp::peek_size`]).
        needed: usize,
        /// Size of the given buffer.
        available: usize,
    },
}

/// One KCP endpoint (a conversation), sans-IO. See the [module docs](super) for the drain
/// contract and the deviations from the reference.
#[derive(Debug)]
pub struct Kcp {
    pub(crate) conv: u32,
    pub(crate) config: KcpConfig,
    /// Segment payload this side sends at most: the MTU's minus any send headroom.
    pub(crate) mss: usize,
    /// Segment payload this side accepts at most: always the MTU's.
    pub(crate) recv_mss: usize,
    pub(crate) state: KcpState,
    /// Latest `now` seen (time never goes backwards here).
    pub(crate) now: Instant,
    /// `now` in wrapping milliseconds, the reference's `current`.
    pub(crate) current: u32,

    pub(crate) snd_nxt: u32,
    pub(crate) snd_queue: VecDeque<QueuedSegment>,
    pub(crate) snd_buf: VecDeque<SendSegment>,
    pub(crate) ring: ByteRing,
    /// Payload bytes in `snd_queue`.
    pub(crate) queued_bytes: usize,
    /// Segments in `snd_buf` not yet acknowledged.
    pub(crate) unacked: usize,
    /// Segments in `snd_buf` with `pending` set.
    pub(crate) pending: usize,
    /// No pending segment has a sequence number before this one.
    pub(crate) scan_sn: u32,
    /// A lower bound of every unacknowledged, transmitted, not pending segment's `resendts`.
    pub(crate) earliest_resend: Option<u32>,
    /// While segments are held back after a timeout: when the probes were decided. An ACK
    /// echoing a timestamp at or after it answers the probes.
    pub(crate) probing_since: Option<u32>,

    pub(crate) cwnd: u32,
    pub(crate) ssthresh: u32,
    pub(crate) incr: u64,
    pub(crate) rmt_wnd: u16,
    pub(crate) rtt: RttEstimator,

    pub(crate) probe_flags: u8,
    pub(crate) probe_wait: u32,
    pub(crate) ts_probe: u32,

    pub(crate) rcv_nxt: u32,
    pub(crate) rcv_buf: VecDeque<RecvSegment>,
    pub(crate) rcv_queue: VecDeque<RecvSegment>,
    /// Bytes of the front of `rcv_queue` already read (stream reads may stop mid-segment).
    pub(crate) rcv_consumed: usize,
    /// Unread payload bytes in `rcv_queue`.
    pub(crate) rcv_queue_bytes: usize,
    /// Recycled receive buffers, at most `recv_window` of them: each holds its first payload
    /// exactly, and grows to `mss` the first time it is reused for a larger one.
    pub(crate) pool: Vec<Vec<u8>>,
    /// ACKs to send: `(sn, ts, arrived)`, `arrived` the clock (ms) when the segment came in.
    pub(crate) acklist: VecDeque<(u32, u32, u32)>,
    /// The input being handled calls for an ACK at once even with `ack_delay` (a duplicate, a
    /// segment past a gap or filling one).
    pub(crate) ack_now: bool,
    /// When pending ACKs must leave (only with `ack_delay > 0`).
    pub(crate) ack_deadline: Option<u32>,
    /// The ACK deadline passed: send pending ACKs now.
    pub(crate) ack_due: bool,

    pub(crate) stats: KcpStats,
}

impl Kcp {
    /// A new endpoint for conversation `conv`, sequence numbers starting at 0 (as the reference).
    ///
    /// # Panics
    /// If `config` is invalid: validate it first with [`KcpConfig::validate`], or use
    /// [`Kcp::try_new`].
    pub fn new(conv: u32, config: KcpConfig, now: Instant) -> Kcp {
        match Self::try_new(conv, config, now) {
            Ok(kcp) => kcp,
            Err(e) => panic!("invalid KcpConfig passed to Kcp::new: {e}"),
        }
    }

    /// A new endpoint, or the reason `config` is invalid.
    pub fn try_new(conv: u32, config: KcpConfig, now: Instant) -> Result<Kcp, KcpConfigError> {
        Self::with_initial_sn(conv, config, now, 0)
    }

    /// A new endpoint whose first sequence number (sent and expected) is `initial_sn`. Both
    /// peers must use the same value; the reference and other KCP peers always use 0. Useful to
    /// exercise sequence-number wrap-around.
    pub fn with_initial_sn(
        conv: u32,
        config: KcpConfig,
        now: Instant,
        initial_sn: u32,
    ) -> Result<Kcp, KcpConfigError> {
        config.validate()?;
        let mss = config.mss();
        Ok(Kcp {
            conv,
            mss,
            recv_mss: mss,
            state: KcpState::Alive,
            now,
            current: now.as_millis() as u32,
            snd_nxt: initial_sn,
            snd_queue: VecDeque::new(),
            // The segment tables start empty and grow to what the traffic needs (at most a
            // window each): an idle session costs a few hundred bytes, not a window's worth.
            snd_buf: VecDeque::new(),
            ring: ByteRing::default(),
            queued_bytes: 0,
            unacked: 0,
            pending: 0,
            scan_sn: initial_sn,
            earliest_resend: None,
            probing_since: None,
            cwnd: 1,
            ssthresh: THRESH_MIN,
            incr: mss as u64,
            rmt_wnd: INITIAL_REMOTE_WINDOW,
            rtt: RttEstimator::new(config.min_rto, config.interval),
            probe_flags: 0,
            probe_wait: 0,
            ts_probe: 0,
            rcv_nxt: initial_sn,
            rcv_buf: VecDeque::new(),
            rcv_queue: VecDeque::new(),
            rcv_consumed: 0,
            rcv_queue_bytes: 0,
            pool: Vec::new(),
            acklist: VecDeque::new(),
            ack_now: false,
            ack_deadline: None,
            ack_due: false,
            stats: KcpStats::default(),
            config,
        })
    }

    /// Advances the clock to `now` (never backwards).
    pub(crate) fn advance_clock(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
        self.current = self.now.as_millis() as u32;
    }

    /// Advances the clock to `now` and runs every timer that is due: retransmission
    /// timeouts, the ACK delay and the window probe.
    pub(crate) fn tick(&mut self, now: Instant) {
        self.advance_clock(now);
        self.check_timeouts();
        if let Some(deadline) = self.ack_deadline
            && diff(self.current, deadline) >= 0
        {
            self.ack_deadline = None;
            self.ack_due = true;
        }
        self.update_probe();
    }

    /// Handles the passage of time. Safe to call at any time, any number of times.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.tick(now);
    }

    /// Lets the pending ACKs leave with the next `poll_transmit` even where `ack_delay` would
    /// hold them: for a session about to end, which will send nothing for them to ride on.
    pub fn acknowledge_now(&mut self) {
        if !self.acklist.is_empty() {
            self.ack_due = true;
            self.ack_deadline = None;
        }
    }

    /// Handles expired retransmission timers and recomputes the earliest deadline.
    ///
    /// When at most [`TIMEOUT_PROBES`] segments expired, each is retransmitted and its RTO
    /// backed off, as the reference does. When more expired together, the oldest
    /// `TIMEOUT_PROBES` are retransmitted as probes and the others are *held*: their deadline
    /// moves to the probes' and they are not sent. Many timers expiring at once means the
    /// path or one of the two hosts stalled (a descheduled process, a paused VM, a delay spike)
    /// far more often than it means a window of independent losses; after a stall the peer
    /// usually holds the originals and its ACKs are on their way, so resending the whole
    /// window would double the load exactly when queues are fullest (the duplicates then
    /// overflow socket buffers and turn into real losses). The first ACK that echoes a
    /// timestamp sent at or after the probes was sent after the peer saw everything that
    /// reached it, so held segments still unacknowledged then are lost: they are retransmitted
    /// at once ([`Kcp::release_held`]). A true burst loss thus costs one more round trip; a
    /// stall costs two duplicate segments instead of a window. This is TCP's F-RTO idea
    /// (RFC 5682) in KCP's terms; `KcpStats::timeouts_held` counts the held segments.
    pub(crate) fn check_timeouts(&mut self) {
        match self.earliest_resend {
            Some(e) if diff(self.current, e) >= 0 => {}
            _ => return,
        }
        let current = self.current;
        let expired = self
            .snd_buf
            .iter()
            .filter(|seg| self.is_expired(seg))
            .take(TIMEOUT_PROBES + 1)
            .count();
        let hold = expired > TIMEOUT_PROBES;
        let mut probes = 0;
        let mut probe_deadline = current;
        let mut earliest: Option<u32> = None;
        for i in 0..self.snd_buf.len() {
            let seg = self.snd_buf[i];
            if seg.acked || seg.xmit == 0 || seg.pending {
                continue;
            }
            if diff(current, seg.resendts) < 0 {
                earliest = Some(match earliest {
                    Some(e) if diff(e, seg.resendts) <= 0 => e,
                    _ => seg.resendts,
                });
                continue;
            }
            if hold && probes == TIMEOUT_PROBES {
                let seg = &mut self.snd_buf[i];
                if !seg.held {
                    seg.held = true;
                    self.stats.timeouts_held += 1;
                }
                seg.resendts = probe_deadline;
                continue;
            }
            probes += 1;
            self.retransmit_on_timeout(i);
            if probes == 1 {
                probe_deadline = self.snd_buf[i].resendts;
            }
        }
        if hold {
            self.probing_since = Some(current);
            earliest = Some(match earliest {
                Some(e) if diff(e, probe_deadline) <= 0 => e,
                _ => probe_deadline,
            });
        }
        self.earliest_resend = earliest;
        if probes > 0 {
            self.ssthresh = (self.effective_window() / 2).max(THRESH_MIN);
            self.cwnd = 1;
            self.incr = self.mss as u64;
        }
    }

    /// Whether `seg` was transmitted, is unacknowledged, not already queued for
    /// retransmission, and its timer expired.
    fn is_expired(&self, seg: &SendSegment) -> bool {
        !seg.acked && seg.xmit > 0 && !seg.pending && diff(self.current, seg.resendts) >= 0
    }

    /// Queues `snd_buf[i]` for retransmission after its timer expired, backing off its RTO.
    fn retransmit_on_timeout(&mut self, i: usize) {
        let current = self.current;
        let rx_rto = self.rtt.rto();
        let nodelay = self.config.nodelay;
        let seg = &mut self.snd_buf[i];
        seg.xmit += 1;
        seg.held = false;
        let step = if nodelay {
            seg.rto / 2
        } else {
            seg.rto.max(rx_rto)
        };
        seg.rto = seg.rto.saturating_add(step).min(super::config::MAX_RTO_MS);
        seg.resendts = current.wrapping_add(seg.rto);
        seg.pending = true;
        let (sn, xmit) = (seg.sn, seg.xmit);
        self.pending += 1;
        if diff(sn, self.scan_sn) < 0 {
            self.scan_sn = sn;
        }
        if xmit >= self.config.dead_link {
            self.state = KcpState::DeadLink;
        }
        self.stats.retransmits_timeout += 1;
    }

    /// The peer answered a timeout probe: every held segment it has not acknowledged is lost;
    /// retransmit them now (see [`Kcp::check_timeouts`]).
    pub(crate) fn release_held(&mut self) {
        self.probing_since = None;
        for i in 0..self.snd_buf.len() {
            let seg = &self.snd_buf[i];
            if seg.held && !seg.acked && !seg.pending {
                self.retransmit_on_timeout(i);
            } else if seg.held {
                self.snd_buf[i].held = false;
            }
        }
    }

    /// Lowers `earliest_resend` to include `resendts`.
    pub(crate) fn note_resend_deadline(&mut self, resendts: u32) {
        self.earliest_resend = Some(match self.earliest_resend {
            Some(e) if diff(e, resendts) <= 0 => e,
            _ => resendts,
        });
    }

    /// Window probing (`ikcp_flush`'s probe step): while the peer advertises a zero window and
    /// data waits for it, send a WASK after 7 s, then every 1.5x longer, up to 120 s.
    pub(crate) fn update_probe(&mut self) {
        if self.rmt_wnd == 0 && !self.snd_queue.is_empty() {
            if self.probe_wait == 0 {
                self.probe_wait = PROBE_INIT_MS;
                self.ts_probe = self.current.wrapping_add(self.probe_wait);
            } else if diff(self.current, self.ts_probe) >= 0 {
                self.probe_wait = self.probe_wait.max(PROBE_INIT_MS);
                self.probe_wait = (self.probe_wait + self.probe_wait / 2).min(PROBE_LIMIT_MS);
                self.ts_probe = self.current.wrapping_add(self.probe_wait);
                self.probe_flags |= ASK_SEND;
            }
        } else {
            self.probe_wait = 0;
            self.ts_probe = 0;
        }
    }

    /// Segments that may be in flight: `min(send_window, remote window)`, and the congestion
    /// window unless congestion control is off.
    pub(crate) fn effective_window(&self) -> u32 {
        let wnd = u32::from(self.config.send_window.min(self.rmt_wnd));
        if self.config.no_congestion_control {
            wnd
        } else {
            wnd.min(self.cwnd)
        }
    }

    /// The next moment the caller must call [`Kcp::handle_timeout`]: the earliest of the
    /// retransmission deadlines, the ACK-delay deadline and the window-probe deadline.
    ///
    /// `None` when nothing is unacknowledged, no ACK waits and no probe is armed: an idle
    /// endpoint needs no wake-up. Output that is ready now is not a deadline: the caller drains
    /// [`Kcp::poll_transmit`] after every input. After `handle_timeout(t)` and a drain, the
    /// value is `None` or later than `t`.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut best: Option<i32> = None;
        let mut consider = |at: u32| {
            let d = diff(at, self.current);
            best = Some(best.map_or(d, |b| b.min(d)));
        };
        if self.unacked > 0
            && let Some(e) = self.earliest_resend
        {
            consider(e);
        }
        if let Some(d) = self.ack_deadline {
            consider(d);
        }
        if self.probe_wait != 0 {
            consider(self.ts_probe);
        }
        let d = best?;
        let base = self.now.as_millis() as i64;
        Some(Instant::from_millis((base + i64::from(d)).max(0) as u64))
    }

    /// The conversation id.
    pub fn conv(&self) -> u32 {
        self.conv
    }

    /// The configuration this endpoint runs with.
    pub fn config(&self) -> &KcpConfig {
        &self.config
    }

    /// Liveness: [`KcpState::DeadLink`] once a segment was sent `dead_link` times.
    pub fn state(&self) -> KcpState {
        self.state
    }

    /// Counters.
    pub fn stats(&self) -> &KcpStats {
        &self.stats
    }

    /// Smoothed round-trip time (zero before the first sample).
    pub fn srtt(&self) -> Duration {
        Duration::from_millis(u64::from(self.rtt.srtt()))
    }

    /// Round-trip time variation.
    pub fn rttvar(&self) -> Duration {
        Duration::from_millis(u64::from(self.rtt.rttvar()))
    }

    /// Current retransmission timeout for new segments.
    pub fn rto(&self) -> Duration {
        Duration::from_millis(u64::from(self.rtt.rto()))
    }

    /// Maximum segment payload sent (`mtu - 24`, less any
    /// [send headroom](Self::set_send_headroom)).
    pub fn mss(&self) -> usize {
        self.mss
    }

    /// Makes the datagrams this side sends at most `mtu - headroom` bytes, leaving `headroom`
    /// bytes for a layer below (FEC's shard header); received segments may still fill the whole
    /// MTU. Call before the first write: segments already queued keep their size. A headroom
    /// that would leave no payload leaves one byte.
    pub fn set_send_headroom(&mut self, headroom: usize) {
        self.mss = self.recv_mss.saturating_sub(headroom).max(1);
    }

    /// Congestion window in segments (not used when congestion control is off).
    pub fn cwnd(&self) -> u32 {
        self.cwnd
    }

    /// The peer's last advertised free receive window, in segments.
    pub fn remote_window(&self) -> u16 {
        self.rmt_wnd
    }
}
