//! The per-packet impairment decision: is the packet lost, and if not, when does it leave.
//!
//! Time is a [`Duration`] since an arbitrary origin (the forwarder uses its start instant), so the
//! model is pure and tests can drive it with any clock they like.

use std::time::Duration;

use rand_core::Rng;
use thiserror::Error;

/// Parameters of the impairment applied to one direction of traffic.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params {
    /// Probability in `[0, 1]` that a packet is dropped: independently for each packet when
    /// `burst` is 1, else the long-run share of packets lost in bursts.
    pub loss: f64,
    /// Mean number of consecutive packets lost in a burst, at least 1. Above 1, losses follow
    /// a two-state (Gilbert) model: in the bad state every packet is lost and the chance to
    /// leave it is `1 / burst`; the good state loses nothing and is left with the chance that
    /// keeps the long-run loss at `loss`. At 1, losses are independent.
    pub burst: f64,
    /// One-way base delay added to every packet that is not dropped.
    pub delay: Duration,
    /// Half-width of the uniform jitter: the delay becomes `delay ± jitter`, never below zero.
    pub jitter: Duration,
    /// Probability in `[0, 1]` that a packet is held back by [`Params::reorder_gap`] so that
    /// packets arriving after it may overtake it.
    pub reorder: f64,
    /// Extra delay of a held-back packet.
    pub reorder_gap: Duration,
}

impl Params {
    /// No impairment at all: every packet leaves as soon as it arrives.
    pub const NONE: Params = Params {
        loss: 0.0,
        burst: 1.0,
        delay: Duration::ZERO,
        jitter: Duration::ZERO,
        reorder: 0.0,
        reorder_gap: Duration::ZERO,
    };
}

/// Why a set of [`Params`] was refused.
#[derive(Clone, Debug, Error, PartialEq)]
pub enum ParamsError {
    /// The loss probability is not a number in `[0, 1]`.
    #[error("loss probability {0} is not in [0, 1]")]
    Loss(f64),
    /// The mean burst length is not a number of at least 1.
    #[error("mean loss burst {0} is not a number of at least 1")]
    Burst(f64),
    /// The reorder probability is not a number in `[0, 1]`.
    #[error("reorder probability {0} is not in [0, 1]")]
    Reorder(f64),
    /// A delay component exceeds the supported maximum of one hour.
    #[error("delay, jitter or reorder gap exceeds one hour")]
    TooLong,
}

/// What happens to a packet that is not lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Release {
    /// When the packet may leave, on the same clock as the `now` given to
    /// [`Impairment::on_packet`].
    pub at: Duration,
    /// Whether the packet was picked for reordering and carries the extra
    /// [`Params::reorder_gap`].
    pub held_back: bool,
}

/// The impairment of one direction: a validated [`Params`] and the decision rule.
///
/// Each call to [`Impairment::on_packet`] draws exactly three random numbers (loss, jitter,
/// reorder), whatever the parameters, so a given seed yields the same loss pattern whether or not
/// jitter or reordering are enabled.
#[derive(Clone, Debug)]
pub struct Impairment {
    params: Params,
    /// Bursty loss: in the bad state (every packet lost).
    bad: bool,
}

/// Longest delay, jitter or gap accepted: far beyond any useful value, and it keeps all
/// nanosecond arithmetic inside `u64`.
const MAX_COMPONENT: Duration = Duration::from_secs(3600);

impl Impairment {
    /// Validates `params` and builds the impairment.
    pub fn new(params: Params) -> Result<Self, ParamsError> {
        if !(0.0..=1.0).contains(&params.loss) {
            return Err(ParamsError::Loss(params.loss));
        }
        if !(0.0..=1.0).contains(&params.reorder) {
            return Err(ParamsError::Reorder(params.reorder));
        }
        if params.burst.is_nan() || params.burst < 1.0 {
            return Err(ParamsError::Burst(params.burst));
        }
        if [params.delay, params.jitter, params.reorder_gap]
            .iter()
            .any(|d| *d > MAX_COMPONENT)
        {
            return Err(ParamsError::TooLong);
        }
        Ok(Impairment { params, bad: false })
    }

    /// The parameters this impairment applies.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Decides the fate of a packet that arrived at `now`: `None` if it is lost, otherwise when
    /// it may leave. The release time is never before `now`, and never before
    /// `now + delay - jitter`.
    pub fn on_packet<R: Rng + ?Sized>(&mut self, now: Duration, rng: &mut R) -> Option<Release> {
        let loss_draw = unit(rng.next_u64());
        let jitter_draw = rng.next_u64();
        let reorder_draw = unit(rng.next_u64());
        if self.lost(loss_draw) {
            return None;
        }
        let held_back = reorder_draw < self.params.reorder;
        let mut delay = self.jittered_delay(jitter_draw);
        if held_back {
            delay += self.params.reorder_gap;
        }
        Some(Release {
            at: now.saturating_add(delay),
            held_back,
        })
    }

