//! Every knob of the reference, with presets sized for KCPQ's targets.

use thiserror::Error;

use super::segment::HEADER_LEN;

/// KCPQ's default MTU: a 1400-byte UDP payload minus 33 bytes of packet protection
/// (type 1 + session id 8 + packet number 8 + tag 16).
pub const DEFAULT_MTU: usize = 1367;

/// Smallest accepted MTU (the reference refuses anything below 50 bytes).
pub const MIN_MTU: usize = 50;

/// Largest accepted MTU (a UDP payload cannot be larger).
pub const MAX_MTU: usize = 65535;

/// Largest accepted `interval`, `min_rto` bound and `ack_delay`, in milliseconds.
pub const MAX_INTERVAL_MS: u32 = 5000;

/// Upper bound of every retransmission timeout, in milliseconds (`IKCP_RTO_MAX`).
pub const MAX_RTO_MS: u32 = 60_000;

/// Configuration of one KCP endpoint. Both peers must agree on `mtu` and `stream`.
///
/// Start from a preset ([`KcpConfig::fast`], [`KcpConfig::video`], [`KcpConfig::normal`]; the
/// `Default` is `fast`) and change fields; [`KcpConfig::validate`] reports nonsense. Times are in
/// milliseconds, windows in segments, buffers in bytes.
///
/// The caller sets `mtu` to the KCP payload budget of its datagrams: KCPQ's session layer uses
/// [`DEFAULT_MTU`] (1367 = 1400-byte UDP payload minus 33 bytes of protection).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct KcpConfig {
    /// Fast retransmission timing (`nodelay`): minimum first-transmission slack of zero and a
    /// backoff of 1.5x instead of 2x per timeout. Presets: fast/video on, normal off.
    pub nodelay: bool,
    /// The reference's update interval in ms (1..=5000). There is no tick here: it only enters
    /// the RTO as its floor term, `rto = srtt + max(interval, 4 * rttvar)` (see the module docs).
    pub interval: u32,
    /// Fast retransmit after this many ACKs that skipped a segment (0 = off). Presets: 2, 2, 0.
    pub fast_resend: u32,
    /// Disable congestion control (`nc`): send up to the send and remote windows at once.
    pub no_congestion_control: bool,
    /// Send window in segments: at most this many segments in flight. Default 1024: with the
    /// 1343-byte MSS this allows 1.37 MB per round trip, 68 MB/s at 20 ms RTT, well above the
    /// 24 MB/s video target; the reference's 32 caps such a link near 2 MB/s.
    pub send_window: u16,
    /// Receive window in segments: at most this many segments are buffered on the receive side
    /// (out-of-order plus unread in-order). Default 1024, for the same reason as `send_window`;
    /// memory for a full window is `recv_window * mss` (1.4 MB at the defaults), allocated only
    /// as it is used.
    pub recv_window: u16,
    /// Largest datagram in bytes (header included), [`MIN_MTU`]..=[`MAX_MTU`]. Default
    /// [`DEFAULT_MTU`] (1367); the caller sets it to its datagram payload budget. Both peers
    /// must use the same MTU: a standalone endpoint talking to the reference `ikcp.c`, whose
    /// default is 1400, must set 1400 here (or the reference's to 1367), or the reference's
    /// full segments are dropped as oversized (`KcpDrops::oversized_segment`, logged once) and
    /// its sender stalls.
    pub mtu: usize,
    /// Lower bound of the RTO in ms (1..=60000). The reference uses 30 with nodelay, 100 without.
    pub min_rto: u32,
    /// Stream mode: writes are a byte stream and fill segments to the MSS (KCPQ's mode). Off:
    /// message mode, each write is one message of up to `min(256, recv_window)` fragments.
    pub stream: bool,
    /// A segment transmitted this many times marks the link dead ([`KcpState::DeadLink`]).
    /// Default 20, the reference's.
    ///
    /// [`KcpState::DeadLink`]: super::KcpState::DeadLink
    pub dead_link: u32,
    /// The most a lone ACK waits for a data segment to ride on, in ms (0..=5000; 10 in the
    /// presets). It leaves at once, as TCP's does, when two segments wait, a segment arrives
    /// out of order, fills a gap or is a duplicate, and for a session about to end
    /// ([`Kcp::acknowledge_now`]). The wait is also at most half of what `min_rto` leaves after
    /// 1.25 smoothed RTTs, and nothing before the first RTT sample, so a held ACK reaches the
    /// peer before its retransmission timer could fire; a held ACK echoes the segment's
    /// timestamp plus the wait, so the peer's RTT samples leave the wait out. 0: every ACK
    /// leaves at the next `poll_transmit` after the input that caused it.
    ///
    /// [`Kcp::acknowledge_now`]: super::Kcp::acknowledge_now
    pub ack_delay: u32,
    /// Bound of the send side in bytes: payload plus 24 bytes of header per segment, over the
    /// queued and the unacknowledged segments. A write that does not fit is refused whole with
    /// [`KcpWriteError::Full`]. Default 4 MiB: a 1 MB video frame plus a full send window in flight.
    ///
    /// [`KcpWriteError::Full`]: super::KcpWriteError::Full
    pub send_buffer_limit: usize,
}

