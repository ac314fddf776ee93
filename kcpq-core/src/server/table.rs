//! The session table: slots, the lookup by session id, the timer set and the transmit queue.
//!
//! Idle sessions cost nothing: each live session is either in the transmit queue (`dirty`) or
//! armed in the timer set at exactly its next deadline, so `poll_timeout` is the first entry of
//! an ordered set, not a scan.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use crate::Instant;
use crate::crypto::SessionId;
use crate::session::Session;

use super::cut_through::{CutIn, CutOut};
use super::delivery::QueuedFrame;
use super::stats::SubscriptionStats;
use crate::queue::BoundedQueue;

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Handshake done, waiting for CONNECT.
    AwaitConnect,
    /// CONNECT accepted.
    Open,
}

/// One subscription of a session.
#[derive(Debug)]
pub(crate) struct SubState {
    pub(crate) filter: String,
    pub(crate) queue: Option<String>,
    /// Messages still to route before the subscription ends (`UNSUB` with a count).
    pub(crate) remaining: Option<u64>,
    pub(crate) stats: SubscriptionStats,
    /// Whole encoded MSG frames waiting for the session's stream to drop below its watermark.
    pub(crate) pending: BoundedQueue<QueuedFrame>,
    /// Whether it is in its session's round-robin list of subscriptions with pending frames.
    pub(crate) scheduled: bool,
    /// Routing ended (its count was reached): removed once `pending` is empty.
    pub(crate) ended: bool,
    /// Whether the last message was refused by the server-wide pending bound (a burst of such
    /// drops is reported once).
    pub(crate) over_server_cap: bool,
    /// Its id in the announcements to the server's other workers.
    pub(crate) interest: u32,
}

impl SubState {
    /// Counts one message routed to it against an `UNSUB` count; whether that was the last.
    pub(crate) fn count_down(&mut self) -> bool {
        match &mut self.remaining {
            Some(n) => {
                *n = n.saturating_sub(1);
                *n == 0
            }
            None => false,
        }
    }
}

/// One live session and its broker state.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) session: Session,
    pub(crate) phase: Phase,
    pub(crate) name: String,
    pub(crate) no_echo: bool,
    pub(crate) opened_at: Instant,
    pub(crate) subs: BTreeMap<u32, SubState>,
    /// Subscriptions with pending frames, served round-robin.
    pub(crate) ready: VecDeque<u32>,
    /// Sequence number of the next frame queued on any of this session's subscriptions.
    pub(crate) next_queued_seq: u64,
    /// PONGs held back until the frames queued before their PING are in the stream: `(barrier,
    /// req_id)`, the frames with a sequence number below `barrier` go first. Barriers only grow,
    /// so PONGs leave in PING order. At most [`MAX_DEFERRED_PONGS`].
    pub(crate) deferred_pongs: VecDeque<(u64, u32)>,
    /// The client's instance token from CONNECT.
    pub(crate) instance: u64,
    /// How often the client PINGs (announced in CONNECT, at most the server's interval; the
    /// server's until CONNECT).
    pub(crate) ping_interval: std::time::Duration,
    /// The protocol version the client announced in CONNECT (0 until then).
    pub(crate) version: u16,
    /// What happens to the large PUB under way in this session's stream, once decided.
    pub(crate) cut_out: Option<CutOut>,
    /// The cut-through message open on this session's stream, from another session's PUB.
    pub(crate) cut_in: Option<CutIn>,
    /// Whether it counts in the server's session count: false while it waits, over the limit,
    /// for another worker to evict a silent session (see `Server::park`).
    pub(crate) counted: bool,
    /// The deadline this slot is armed at in the timer set, if any.
    armed: Option<Instant>,
    /// Whether it is in the transmit queue.
    dirty: bool,
}

impl Slot {
    /// Bytes this session's stream is behind: unsent bytes in KCP plus what an open cut-through
    /// message still owes it. Messages go straight into the stream only while this is under
    /// the low watermark.
    pub(crate) fn backlog(&self) -> usize {
        self.session.kcp().unsent_bytes() + self.cut_in.map_or(0, |c| c.owed)
    }
}

/// Most PONGs one session may have waiting behind frames queued for it (a PONG waits until the
/// messages routed to the session before its PING are in the stream); a PING beyond it is
/// answered at once, and its PONG may then overtake queued messages.
pub const MAX_DEFERRED_PONGS: usize = 1024;

/// A handle to a live session: its slot index. Valid until the session closes.
pub(crate) type SlotId = u32;

/// Slots, id lookup, timers and transmit queue.
#[derive(Debug, Default)]
pub(crate) struct SessionTable {
    slots: Vec<Option<Slot>>,
    free: Vec<SlotId>,
    by_id: HashMap<SessionId, SlotId>,
    timers: BTreeSet<(Instant, SlotId)>,
    dirty: VecDeque<SlotId>,
    /// The session at the front of the transmit queue and how many datagrams it has sent in a
    /// row this turn (see [`TRANSMIT_BURST`]).
    turn: Option<(SlotId, usize)>,
    live: usize,
}

