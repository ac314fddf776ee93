//! The loss a receiver observes, from the gaps in the peer's packet numbers.

/// Packet numbers per measurement window: each window gives one sample.
const WINDOW: u64 = 32;
/// A window this far along already counts when it shows more loss than the estimate, so the
/// first losses of a session (or a sudden rise) are acted on before the window ends.
const EARLY: u64 = 8;
/// A sample above the estimate moves it half way (loss is acted on within a window or two).
const RISE_SHIFT: u32 = 1;
/// A sample below the estimate moves it by 1/16 of the difference (a clean spell between
/// losses does not switch parity off at once).
const FALL_SHIFT: u32 = 4;

/// Measures the share of the peer's datagrams that never arrive.
///
/// Packet protection numbers every datagram of a direction (retransmissions and parity
/// included) and drops duplicates before this sees them, so in every window of
/// [`WINDOW`] packet numbers the ones missing were lost (or arrive late, reordered into the
/// next window: noise that averages out). Each window's loss enters an average that rises fast
/// and falls slowly, so that parity follows loss at once and stays through short clean
/// spells (at 1 % loss most windows of 32 see none); a window that already shows more loss than
/// the average after [`EARLY`] packet numbers counts at once. Datagrams of groups sent without parity are counted alike, so the measure works
/// before any parity flows, and for traffic too sparse to fill a group.
#[derive(Debug, Clone, Default)]
pub(crate) struct LossMeter {
    /// The first packet number of the current window, once one arrived.
    window_start: Option<u64>,
    received: u64,
    /// The estimate, in parts per million.
    ppm: u64,
    /// The current window's loss so far, once it spans [`EARLY`] packet numbers.
    partial_ppm: u64,
}

impl LossMeter {
    /// Records the arrival of packet number `pn` (never a duplicate).
    pub(crate) fn record(&mut self, pn: u64) {
        let start = *self.window_start.get_or_insert(pn);
        if pn < start {
            // Reordered from an earlier window: already counted as lost there.
            return;
        }
        self.received += 1;
        let span = pn - start + 1;
        if span >= EARLY {
            self.partial_ppm = span.saturating_sub(self.received) * 1_000_000 / span;
        }
        if span >= WINDOW {
            let lost = span.saturating_sub(self.received);
            let sample = lost * 1_000_000 / span;
            self.ppm = if sample > self.ppm {
                self.ppm + ((sample - self.ppm) >> RISE_SHIFT)
            } else {
                self.ppm - ((self.ppm - sample) >> FALL_SHIFT)
            };
            self.window_start = Some(pn + 1);
            self.received = 0;
            self.partial_ppm = 0;
        }
    }

    /// The estimate, in parts per million: the average, or the current window's loss so far
    /// when that is higher.
    pub(crate) fn loss_ppm(&self) -> u32 {
        u32::try_from(self.ppm.max(self.partial_ppm)).unwrap_or(1_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_gaps_no_loss_and_every_tenth_missing_reads_ten_percent() {
        let mut clean = LossMeter::default();
        (0..10_000).for_each(|pn| clean.record(pn));
        assert_eq!(clean.loss_ppm(), 0);
        let mut lossy = LossMeter::default();
        (0..10_000)
            .filter(|pn| pn % 10 != 3)
            .for_each(|pn| lossy.record(pn));
        let loss = lossy.loss_ppm();
        assert!((80_000..=130_000).contains(&loss), "{loss}");
        // After the loss stops, the estimate falls back towards zero.
        (10_000..14_000).for_each(|pn| lossy.record(pn));
        assert!(lossy.loss_ppm() < 1_000, "{}", lossy.loss_ppm());
    }

    #[test]
    fn late_packets_do_not_count_twice() {
        let mut meter = LossMeter::default();
        // Pairs swapped: every packet arrives, some a window late.
        for pair in 0..5_000u64 {
            meter.record(2 * pair + 1);
            meter.record(2 * pair);
        }
        assert!(meter.loss_ppm() < 40_000, "{}", meter.loss_ppm());
    }

    #[test]
    fn a_loss_early_in_a_window_counts_before_the_window_ends() {
        let mut meter = LossMeter::default();
        (0..9).filter(|&pn| pn != 3).for_each(|pn| meter.record(pn));
        assert_eq!(meter.loss_ppm(), 1_000_000 / 9);
    }

    #[test]
    fn one_lost_datagram_raises_the_estimate_at_once() {
        let mut meter = LossMeter::default();
        (0..1_000)
            .filter(|&pn| pn != 500)
            .for_each(|pn| meter.record(pn));
        assert!(meter.loss_ppm() > 5_000, "{}", meter.loss_ppm());
    }
}
