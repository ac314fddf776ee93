//! Round-trip estimation and the retransmission timeout, as `ikcp_update_ack`.

use super::config::MAX_RTO_MS;

/// Initial RTO before any sample (`IKCP_RTO_DEF`), in ms.
pub(crate) const INITIAL_RTO_MS: u32 = 200;

/// Smoothed RTT, RTT variation and the RTO derived from them, all in milliseconds.
#[derive(Clone, Debug)]
pub(crate) struct RttEstimator {
    sampled: bool,
    srtt: u32,
    rttvar: u32,
    rto: u32,
    min_rto: u32,
    interval: u32,
}

impl RttEstimator {
    pub(crate) fn new(min_rto: u32, interval: u32) -> Self {
        RttEstimator {
            sampled: false,
            srtt: 0,
            rttvar: 0,
            rto: INITIAL_RTO_MS.clamp(min_rto, MAX_RTO_MS),
            min_rto,
            interval,
        }
    }

    /// Feeds one RTT sample (ms): `srtt += (rtt - srtt) / 8`, `rttvar += (|rtt - srtt| - rttvar) / 4`,
    /// `rto = srtt + max(interval, 4 * rttvar)` bounded by `[min_rto, 60000]`.
    pub(crate) fn on_sample(&mut self, rtt: u32) {
        let rtt = rtt.min(MAX_RTO_MS);
        self.sampled = true;
        if self.srtt == 0 {
            self.srtt = rtt;
            self.rttvar = rtt / 2;
        } else {
            let delta = rtt.abs_diff(self.srtt);
            self.rttvar = (3 * self.rttvar + delta) / 4;
            self.srtt = ((7 * self.srtt + rtt) / 8).max(1);
        }
        let rto = self.srtt + self.interval.max(4 * self.rttvar);
        self.rto = rto.clamp(self.min_rto, MAX_RTO_MS);
    }

    /// Whether any sample arrived (a loopback RTT rounds to a `srtt` of 0 ms).
    pub(crate) fn sampled(&self) -> bool {
        self.sampled
    }

    pub(crate) fn srtt(&self) -> u32 {
        self.srtt
    }

    pub(crate) fn rttvar(&self) -> u32 {
        self.rttvar
    }

    pub(crate) fn rto(&self) -> u32 {
        self.rto
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_sample_then_smoothing() {
        let mut r = RttEstimator::new(30, 10);
        assert_eq!(r.rto(), 200);
        r.on_sample(100);
        assert_eq!((r.srtt(), r.rttvar()), (100, 50));
        assert_eq!(r.rto(), 300);
        r.on_sample(20);
        // rttvar = (150 + 80) / 4 = 57; srtt = (700 + 20) / 8 = 90; rto = 90 + 228
        assert_eq!((r.srtt(), r.rttvar(), r.rto()), (90, 57, 318));
    }

    #[test]
    fn interval_is_the_floor_of_the_variation_term_and_bounds_apply() {
        let mut r = RttEstimator::new(30, 40);
        for _ in 0..100 {
            r.on_sample(5);
        }
        assert_eq!(r.srtt(), 5);
        assert_eq!(r.rttvar(), 0);
        assert_eq!(r.rto(), 45);
        let mut small = RttEstimator::new(100, 10);
        for _ in 0..100 {
            small.on_sample(1);
        }
        assert_eq!(small.rto(), 100);
        let mut huge = RttEstimator::new(30, 10);
        huge.on_sample(u32::MAX);
        assert_eq!(huge.rto(), MAX_RTO_MS);
    }
}