/// Most datagrams a session sends in a row before the next session in the transmit queue gets
/// its turn. Sessions take turns (no session's backlog delays another's by more than this many
/// datagrams), and the datagrams of one turn go to one peer back to back, so an adapter that
/// batches sends (GSO) sends a turn in one system call: a 1 400-byte datagram per turn, as a
/// strict one-datagram round-robin gave, costs the kernel a `sendmsg` each. 32 datagrams of
/// 1 400 bytes stay under the 64 KB a GSO send may carry.
pub const TRANSMIT_BURST: usize = 32;

impl SessionTable {
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Adds a session (marked dirty, so its first output is polled) and returns its slot.
    pub(crate) fn insert(
        &mut self,
        session: Session,
        now: Instant,
        ping_interval: std::time::Duration,
    ) -> SlotId {
        let id = session.session_id();
        let slot = Slot {
            session,
            phase: Phase::AwaitConnect,
            name: String::new(),
            no_echo: false,
            opened_at: now,
            subs: BTreeMap::new(),
            ready: VecDeque::new(),
            next_queued_seq: 0,
            deferred_pongs: VecDeque::new(),
            instance: 0,
            ping_interval,
            version: 0,
            cut_out: None,
            cut_in: None,
            counted: true,
            armed: None,
            dirty: false,
        };
        let index = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(slot);
                i
            }
            None => {
                self.slots.push(Some(slot));
                SlotId::try_from(self.slots.len() - 1)
                    .expect("session count is bounded far below u32")
            }
        };
        self.by_id.insert(id, index);
        self.live += 1;
        self.mark_dirty(index);
        index
    }

    /// Removes a session, returning its state.
    pub(crate) fn remove(&mut self, index: SlotId) -> Option<Slot> {
        let slot = self.slots.get_mut(index as usize)?.take()?;
        if let Some(at) = slot.armed {
            self.timers.remove(&(at, index));
        }
        self.by_id.remove(&slot.session.session_id());
        self.free.push(index);
        self.live -= 1;
        if self.turn.is_some_and(|(current, _)| current == index) {
            self.turn = None;
        }
        // A stale entry in `dirty` is skipped when popped (the slot is gone or re-used, and a
        // re-used slot is marked dirty anyway).
        Some(slot)
    }

    pub(crate) fn find(&self, id: SessionId) -> Option<SlotId> {
        self.by_id.get(&id).copied()
    }

    pub(crate) fn get(&self, index: SlotId) -> Option<&Slot> {
        self.slots.get(index as usize)?.as_ref()
    }

    pub(crate) fn get_mut(&mut self, index: SlotId) -> Option<&mut Slot> {
        self.slots.get_mut(index as usize)?.as_mut()
    }

    /// Live slots in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (SlotId, &Slot)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            let i = SlotId::try_from(i).expect("slot count fits u32");
            s.as_ref().map(|s| (i, s))
        })
    }

    /// Puts a session in the transmit queue (it may have output).
    pub(crate) fn mark_dirty(&mut self, index: SlotId) {
        if let Some(slot) = self.get_mut(index)
            && !slot.dirty
        {
            slot.dirty = true;
            self.dirty.push_back(index);
        }
    }

    /// The next session that may have output: sessions take turns of up to
    /// [`TRANSMIT_BURST`] datagrams.
    pub(crate) fn next_dirty(&mut self) -> Option<SlotId> {
        while let Some(index) = self.dirty.pop_front() {
            if self.get(index).is_some_and(|s| s.dirty) {
                return Some(index);
            }
        }
        None
    }

    /// A dirty session sent one datagram: it keeps the front of the transmit queue until its
    /// turn has sent [`TRANSMIT_BURST`] datagrams, then goes to the back.
    pub(crate) fn requeue(&mut self, index: SlotId) {
        let sent = match self.turn {
            Some((current, sent)) if current == index => sent + 1,
            _ => 1,
        };
        if sent < TRANSMIT_BURST {
            self.turn = Some((index, sent));
            self.dirty.push_front(index);
        } else {
            self.turn = None;
            self.dirty.push_back(index);
        }
    }

    /// The session has no more output: arm its timer at its next deadline.
    pub(crate) fn settle(&mut self, index: SlotId) {
        let Some(slot) = self.slots.get_mut(index as usize).and_then(Option::as_mut) else {
            return;
        };
        slot.dirty = false;
        if self.turn.is_some_and(|(current, _)| current == index) {
            self.turn = None;
        }
        let next = slot.session.poll_timeout();
        if slot.armed != next {
            if let Some(at) = slot.armed {
                self.timers.remove(&(at, index));
            }
            if let Some(at) = next {
                self.timers.insert((at, index));
            }
            slot.armed = next;
        }
    }

    /// The earliest armed deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.timers.first().map(|(at, _)| *at)
    }

    /// Removes and returns a session whose deadline is at or before `now`.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<SlotId> {
        let &(at, index) = self.timers.first()?;
        if at > now {
            return None;
        }
        self.timers.remove(&(at, index));
        if let Some(slot) = self.get_mut(index) {
            slot.armed = None;
        }
        Some(index)
    }
}
