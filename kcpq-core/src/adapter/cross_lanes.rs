//! The way between the workers of one server, written once for every adapter: what one
//! worker's core emits for another ([`CrossMsg`], from [`Server::poll_cross`]) reaches that
//! worker's core ([`Server::handle_cross`]) in order, without a lock on the way and without
//! allocating once warm.
//!
//! Each worker has one bounded inbox ([`CROSS_INBOX_CAPACITY`] messages, a lock-free array
//! queue) that every other worker pushes into, and a [`Doorbell`], the adapter's way to wake
//! its loop. A message that finds the inbox full waits in its sender's [`CrossOut`], in order
//! behind any earlier one, and the receiver, once it has emptied its inbox, rings the doorbell
//! of every worker that was kept waiting so that it moves them on. Nothing is dropped on the
//! way (interest changes never may be): how much a sender can hold is bounded by the core,
//! which bounds the bytes of routed messages not yet taken in (`ServerConfig::max_cross_bytes`)
//! and sends interest changes only for its own subscriptions. The held queues keep their
//! capacity, so after a burst the same traffic allocates nothing. A worker that has stopped
//! closes its inbox: what is sent to it then is dropped, as by a stopped peer.
//!
//! [`Server::poll_cross`]: crate::server::Server::poll_cross
//! [`Server::handle_cross`]: crate::server::Server::handle_cross

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use concurrent_queue::{ConcurrentQueue, PushError};

use crate::server::{CrossMsg, MAX_WORKERS};

/// Messages each worker's inbox holds; more wait in their senders' [`CrossOut`].
pub const CROSS_INBOX_CAPACITY: usize = 2048;

/// Wakes one worker's loop (a bounded channel of one, an eventfd, ...): called after every
/// message put into its inbox, so it must be cheap when the loop is already awake.
pub type Doorbell = Box<dyn Fn() + Send + Sync>;

/// The inboxes and doorbells of every worker of one server.
struct Lanes {
    inboxes: Vec<ConcurrentQueue<(usize, CrossMsg)>>,
    /// Per receiving worker: bit `w` set while worker `w` holds messages for it that did not
    /// fit (at most [`MAX_WORKERS`], 64, so one word).
    waiting: Vec<AtomicU64>,
    doorbells: Vec<Doorbell>,
}

/// The ends of the way between `doorbells.len()` workers: worker `i` gets the `i`-th pair,
/// its sending side and its inbox. Panics if there are more than [`MAX_WORKERS`] (the worker
/// count is checked before any of this is made).
pub fn cross_lanes(doorbells: Vec<Doorbell>) -> Vec<(CrossOut, CrossIn)> {
    let count = doorbells.len();
    assert!(count <= MAX_WORKERS, "at most {MAX_WORKERS} workers");
    let lanes = Arc::new(Lanes {
        inboxes: (0..count)
            .map(|_| ConcurrentQueue::bounded(CROSS_INBOX_CAPACITY))
            .collect(),
        waiting: (0..count).map(|_| AtomicU64::new(0)).collect(),
        doorbells,
    });
    (0..count)
        .map(|index| {
            let out = CrossOut {
                index,
                lanes: Arc::clone(&lanes),
                held: (0..count).map(|_| VecDeque::new()).collect(),
            };
            let inbox = CrossIn {
                index,
                lanes: Arc::clone(&lanes),
            };
            (out, inbox)
        })
        .collect()
}

/// One worker's sending side: what its core emits for the others.
pub struct CrossOut {
    index: usize,
    lanes: Arc<Lanes>,
    /// Per receiving worker: messages that found its inbox full, oldest first.
    held: Vec<VecDeque<CrossMsg>>,
}

impl std::fmt::Debug for CrossOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrossOut")
            .field("index", &self.index)
            .field("held", &self.held())
            .finish_non_exhaustive()
    }
}

impl CrossOut {
    /// Sends `msg` to worker `to`, after whatever it still holds for that worker. A message
    /// for itself, for a worker that does not exist or for one that has stopped is dropped.
    pub fn send(&mut self, to: usize, msg: CrossMsg) {
        if to == self.index || to >= self.held.len() {
            return;
        }
        if self.held[to].is_empty() {
            match self.lanes.inboxes[to].push((self.index, msg)) {
                Ok(()) => {
                    (self.lanes.doorbells[to])();
                    return;
                }
                Err(PushError::Full((_, msg))) => self.held[to].push_back(msg),
                Err(PushError::Closed(_)) => return,
            }
        } else {
            self.held[to].push_back(msg);
        }
        // Said before trying again: a receiver that empties its inbox after this sees it and
        // rings this worker, so nothing held is forgotten.
        self.lanes.waiting[to].fetch_or(1 << self.index, Ordering::AcqRel);
        self.move_held(to);
    }

    /// Moves what it holds into inboxes that have room again. The adapter's loop calls it
    /// after each wake-up (a receiver rings this worker's doorbell once it has room).
    pub fn flush(&mut self) {
        for to in 0..self.held.len() {
            if !self.held[to].is_empty() {
                self.move_held(to);
            }
        }
    }

