//! The subscriptions whose readers a driver wakes at the end of a run of events: messages are
//! queued in their inboxes without a wake ([`Deliver::deliver`]), and each inbox that got any
//! is woken once ([`Deliver::wake`]) when the run is over.

use super::Deliver;
use crate::message::Sid;

/// Most subscriptions remembered for one run; the inbox of one more is woken at once (its
/// reader may then be woken more than once in that run, which costs time, never a message).
pub const MAX_DEFERRED_WAKES: usize = 64;

/// The subscriptions that got messages in the current run of events, each once.
#[derive(Debug, Default)]
pub struct WakeList(Vec<Sid>);

impl WakeList {
    /// Subscription `sid` got a message in `inbox`: its reader is woken at the end of the run
    /// (at once when [`MAX_DEFERRED_WAKES`] others already wait).
    pub fn note(&mut self, sid: Sid, inbox: &impl Deliver) {
        if self.0.contains(&sid) {
            return;
        }
        if self.0.len() < MAX_DEFERRED_WAKES {
            self.0.push(sid);
        } else {
            inbox.wake();
        }
    }

    /// The subscriptions noted since the last call, to wake (a subscription that ended since
    /// needs none: closing an inbox wakes its readers).
    pub fn take(&mut self) -> std::vec::Drain<'_, Sid> {
        self.0.drain(..)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::queue::PushOutcome;

    #[derive(Debug, Default)]
    struct Woken(Cell<usize>);

    impl Deliver for &Woken {
        fn deliver(&self, _: crate::Message, _: std::time::Instant) -> Option<PushOutcome> {
            None
        }
        fn wake(&self) {
            self.0.set(self.0.get() + 1);
        }
        fn close(&self) {}
    }

    #[test]
    fn each_subscription_once_and_the_overflow_woken_at_once() {
        let (mut list, inbox) = (WakeList::default(), Woken::default());
        for round in 0..2 {
            for sid in 0..=u32::try_from(MAX_DEFERRED_WAKES).unwrap() {
                list.note(sid, &&inbox);
            }
            assert_eq!(
                inbox.0.get(),
                round + 1,
                "the one over the bound is woken at once"
            );
        }
        let sids: Vec<Sid> = list.take().collect();
        assert_eq!(
            sids,
            (0..64).collect::<Vec<_>>(),
            "each noted once, in order"
        );
        assert_eq!(list.take().count(), 0, "taken");
    }
}