    /// Whether the packet whose loss draw is `draw` is lost: independently, or by the bursty
    /// model's state after its transition.
    fn lost(&mut self, draw: f64) -> bool {
        let Params { loss, burst, .. } = self.params;
        if burst <= 1.0 || loss >= 1.0 {
            return draw < loss;
        }
        // Stationary share of the bad state: enter / (enter + leave) = loss.
        let leave = 1.0 / burst;
        let enter = loss * leave / (1.0 - loss);
        self.bad = if self.bad {
            draw >= leave
        } else {
            draw < enter
        };
        self.bad
    }

    /// The base delay moved by a uniform offset in `[-jitter, +jitter]` (nanosecond steps)
    /// chosen by `draw`, clamped at zero.
    fn jittered_delay(&self, draw: u64) -> Duration {
        let delay = nanos(self.params.delay);
        let jitter = nanos(self.params.jitter);
        if jitter == 0 {
            return self.params.delay;
        }
        let span = 2 * jitter + 1;
        let offset = ((u128::from(draw) * u128::from(span)) >> 64) as u64;
        Duration::from_nanos((delay + offset).saturating_sub(jitter))
    }
}

/// A uniform number in `[0, 1)` from the top 53 bits of a random word.
fn unit(word: u64) -> f64 {
    (word >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Whole nanoseconds of a duration already checked against [`MAX_COMPONENT`].
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_core::SeedableRng;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn rejects_probabilities_outside_the_unit_interval() {
        let bad_loss = Params {
            loss: 1.5,
            ..Params::NONE
        };
        assert_eq!(
            Impairment::new(bad_loss).err(),
            Some(ParamsError::Loss(1.5))
        );
        let nan_reorder = Params {
            reorder: f64::NAN,
            ..Params::NONE
        };
        assert!(matches!(
            Impairment::new(nan_reorder),
            Err(ParamsError::Reorder(_))
        ));
        let long = Params {
            delay: Duration::from_secs(7200),
            ..Params::NONE
        };
        assert_eq!(Impairment::new(long).err(), Some(ParamsError::TooLong));
    }

    #[test]
    fn no_impairment_releases_at_arrival() {
        let mut imp = Impairment::new(Params::NONE).expect("valid");
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let release = imp.on_packet(ms(5), &mut rng);
        assert_eq!(
            release,
            Some(Release {
                at: ms(5),
                held_back: false
            })
        );
    }

    #[test]
    fn bursty_loss_keeps_its_average_and_comes_in_runs() {
        let mut imp = Impairment::new(Params {
            loss: 0.05,
            burst: 4.0,
            ..Params::NONE
        })
        .expect("valid");
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let lost: Vec<bool> = (0..200_000)
            .map(|i| imp.on_packet(ms(i), &mut rng).is_none())
            .collect();
        let total = lost.iter().filter(|l| **l).count() as f64;
        let runs = lost.windows(2).filter(|w| w[1] && !w[0]).count() as f64;
        assert!(
            (total / 200_000.0 - 0.05).abs() < 0.005,
            "{}",
            total / 200_000.0
        );
        assert!(
            (total / runs - 4.0).abs() < 0.3,
            "mean run {}",
            total / runs
        );
        assert_eq!(
            Impairment::new(Params {
                burst: 0.5,
                ..Params::NONE
            })
            .err(),
            Some(ParamsError::Burst(0.5))
        );
    }

    #[test]
    fn full_loss_drops_everything() {
        let mut imp = Impairment::new(Params {
            loss: 1.0,
            ..Params::NONE
        })
        .expect("valid");
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        assert!((0..1000).all(|i| imp.on_packet(ms(i), &mut rng).is_none()));
    }

    #[test]
    fn fixed_delay_is_exact() {
        let mut imp = Impairment::new(Params {
            delay: ms(10),
            ..Params::NONE
        })
        .expect("valid");
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for i in 0..100 {
            let release = imp.on_packet(ms(i), &mut rng).expect("no loss");
            assert_eq!(release.at, ms(i + 10));
        }
    }

    #[test]
    fn jitter_larger_than_delay_never_goes_back_in_time() {
        let mut imp = Impairment::new(Params {
            delay: ms(1),
            jitter: ms(5),
            ..Params::NONE
        })
        .expect("valid");
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let mut below_delay = 0;
        for _ in 0..1000 {
            let release = imp.on_packet(ms(100), &mut rng).expect("no loss");
            assert!(release.at >= ms(100) && release.at <= ms(106));
            if release.at < ms(101) {
                below_delay += 1;
            }
        }
        assert!(below_delay > 0, "jitter should sometimes shorten the delay");
    }

    #[test]
    fn same_seed_same_decisions_and_loss_pattern_ignores_other_knobs() {
        let lossy = Params {
            loss: 0.3,
            ..Params::NONE
        };
        let lossy_jittery = Params {
            jitter: ms(3),
            reorder: 0.2,
            reorder_gap: ms(4),
            delay: ms(10),
            ..lossy
        };
        let pattern = |params: Params| {
            let mut imp = Impairment::new(params).expect("valid");
            let mut rng = ChaCha8Rng::seed_from_u64(42);
            (0..500)
                .map(|i| imp.on_packet(ms(i), &mut rng).is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(pattern(lossy), pattern(lossy));
        assert_eq!(pattern(lossy), pattern(lossy_jittery));
    }
}
