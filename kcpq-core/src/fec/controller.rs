//! How many parity shards a group gets.

use std::time::Duration;

use crate::Instant;

use super::config::{FecConfig, FecMode};

/// Chooses each group's parity from the loss the peer reports and a byte budget.
///
/// Adaptive mode: with independent loss `p`, a data shard of a group of `k` data and `m` parity
/// shards is lost for good when it is lost and at least `m` of the group's other `k + m - 1`
/// shards are too: `p * P(Binomial(k + m - 1, p) >= m)`. The controller gives a group the least
/// `m` (up to `max_parity`) that brings that under the target residual loss. At the default
/// target (0.001 %): none on a clean link; at 0.1 % loss one; at 1 % loss three for a full group
/// of 10 (kcp-go's fixed 10/3) and two for a lone shard; at 5 % loss six (the default ceiling)
/// for a full group and three for a lone shard. A byte budget
/// (`max_parity_bytes_per_sec`, refilled continuously, holding at most one second's worth)
/// caps the overhead: a group that would exceed it gets fewer shards, down to none.
///
/// Start-up (adaptive mode): a session's first loss is learned only when the peer reports it,
/// about two round trips in, and until then a dense stream would get no parity and wait for
/// retransmissions (the first ~50 ms of frames at 240 fps over a 20 ms link). So for
/// [`STARTUP_RTTS`] round trips (within [`STARTUP_MIN`] and [`STARTUP`]) after its first dense burst ([`STARTUP_MIN_DATA`] datagrams within a group
/// deadline, see [`ParityController::note_datagram`]), a group of at least [`STARTUP_MIN_DATA`]
/// data shards gets the parity that [`STARTUP_LOSS_PPM`] of loss would ask for, unless the peer
/// reports loss first (then the reported loss rules). Sparse traffic (requests, heartbeats)
/// neither starts it nor gets any, so on a clean link start-up costs a dense stream eight round
/// trips of parity (10 ms on a fast link, 160 ms across 20 ms; its first burst's datagrams are
/// sent before it starts, unprotected) and a sparse one nothing.
///
/// Fixed mode: always the configured parity; off: none.
#[derive(Debug, Clone)]
pub struct ParityController {
    mode: FecMode,
    startup: Startup,
    max_parity: u8,
    target: f64,
    /// Loss the peer reported, as a probability.
    loss: f64,
    rate: f64,
    budget: f64,
    refilled_at: Option<Instant>,
    /// The start and length of the current burst of datagrams, while start-up is pending.
    burst: Option<(Instant, u8)>,
    /// How long start-up will last once it starts ([`STARTUP`] until a round trip is known).
    startup_len: Duration,
}

/// How long start-up parity lasts after a session's first dense burst of datagrams, at most:
/// [`STARTUP_RTTS`] round trips, within [`STARTUP_MIN`] and this (250 ms), or this when the
/// round trip is not known yet.
pub const STARTUP: Duration = Duration::from_millis(250);
/// Start-up lasts this many of the session's smoothed round trips
/// ([`ParityController::set_rtt`]): the peer's first loss report comes about one round trip
/// after its first loss, so eight leave room for a first loss a few frames in (with four, 100 KB
/// frames at 240 fps across 20 ms and 5 % loss had a p99 1.03x that of 250 ms, within the
/// noise, and more runs above 1.15x the clean link's; with eight, 1.00x). On a link of a
/// millisecond or less, where a retransmission costs no more than parity would save, start-up
/// is then [`STARTUP_MIN`] instead of a quarter of a second of parity (a 0.4 s loopback
/// throughput test of 128 B messages ran at 0.85x with the fixed 250 ms).
pub const STARTUP_RTTS: u32 = 8;
/// The shortest start-up (10 ms).
pub const STARTUP_MIN: Duration = Duration::from_millis(10);
/// The loss start-up assumes: 1 %, three parity shards for a full group of 10.
pub const STARTUP_LOSS_PPM: u32 = 10_000;
/// Dense traffic, for start-up: this many datagrams within one group deadline start it, and a
/// group needs this many data shards to get its parity. 4 within the 2 ms deadline is 2 000
/// datagrams a second: a ping-pong at 1 000 a second fills 2 or 3, a frame forwarded as its
/// datagrams arrive at the server fills its groups (8, with the earlier 5 ms deadline, missed
/// such frames once groups closed after 2 ms).
pub const STARTUP_MIN_DATA: u8 = 4;

