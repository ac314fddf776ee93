//! Callbacks that run too long: the threshold, the per-subscription counter and the event,
//! the same in every adapter. The adapter runs each call through [`SlowCallbacks::time`] on its
//! callback's task or thread and reports the event it returns.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::Event;
use crate::client::Sid;

/// Default threshold above which a callback counts as too long: 100 ms, as the original
/// KCPQ warned. A callback that long holds back every later message of its subscription.
pub const DEFAULT_SLOW_CALLBACK: Duration = Duration::from_millis(100);

/// One callback subscription's record of callbacks that ran too long. Shared between the task
/// or thread that runs the callback and the subscription's handle, which reads the count.
#[derive(Debug)]
pub struct SlowCallbacks {
    sid: Sid,
    threshold: Duration,
    count: AtomicU64,
}

impl SlowCallbacks {
    /// No slow callback yet for subscription `sid`; a call longer than `threshold` is slow.
    pub fn new(sid: Sid, threshold: Duration) -> SlowCallbacks {
        SlowCallbacks {
            sid,
            threshold,
            count: AtomicU64::new(0),
        }
    }

    /// Records one call that took `elapsed`; when it ran too long, counts it and returns the
    /// event to report.
    pub fn record(&self, elapsed: Duration) -> Option<Event> {
        if elapsed <= self.threshold {
            return None;
        }
        let count = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        log::warn!(
            "the callback of subscription {} ran {elapsed:?} (over {:?}); its messages wait",
            self.sid,
            self.threshold
        );
        Some(Event::SlowCallback {
            sid: self.sid,
            elapsed,
            count,
        })
    }

    /// Runs one call of the callback (`call`), timed on the caller's thread, and records it
    /// ([`SlowCallbacks::record`]): the event to report when it ran too long.
    pub fn time(&self, call: impl FnOnce()) -> Option<Event> {
        let started = std::time::Instant::now();
        call();
        self.record(started.elapsed())
    }

    /// Calls that ran too long so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_calls_over_the_threshold_count() {
        let slow = SlowCallbacks::new(7, Duration::from_millis(100));
        assert_eq!(slow.record(Duration::from_millis(100)), None);
        let event = slow.record(Duration::from_millis(150));
        assert_eq!(
            event,
            Some(Event::SlowCallback {
                sid: 7,
                elapsed: Duration::from_millis(150),
                count: 1
            })
        );
        assert_eq!(slow.count(), 1);
        let mut called = false;
        assert_eq!(slow.time(|| called = true), None, "a quick call");
        assert!(called);
    }
}