/// Why a [`KcpConfig`] was refused.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum KcpConfigError {
    /// `mtu` outside [`MIN_MTU`]..=[`MAX_MTU`].
    #[error("KCP mtu {mtu} is out of range: use {MIN_MTU}..={MAX_MTU} bytes")]
    MtuOutOfRange {
        /// The refused value.
        mtu: usize,
    },
    /// `interval` is zero or above [`MAX_INTERVAL_MS`].
    #[error("KCP interval {interval} ms is out of range: use 1..={MAX_INTERVAL_MS} ms")]
    IntervalOutOfRange {
        /// The refused value.
        interval: u32,
    },
    /// `send_window` or `recv_window` is zero.
    #[error("KCP send and receive windows must be at least 1 segment")]
    ZeroWindow,
    /// `min_rto` is zero or above [`MAX_RTO_MS`].
    #[error("KCP min_rto {min_rto} ms is out of range: use 1..={MAX_RTO_MS} ms")]
    MinRtoOutOfRange {
        /// The refused value.
        min_rto: u32,
    },
    /// `dead_link` is zero.
    #[error("KCP dead_link must be at least 1 transmission")]
    ZeroDeadLink,
    /// `ack_delay` above [`MAX_INTERVAL_MS`].
    #[error("KCP ack_delay {ack_delay} ms is too large: use 0..={MAX_INTERVAL_MS} ms")]
    AckDelayTooLarge {
        /// The refused value.
        ack_delay: u32,
    },
    /// `send_buffer_limit` cannot hold one full segment.
    #[error("KCP send_buffer_limit {limit} bytes cannot hold one full segment: use at least {min}")]
    SendBufferTooSmall {
        /// The refused value.
        limit: usize,
        /// The smallest accepted value (the MTU).
        min: usize,
    },
}

impl KcpConfig {
    fn preset(nodelay: bool, interval: u32, fast_resend: u32, no_cc: bool) -> Self {
        KcpConfig {
            nodelay,
            interval,
            fast_resend,
            no_congestion_control: no_cc,
            send_window: 1024,
            recv_window: 1024,
            mtu: DEFAULT_MTU,
            min_rto: if nodelay { 30 } else { 100 },
            stream: true,
            dead_link: 20,
            ack_delay: 10,
            send_buffer_limit: 4 << 20,
        }
    }

    /// Low latency (nodelay, interval 10, fast resend 2, no congestion control), windows
    /// 1024/1024, min RTO 30 ms, MTU 1367, stream mode, ACK delay 10 ms, 4 MiB send buffer.
    /// The default.
    pub fn fast() -> Self {
        Self::preset(true, 10, 2, true)
    }

    /// Bulk real-time video (nodelay, interval 20, fast resend 2, no congestion control),
    /// windows 2048/2048 (a 100 KB frame is 75 segments; 240 fps is 24 MB/s, and 2048 segments
    /// keep that flowing through 100 ms of RTT and loss recovery), min RTO 30 ms, MTU 1367,
    /// stream mode, 8 MiB send buffer (a few large frames behind a full window).
    pub fn video() -> Self {
        KcpConfig {
            send_window: 2048,
            recv_window: 2048,
            send_buffer_limit: 8 << 20,
            ..Self::preset(true, 20, 2, true)
        }
    }

    /// The reference's conservative behaviour (no nodelay, interval 40, no fast resend,
    /// congestion control on), min RTO 100 ms; windows 256/256 (congestion control limits the
    /// flight anyway), MTU 1367, stream mode, 4 MiB send buffer.
    pub fn normal() -> Self {
        KcpConfig {
            send_window: 256,
            recv_window: 256,
            ..Self::preset(false, 40, 0, false)
        }
    }

