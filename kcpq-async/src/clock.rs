//! The adapter's clock and randomness: what the sans-IO core takes as arguments.

use std::time::{Duration, SystemTime};

use kcpq_core::Instant;
use kcpq_core::rng::Seed;

/// Converts between the operating system's monotonic clock and the core's [`Instant`], whose
/// epoch is the moment the clock was created.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    epoch: std::time::Instant,
    wall_epoch: SystemTime,
}

impl Clock {
    /// A clock whose epoch is now.
    pub(crate) fn start() -> Clock {
        Clock {
            epoch: std::time::Instant::now(),
            wall_epoch: SystemTime::now(),
        }
    }

    /// The current time as the core counts it.
    pub(crate) fn now(self) -> Instant {
        self.core(std::time::Instant::now())
    }

    /// `at` as the core counts it.
    pub(crate) fn core(self, at: std::time::Instant) -> Instant {
        let micros =
            u64::try_from(at.saturating_duration_since(self.epoch).as_micros()).unwrap_or(u64::MAX);
        Instant::from_micros(micros)
    }

    /// A core instant as an operating-system instant.
    pub(crate) fn std_instant(self, at: Instant) -> std::time::Instant {
        self.epoch + Duration::from_micros(at.as_micros())
    }

    /// The wall-clock time of the clock's epoch (the core's zero), for display only.
    pub(crate) fn wall_epoch(self) -> SystemTime {
        self.wall_epoch
    }
}

/// Fresh operating-system randomness to seed a core state machine with, at every start.
pub(crate) fn fresh_seed() -> std::io::Result<Seed> {
    let mut seed = Seed::default();
    getrandom::fill(&mut seed).map_err(|e| std::io::Error::other(format!("getrandom: {e}")))?;
    Ok(seed)
}
