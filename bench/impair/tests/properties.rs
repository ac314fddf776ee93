//! Property tests of the impairment core driven through the timer heap, as the forwarder uses it.

use std::time::Duration;

use kcpq_impair::{Impairment, Params, Schedule};
use proptest::prelude::*;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

/// Outcome of pushing a stream of packets through an impairment and a schedule.
struct Run {
    sent: usize,
    lost: usize,
    held_back: usize,
    /// Arrival index of each released packet, in release order.
    order: Vec<usize>,
    reordered: usize,
}

/// Sends `count` packets `gap` apart through `params` and releases everything, checking on the
/// way that no packet leaves before its release time nor before `arrival + delay - jitter`.
fn run(params: Params, seed: u64, count: usize, gap: Duration) -> Run {
    let mut impairment = Impairment::new(params).expect("valid params");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut schedule = Schedule::new(count);
    let mut result = Run {
        sent: count,
        lost: 0,
        held_back: 0,
        order: Vec::new(),
        reordered: 0,
    };
    let earliest = params.delay.saturating_sub(params.jitter);
    for index in 0..count {
        let now = gap * u32::try_from(index).expect("small count");
        release_all(&mut schedule, now, earliest, &mut result);
        match impairment.on_packet(now, &mut rng) {
            None => result.lost += 1,
            Some(release) => {
                result.held_back += usize::from(release.held_back);
                schedule.push(release.at, (index, now)).expect("room");
            }
        }
    }
    release_all(&mut schedule, Duration::MAX, earliest, &mut result);
    result
}

/// Releases every packet due at `now` into `result`, checking its release time.
fn release_all(
    schedule: &mut Schedule<(usize, Duration)>,
    now: Duration,
    earliest: Duration,
    result: &mut Run,
) {
    while let Some(released) = schedule.pop_due(now) {
        let (index, arrival) = released.payload;
        assert!(released.at <= now, "released before its time");
        assert!(
            released.at >= arrival + earliest,
            "released before its delay"
        );
        result.order.push(index);
        result.reordered += usize::from(released.reordered);
    }
}

/// Whether `observed` successes out of `n` trials are within five standard deviations (plus a
/// little slack for tiny probabilities) of probability `p`.
fn close_to(observed: usize, n: usize, p: f64) -> bool {
    let n = n as f64;
    let sigma = (n * p * (1.0 - p)).sqrt();
    (observed as f64 - n * p).abs() <= 5.0 * sigma + 3.0
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn loss_rate_converges(loss in 0.0f64..=1.0, seed in any::<u64>()) {
        let params = Params { loss, ..Params::NONE };
        let result = run(params, seed, 20_000, ms(1));
        prop_assert!(
            close_to(result.lost, result.sent, loss),
            "lost {} of {} at p={}", result.lost, result.sent, loss
        );
        prop_assert_eq!(result.order.len() + result.lost, result.sent);
    }

    #[test]
    fn nothing_leaves_before_its_delay(
        delay in 0u64..50,
        jitter in 0u64..50,
        reorder in 0.0f64..=1.0,
        gap in 0u64..30,
        loss in 0.0f64..0.5,
        seed in any::<u64>(),
    ) {
        let params = Params {
            loss,
            burst: 1.0,
            delay: ms(delay),
            jitter: ms(jitter),
            reorder,
            reorder_gap: ms(gap),
        };
        let result = run(params, seed, 2_000, Duration::from_micros(300));
        prop_assert_eq!(result.order.len() + result.lost, result.sent);
    }

    #[test]
    fn order_is_preserved_without_jitter_or_reordering(
        delay in 0u64..100,
        loss in 0.0f64..0.5,
        spacing_us in 0u64..2_000,
        seed in any::<u64>(),
    ) {
        let params = Params { loss, delay: ms(delay), ..Params::NONE };
        let result = run(params, seed, 2_000, Duration::from_micros(spacing_us));
        prop_assert!(result.order.windows(2).all(|w| w[0] < w[1]));
        prop_assert_eq!(result.reordered, 0);
    }

    #[test]
    fn reordering_happens_at_the_asked_rate(reorder in 0.0f64..=0.5, seed in any::<u64>()) {
        // Packets 1 ms apart and a 10 ms gap: each held-back packet is overtaken by the next ones.
        let params = Params {
            delay: ms(10),
            reorder,
            reorder_gap: ms(10),
            ..Params::NONE
        };
        let result = run(params, seed, 20_000, ms(1));
        prop_assert!(
            close_to(result.held_back, result.sent, reorder),
            "held back {} of {} at p={}", result.held_back, result.sent, reorder
        );
        prop_assert!(
            close_to(result.reordered, result.sent, reorder),
            "reordered {} of {} at p={}", result.reordered, result.sent, reorder
        );
        prop_assert!(result.reordered <= result.held_back);
    }
}