    /// Checks every field; see [`KcpConfigError`] for the rules.
    pub fn validate(&self) -> Result<(), KcpConfigError> {
        if !(MIN_MTU..=MAX_MTU).contains(&self.mtu) {
            return Err(KcpConfigError::MtuOutOfRange { mtu: self.mtu });
        }
        if !(1..=MAX_INTERVAL_MS).contains(&self.interval) {
            return Err(KcpConfigError::IntervalOutOfRange {
                interval: self.interval,
            });
        }
        if self.send_window == 0 || self.recv_window == 0 {
            return Err(KcpConfigError::ZeroWindow);
        }
        if !(1..=MAX_RTO_MS).contains(&self.min_rto) {
            return Err(KcpConfigError::MinRtoOutOfRange {
                min_rto: self.min_rto,
            });
        }
        if self.dead_link == 0 {
            return Err(KcpConfigError::ZeroDeadLink);
        }
        if self.ack_delay > MAX_INTERVAL_MS {
            return Err(KcpConfigError::AckDelayTooLarge {
                ack_delay: self.ack_delay,
            });
        }
        if self.send_buffer_limit < self.mtu {
            return Err(KcpConfigError::SendBufferTooSmall {
                limit: self.send_buffer_limit,
                min: self.mtu,
            });
        }
        Ok(())
    }

    /// Maximum segment payload: `mtu - 24`.
    pub fn mss(&self) -> usize {
        self.mtu.saturating_sub(HEADER_LEN)
    }
}

impl Default for KcpConfig {
    /// [`KcpConfig::fast`].
    fn default() -> Self {
        Self::fast()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_match_the_issue_and_validate() {
        let f = KcpConfig::fast();
        assert_eq!(
            (
                f.nodelay,
                f.interval,
                f.fast_resend,
                f.no_congestion_control
            ),
            (true, 10, 2, true)
        );
        let v = KcpConfig::video();
        assert_eq!(
            (
                v.nodelay,
                v.interval,
                v.fast_resend,
                v.no_congestion_control
            ),
            (true, 20, 2, true)
        );
        assert!(v.send_window >= 1024 && v.recv_window >= 1024);
        let n = KcpConfig::normal();
        assert_eq!(
            (
                n.nodelay,
                n.interval,
                n.fast_resend,
                n.no_congestion_control
            ),
            (false, 40, 0, false)
        );
        for c in [f, v, n, KcpConfig::default()] {
            assert_eq!(c.validate(), Ok(()));
            assert_eq!(c.mtu, DEFAULT_MTU);
            assert!(c.stream);
            assert_eq!(c.ack_delay, 10);
        }
        assert_eq!(KcpConfig::default().mss(), 1343);
    }

    #[test]
    fn nonsense_is_refused() {
        let ok = KcpConfig::fast();
        let cases: Vec<(KcpConfig, KcpConfigError)> = vec![
            (
                KcpConfig {
                    mtu: 49,
                    ..ok.clone()
                },
                KcpConfigError::MtuOutOfRange { mtu: 49 },
            ),
            (
                KcpConfig {
                    mtu: 65536,
                    ..ok.clone()
                },
                KcpConfigError::MtuOutOfRange { mtu: 65536 },
            ),
            (
                KcpConfig {
                    interval: 0,
                    ..ok.clone()
                },
                KcpConfigError::IntervalOutOfRange { interval: 0 },
            ),
            (
                KcpConfig {
                    interval: 5001,
                    ..ok.clone()
                },
                KcpConfigError::IntervalOutOfRange { interval: 5001 },
            ),
            (
                KcpConfig {
                    send_window: 0,
                    ..ok.clone()
                },
                KcpConfigError::ZeroWindow,
            ),
            (
                KcpConfig {
                    recv_window: 0,
                    ..ok.clone()
                },
                KcpConfigError::ZeroWindow,
            ),
            (
                KcpConfig {
                    min_rto: 0,
                    ..ok.clone()
                },
                KcpConfigError::MinRtoOutOfRange { min_rto: 0 },
            ),
            (
                KcpConfig {
                    min_rto: 60_001,
                    ..ok.clone()
                },
                KcpConfigError::MinRtoOutOfRange { min_rto: 60_001 },
            ),
            (
                KcpConfig {
                    dead_link: 0,
                    ..ok.clone()
                },
                KcpConfigError::ZeroDeadLink,
            ),
            (
                KcpConfig {
                    ack_delay: 5001,
                    ..ok.clone()
                },
                KcpConfigError::AckDelayTooLarge { ack_delay: 5001 },
            ),
            (
                KcpConfig {
                    send_buffer_limit: 1366,
                    ..ok.clone()
                },
                KcpConfigError::SendBufferTooSmall {
                    limit: 1366,
                    min: 1367,
                },
            ),
        ];
        for (config, err) in cases {
            assert_eq!(config.validate(), Err(err.clone()));
            assert!(!err.to_string().is_empty());
        }
        assert_eq!(
            KcpConfig {
                mtu: 50,
                send_buffer_limit: 50,
                ..ok
            }
            .validate(),
            Ok(())
        );
    }
}