/// Where adaptive mode's start-up stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Startup {
    /// No dense burst yet (control traffic before a stream starts does not count).
    Pending,
    /// Start-up parity until then.
    Until(Instant),
    Over,
}

impl ParityController {
    /// A controller for `config`, assuming a clean link until the peer reports loss (with
    /// start-up parity for dense traffic in adaptive mode, see above).
    pub fn new(config: &FecConfig) -> ParityController {
        let rate = config.max_parity_bytes_per_sec as f64;
        let startup = match config.mode {
            FecMode::Auto => Startup::Pending,
            _ => Startup::Over,
        };
        ParityController {
            mode: config.mode,
            startup,
            max_parity: config.max_parity,
            target: f64::from(config.target_residual_ppm) / 1e6,
            loss: 0.0,
            rate,
            budget: rate,
            refilled_at: None,
            burst: None,
            startup_len: STARTUP,
        }
    }

    /// The loss the peer observes, in parts per million (values above 1 000 000 count as all).
    pub fn set_peer_loss_ppm(&mut self, ppm: u32) {
        self.loss = f64::from(ppm.min(1_000_000)) / 1e6;
        if ppm > 0 {
            // Measured loss replaces the assumption. (A report of none does not end start-up:
            // the peer may not have seen enough of this side's datagrams yet.)
            self.startup = Startup::Over;
        }
    }

    /// This side sent a datagram at `now` (a data shard or a plain datagram). The first burst
    /// of [`STARTUP_MIN_DATA`] datagrams within one group deadline (`window`) before any loss
    /// report marks a dense stream and starts the start-up window. Counting from the session's
    /// first group instead, a subscriber's window ran out on its CONNECT and SUB before the
    /// first frame came, and the server's first frames to it went unprotected until the first
    /// loss report, two round trips in.
    pub fn note_datagram(&mut self, now: Instant, window: Duration) {
        if self.startup != Startup::Pending {
            return;
        }
        match self.burst {
            Some((start, count)) if now.saturating_duration_since(start) <= window => {
                let count = count.saturating_add(1);
                self.burst = Some((start, count));
                if count >= STARTUP_MIN_DATA {
                    self.startup = Startup::Until(now + self.startup_len);
                }
            }
            _ => self.burst = Some((now, 1)),
        }
    }

    /// The session's smoothed round trip, as measured so far: start-up, if it has not begun,
    /// will last [`STARTUP_RTTS`] of them (within [`STARTUP_MIN`] and [`STARTUP`]).
    pub fn set_rtt(&mut self, srtt: Duration) {
        if self.startup == Startup::Pending {
            self.startup_len = (srtt * STARTUP_RTTS).clamp(STARTUP_MIN, STARTUP);
        }
    }

    /// The loss last reported, in parts per million.
    pub fn peer_loss_ppm(&self) -> u32 {
        (self.loss * 1e6).round() as u32
    }

    /// Parity shards for a group of `data` shards of `shard_bytes` each, at `now`; charges
    /// them to the byte budget.
    pub fn parity_for(&mut self, now: Instant, data: u8, shard_bytes: usize) -> u8 {
        match self.mode {
            FecMode::Off => 0,
            FecMode::Fixed { parity, .. } => parity,
            FecMode::Auto => {
                self.refill(now);
                if matches!(self.startup, Startup::Until(end) if now >= end) {
                    self.startup = Startup::Over;
                }
                let mut wanted = self.needed(data);
                if matches!(self.startup, Startup::Until(_)) && data >= STARTUP_MIN_DATA {
                    wanted = wanted.max(self.needed_at(STARTUP_LOSS_PPM, data));
                }
                let affordable = (self.budget / shard_bytes.max(1) as f64).floor();
                let parity = f64::from(wanted).min(affordable.max(0.0)) as u8;
                self.budget -= f64::from(parity) * shard_bytes as f64;
                parity
            }
        }
    }

