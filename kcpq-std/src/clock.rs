//! Time and randomness from the OS, in the forms the core takes.

use std::time::{Duration, SystemTime};

use kcpq_core::Instant;
use kcpq_core::rng::Seed;

/// The monotonic clock of one I/O thread: core instants are microseconds since it started.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    base: std::time::Instant,
    wall: SystemTime,
}

impl Clock {
    /// A clock whose zero is now.
    pub(crate) fn start() -> Clock {
        Clock {
            base: std::time::Instant::now(),
            wall: SystemTime::now(),
        }
    }

    /// The wall-clock time of the clock's zero, for display only.
    pub(crate) fn wall_epoch(&self) -> SystemTime {
        self.wall
    }

    /// Now, as the core counts time.
    pub(crate) fn now(&self) -> Instant {
        let micros = self.base.elapsed().as_micros();
        Instant::from_micros(u64::try_from(micros).unwrap_or(u64::MAX))
    }

    /// How long from now until `deadline` (zero if it has passed).
    pub(crate) fn until(&self, deadline: Instant) -> Duration {
        deadline.saturating_duration_since(self.now())
    }
}

/// Why the OS could not supply randomness.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the operating system's random number generator failed: {0}")]
pub struct RandomnessError(String);

/// 32 fresh bytes from the OS, the seed of one core state machine.
pub(crate) fn os_seed() -> Result<Seed, RandomnessError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| RandomnessError(e.to_string()))?;
    Ok(seed)
}
