//! # kcpq-os
//!
//! The operating system's clock and randomness in the forms the sans-IO core takes, written
//! once for every runtime adapter (kcpq-std, and kcpq-smol and kcpq-tokio through kcpq-async).
//!
//! They are not in `kcpq_core::adapter` because reading them is what the core never does: its
//! state machines take `now` and their seed as arguments, so that tests and the simulator run
//! them deterministically. A crate of its own keeps the core's dependency tree and its code free
//! of clocks and entropy, while no adapter writes them again.

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
}