    /// The parity a group of at most `data` shards will get at most: what the mode and the
    /// reported loss ask for, before the budget (announced in the group's data shards).
    pub fn planned(&self, data: u8) -> u8 {
        match self.mode {
            FecMode::Off => 0,
            FecMode::Fixed { parity, .. } => parity,
            FecMode::Auto if matches!(self.startup, Startup::Until(_)) => self
                .needed(data)
                .max(self.needed_at(STARTUP_LOSS_PPM, data)),
            FecMode::Auto => self.needed(data),
        }
    }

    /// The least parity that meets the target for a group of `data` shards (ignoring the
    /// budget).
    pub fn needed(&self, data: u8) -> u8 {
        self.parity_at(self.loss, data)
    }

    /// The least parity that meets the target at `ppm` of loss.
    fn needed_at(&self, ppm: u32, data: u8) -> u8 {
        self.parity_at(f64::from(ppm) / 1e6, data)
    }

    fn parity_at(&self, loss: f64, data: u8) -> u8 {
        if loss <= 0.0 {
            return 0;
        }
        (0..=self.max_parity)
            .find(|&m| residual(loss, u32::from(data), u32::from(m)) <= self.target)
            .unwrap_or(self.max_parity)
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = self
            .refilled_at
            .map_or(Duration::ZERO, |at| now.saturating_duration_since(at));
        self.refilled_at = Some(now);
        self.budget = (self.budget + self.rate * elapsed.as_secs_f64()).min(self.rate);
    }
}