    /// Messages held because their inbox was full, all workers together.
    pub fn held(&self) -> usize {
        self.held.iter().map(VecDeque::len).sum()
    }

    fn move_held(&mut self, to: usize) {
        let inbox = &self.lanes.inboxes[to];
        let held = &mut self.held[to];
        let mut moved = false;
        while let Some(msg) = held.pop_front() {
            match inbox.push((self.index, msg)) {
                Ok(()) => moved = true,
                Err(PushError::Full((_, msg))) => {
                    held.push_front(msg);
                    self.lanes.waiting[to].fetch_or(1 << self.index, Ordering::AcqRel);
                    break;
                }
                Err(PushError::Closed(_)) => held.clear(),
            }
        }
        if moved {
            (self.lanes.doorbells[to])();
        }
    }
}

/// One worker's inbox: what the other workers sent it.
pub struct CrossIn {
    index: usize,
    lanes: Arc<Lanes>,
}

impl std::fmt::Debug for CrossIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrossIn")
            .field("index", &self.index)
            .field("queued", &self.lanes.inboxes[self.index].len())
            .finish_non_exhaustive()
    }
}

impl CrossIn {
    /// Hands every message waiting in the inbox to `take` (with its sender's index), in the
    /// order each sender sent them, then wakes the senders that were kept waiting for room.
    /// Returns how many it took.
    pub fn drain(&self, mut take: impl FnMut(usize, CrossMsg)) -> usize {
        let inbox = &self.lanes.inboxes[self.index];
        let mut taken = 0;
        while let Ok((from, msg)) = inbox.pop() {
            take(from, msg);
            taken += 1;
        }
        let waiting = self.lanes.waiting[self.index].swap(0, Ordering::AcqRel);
        for from in (0..self.lanes.doorbells.len()).filter(|w| waiting & (1 << w) != 0) {
            (self.lanes.doorbells[from])();
        }
        taken
    }

    /// This worker has stopped: what is sent to it from now on is dropped, and what waits
    /// is freed.
    pub fn close(&self) {
        let inbox = &self.lanes.inboxes[self.index];
        inbox.close();
        while inbox.pop().is_ok() {}
    }
}

/// `count` doorbells that count their rings, and the counters (for tests).
#[cfg(test)]
pub(crate) fn counting_doorbells(
    count: usize,
) -> (Vec<Doorbell>, Vec<Arc<std::sync::atomic::AtomicUsize>>) {
    let counters: Vec<_> = (0..count)
        .map(|_| Arc::new(std::sync::atomic::AtomicUsize::new(0)))
        .collect();
    let bells = counters
        .iter()
        .map(|c| {
            let c = Arc::clone(c);
            Box::new(move || _ = c.fetch_add(1, Ordering::Relaxed)) as Doorbell
        })
        .collect();
    (bells, counters)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::CrossMsg;

    #[test]
    fn messages_arrive_in_order_past_a_full_inbox_and_the_held_sender_is_rung() {
        let (bells, rung) = counting_doorbells(3);
        let mut ends = cross_lanes(bells);
        let (mut out1, _) = ends.remove(1);
        let (_, in0) = ends.remove(0);
        let total = CROSS_INBOX_CAPACITY + 500;
        for n in 0..total {
            out1.send(0, CrossMsg::probe(n as u64));
        }
        assert_eq!(out1.held(), 500);
        assert!(rung[0].load(Ordering::Relaxed) > 0);
        let mut got = Vec::new();
        assert_eq!(
            in0.drain(|from, msg| got.push((from, msg.probe_value()))),
            CROSS_INBOX_CAPACITY
        );
        // The receiver rang the held sender, whose loop then flushes.
        assert_eq!(rung[1].load(Ordering::Relaxed), 1);
        out1.flush();
        assert_eq!(out1.held(), 0);
        in0.drain(|from, msg| got.push((from, msg.probe_value())));
        let want: Vec<_> = (0..total as u64).map(|n| (1, Some(n))).collect();
        assert_eq!(got, want);
        // A message to itself or to a worker that does not exist goes nowhere.
        out1.send(1, CrossMsg::probe(0));
        out1.send(7, CrossMsg::probe(0));
        assert_eq!(out1.held(), 0);
    }

    #[test]
    fn a_stopped_worker_s_messages_are_dropped_not_held() {
        let (bells, _) = counting_doorbells(2);
        let mut ends = cross_lanes(bells);
        let (mut out0, _) = ends.remove(0);
        let (_, in1) = ends.remove(0);
        out0.send(1, CrossMsg::probe(1));
        in1.close();
        for n in 0..CROSS_INBOX_CAPACITY as u64 + 10 {
            out0.send(1, CrossMsg::probe(n));
        }
        assert_eq!(out0.held(), 0);
        assert_eq!(in1.drain(|_, _| {}), 0);
    }
}