/// The probability that a given data shard of a group of `k` data and `m` parity shards is lost
/// and cannot be rebuilt, with independent loss `p`.
fn residual(p: f64, k: u32, m: u32) -> f64 {
    let others = k + m - 1;
    // P(Binomial(others, p) >= m) = 1 - P(< m).
    let mut below = 0.0;
    let mut term = (1.0 - p).powi(others as i32); // P(X = 0)
    for i in 0..m.min(others + 1) {
        below += term;
        // P(X = i + 1) from P(X = i).
        term *= f64::from(others - i) / f64::from(i + 1) * p / (1.0 - p);
    }
    let at_least_m = if m > others {
        0.0
    } else {
        (1.0 - below).max(0.0)
    };
    p * at_least_m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auto(loss_ppm: u32) -> ParityController {
        let mut c = ParityController::new(&FecConfig::auto());
        c.set_peer_loss_ppm(loss_ppm);
        c
    }

    #[test]
    fn startup_lasts_eight_round_trips_within_its_bounds() {
        let burst = |c: &mut ParityController, at: Instant| {
            for _ in 0..STARTUP_MIN_DATA {
                c.note_datagram(at, Duration::from_millis(2));
            }
        };
        let start = Instant::ZERO + Duration::from_secs(1);
        let lasts = |rtt: Option<Duration>| {
            let mut c = ParityController::new(&FecConfig::auto());
            if let Some(rtt) = rtt {
                c.set_rtt(rtt);
            }
            burst(&mut c, start);
            match c.startup {
                Startup::Until(end) => end - start,
                other => panic!("start-up did not start: {other:?}"),
            }
        };
        assert_eq!(lasts(None), STARTUP, "no round trip known yet");
        assert_eq!(
            lasts(Some(Duration::from_millis(20))),
            Duration::from_millis(160)
        );
        assert_eq!(lasts(Some(Duration::ZERO)), STARTUP_MIN, "loopback");
        assert_eq!(lasts(Some(Duration::from_millis(300))), STARTUP);
        // Once started, a new round trip does not move its end.
        let mut c = ParityController::new(&FecConfig::auto());
        c.set_rtt(Duration::from_millis(20));
        burst(&mut c, start);
        c.set_rtt(Duration::from_millis(1));
        assert_eq!(
            c.startup,
            Startup::Until(start + Duration::from_millis(160))
        );
    }

    #[test]
    fn parity_follows_loss_and_group_size() {
        assert_eq!(auto(0).needed(10), 0);
        assert_eq!(auto(0).needed(1), 0);
        assert_eq!(auto(1_000).needed(10), 1);
        assert_eq!(auto(1_000).needed(1), 1);
        assert_eq!(auto(10_000).needed(10), 3);
        assert_eq!(auto(10_000).needed(1), 2);
        assert_eq!(auto(50_000).needed(1), 3);
        assert_eq!(auto(50_000).needed(10), 6);
        assert_eq!(auto(50_000).needed(5), 5);
        // Heavy loss hits the configured ceiling.
        assert_eq!(auto(400_000).needed(10), 6);
        assert_eq!(auto(400_000).needed(1), 6);
    }

    #[test]
    fn the_residual_loss_formula_matches_hand_computed_values() {
        // k = 1, m = 2, p = 5 %: the shard and both copies lost: 0.05^3.
        assert!((residual(0.05, 1, 2) - 0.05f64.powi(3)).abs() < 1e-12);
        // m = 0: the shard's own loss.
        assert!((residual(0.05, 10, 0) - 0.05).abs() < 1e-12);
    }

    #[test]
    fn fixed_and_off_ignore_loss() {
        let fixed = FecConfig::with_mode(FecMode::Fixed {
            data: 10,
            parity: 3,
        });
        let mut c = ParityController::new(&fixed);
        assert_eq!(c.parity_for(Instant::ZERO, 10, 1400), 3);
        let mut off = ParityController::new(&FecConfig::default());
        off.set_peer_loss_ppm(500_000);
        assert_eq!(off.parity_for(Instant::ZERO, 10, 1400), 0);
    }

    #[test]
    fn the_byte_budget_caps_overhead_and_refills() {
        let mut config = FecConfig::auto();
        config.max_parity_bytes_per_sec = 10_000;
        config.target_residual_ppm = 1_000;
        let mut c = ParityController::new(&config);
        c.set_peer_loss_ppm(50_000);
        let t0 = Instant::ZERO;
        // 10 000 bytes of budget: three 1 400-byte shards, twice, then what is left (1 600).
        assert_eq!(c.parity_for(t0, 10, 1400), 3);
        assert_eq!(c.parity_for(t0, 10, 1400), 3);
        assert_eq!(c.parity_for(t0, 10, 1400), 1);
        assert_eq!(c.parity_for(t0, 10, 1400), 0);
        // Half a second refills 5 000 bytes.
        let later = t0 + Duration::from_millis(500);
        assert_eq!(c.parity_for(later, 10, 1400), 3);
        assert_eq!(c.parity_for(later, 10, 1400), 0);
    }

    #[test]
    fn the_default_budget_protects_every_group_of_a_video_stream_under_loss() {
        // 100 KB frames at 240 fps (7 full groups of 1 367-byte shards and one of 5 per
        // frame) at 2.5 % reported loss, where the loss meter settles under 1 % of real loss
        // (it rises half way to a lossy window and falls 1/16 per clean one): every group gets
        // the parity the loss asks for, for 10 seconds. The budget of 8 MB/s this replaced ran
        // dry after its one second of reserve and starved groups.
        let mut c = auto(25_000);
        let frame = Duration::from_micros(4_167);
        let mut now = Instant::ZERO;
        for _ in 0..240 * 10 {
            for data in [10, 10, 10, 10, 10, 10, 10, 5] {
                let wanted = c.needed(data);
                assert_eq!(
                    c.parity_for(now, data, 1367),
                    wanted,
                    "a starved group at {now:?}"
                );
            }
            now += frame;
        }
    }
}
