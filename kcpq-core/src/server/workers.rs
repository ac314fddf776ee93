//! The workers of one server: several [`Server`](super::Server) state machines that each own a
//! share of the sessions and together act as one broker.
//!
//! An adapter that runs N workers makes one [`WorkerGroup`] and one server per worker with
//! [`Server::new_worker`](super::Server::new_worker) (the adapters share this in
//! [`crate::adapter::worker_cores`]), each on its own thread and socket. What
//! the workers must share is either in the group (read or changed only when a session opens or
//! closes, never per message) or crosses between them as [`CrossMsg`]s, which each worker emits
//! through [`Server::poll_cross`](super::Server::poll_cross) and takes in through
//! [`Server::handle_cross`](super::Server::handle_cross). The adapters move them, in order
//! from each worker to each other, through the lanes of [`crate::adapter::cross_lanes`]: one
//! bounded, lock-free inbox per worker, and what does not fit waits, in order, in its sender.
//!
//! - **Sessions.** A session belongs to the worker that answered its handshake's Finish: its
//!   session id carries that worker's index ([`SessionIdSpace`]). A datagram that reaches
//!   another worker's socket (its address changed, so the kernel hashed it elsewhere) is passed
//!   to the owner as it is. All workers issue and accept the same handshake cookies (one master
//!   secret in the group), so the handshake's two round trips may land on different workers.
//! - **Interest.** Every subscription is announced to every other worker, which puts it in its
//!   own index under a reserved slot for the announcing worker. A client's SUB is answered with
//!   OK only once every other worker has acknowledged it, so a publish anywhere after the OK
//!   reaches it (and a request right after subscribing finds its responder). A PING that
//!   follows waits as long, so a flush is a barrier too (a reconnecting client's restored
//!   subscriptions get no OK it waits for). The owner's subscriptions are visible everywhere
//!   once `Server::subscriptions_settled` holds.
//! - **Messages.** A publish is matched on the publisher's worker against all subscriptions.
//!   Local ones are delivered there; each other worker with a match gets the message once,
//!   however many of its subscriptions match, with the names of the queue groups whose member
//!   the publisher's worker chose there. The receiver delivers to its matching plain
//!   subscriptions and to one of its own members of each named group. Messages from one
//!   publisher keep their order: they cross through one FIFO. A PING's PONG also waits until
//!   every other worker has acknowledged what its worker sent it before the PING, so a flush
//!   stays a barrier across workers as on one nats-server: once a publisher's flush returns,
//!   any later flush of a subscriber returns after the message is in its subscription.
//! - **Queue groups.** The member is chosen among all workers' members, as with one worker. If
//!   the chosen member has left when the message arrives, another member of the same group on
//!   that worker takes it; with none left there, the message is dropped and counted
//!   (`ServerDrops::queue_member_gone`), as nats-server does for a message routed to a server
//!   whose member left.
//! - **No allocation per message.** A routed message is encoded into a buffer from its
//!   sender's pool, which the receiver gives back once it has delivered it (a bounded lock-free
//!   queue per worker in the group), and the lanes between workers are arrays allocated once;
//!   `tests/cross_alloc.rs` checks that crossing, lanes included, adds no heap allocation per
//!   message once warm.
//! - **Bounds.** Bytes of routed messages and forwarded datagrams sent to a worker and not yet
//!   taken in are bounded (`ServerConfig::max_cross_bytes`); one over the bound is dropped and
//!   counted (`ServerDrops::cross_worker_full`). A routed message dropped so is lost for its
//!   subscriptions on that worker as drop-newest loses a message: the sender remembers which
//!   subscriptions it was meant for and tells their worker with its next acknowledgement
//!   ([`CrossKind::Lost`], at most one on its way per pair of workers), which counts the loss
//!   on each subscription (`SubscriptionStats::dropped`) and reports it as a slow consumer
//!   (an ERR to the client, an event to the owner), as a drop of the subscription's own queue
//!   is reported. A drop-oldest subscription can thus lose a newer message than its policy
//!   would choose, and only when its worker falls `max_cross_bytes` behind the publisher's:
//!   the crossing is one queue for all of that worker's subscriptions. Held OKs and PONGs are
//!   bounded too (a PONG beyond the bound goes at once). Interest changes and their acknowledgements are never
//!   dropped: they are bounded by the subscriptions themselves. Server-wide limits stay
//!   server-wide: the session count is one counter in the group; the half-open table, the
//!   reset rate, the pending bytes and the FEC decoder memory are split evenly between workers.
//! - **Drain.** A worker that drains tells the others, after every message it routed to them;
//!   a draining worker closes its sessions only once every other worker's marker has arrived,
//!   so what was still crossing is delivered (or at the drain's deadline).
//! - **Eviction.** A full server evicts the longest-silent session for a newcomer on the
//!   newcomer's worker; with none there, one eviction is asked of the other workers (one
//!   ticket in the group, taken by the first with a silent session, which answers), and the
//!   newcomer's CONNECT waits, for at most 2 s: the answer gives it the freed place; without
//!   one it is refused as at the limit. Waiting newcomers are not served and not counted (at
//!   most one per worker).
//! - **Large messages.** A message that goes cut-through is forwarded to the publisher's
//!   worker's subscribers as its bytes arrive; the other workers' subscribers get it whole,
//!   once complete (chosen when its head arrived, as for everyone).
//! - **Names.** Client names are unique across workers: one registry in the group, consulted at
//!   CONNECT and at close. A name taken over from a session on another worker closes that
//!   session there ([`CrossMsg`] again).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use concurrent_queue::ConcurrentQueue;
use zeroize::Zeroizing;

use crate::Instant;
use crate::rng::{Rng, Seed};

use super::replaced::ReplacedInstances;

/// The most workers one server may have.
pub const MAX_WORKERS: usize = 64;

/// Buffers each worker keeps for its messages to the others.
const SPARE_BUFFERS: usize = 1024;

/// Buffers larger than this are freed rather than kept (one large message must not pin its
/// size in the pool).
const MAX_SPARE_CAPACITY: usize = 64 * 1024;

/// What the workers of one server share. Cloning it is cheap (one reference count); every
/// worker's [`Server`](super::Server) holds a clone.
#[derive(Clone)]
pub struct WorkerGroup {
    shared: Arc<Shared>,
}

struct Shared {
    count: usize,
    cookie_master: Zeroizing<[u8; 32]>,
    name_token: u32,
    /// Sessions open on all workers together.
    sessions: AtomicUsize,
    /// Evictions newcomers asked for and no worker has made yet (at most one per worker).
    evictions_wanted: AtomicUsize,
    /// Per worker: buffers of the messages it sent to the others, given back once taken in,
    /// for its next messages (bounded; a full pool frees the buffer).
    spares: Vec<ConcurrentQueue<Vec<u8>>>,
    names: Mutex<NameRegistry>,
}

impl std::fmt::Debug for WorkerGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerGroup")
            .field("count", &self.shared.count)
            .field("sessions", &self.shared.sessions.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Why a [`WorkerGroup`] cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerGroupError {
    /// The worker count is 0 or above [`MAX_WORKERS`].
    #[error("a server has 1 to {MAX_WORKERS} workers, not {0}")]
    Count(usize),
}

impl WorkerGroup {
    /// A group of `count` workers, its secrets drawn from `seed` (adapters pass fresh OS
    /// randomness). `max_sessions` and `dead_after` size the memory of replaced client
    /// instances, as for one server.
    pub fn new(
        count: usize,
        seed: Seed,
        max_sessions: usize,
        dead_after: std::time::Duration,
    ) -> Result<WorkerGroup, WorkerGroupError> {
        if count == 0 || count > MAX_WORKERS {
            return Err(WorkerGroupError::Count(count));
        }
        let mut rng = Rng::from_seed(seed);
        Ok(WorkerGroup {
            shared: Arc::new(Shared {
                count,
                cookie_master: Zeroizing::new(rng.bytes()),
                name_token: u32::from_le_bytes(rng.bytes()),
                sessions: AtomicUsize::new(0),
                evictions_wanted: AtomicUsize::new(0),
                spares: (0..count)
                    .map(|_| ConcurrentQueue::bounded(SPARE_BUFFERS))
                    .collect(),
                names: Mutex::new(NameRegistry {
                    owners: HashMap::new(),
                    replaced: ReplacedInstances::new(max_sessions, dead_after),
                }),
            }),
        })
    }

    /// How many workers the group has.
    pub fn count(&self) -> usize {
        self.shared.count
    }

    /// Sessions open on all workers together.
    pub fn sessions(&self) -> usize {
        self.shared.sessions.load(Ordering::Relaxed)
    }

    pub(super) fn cookie_master(&self) -> &[u8; 32] {
        &self.shared.cookie_master
    }

    pub(super) fn name_token(&self) -> u32 {
        self.shared.name_token
    }

    /// Counts a new session if fewer than `max` are open.
    pub(super) fn try_open_session(&self, max: usize) -> bool {
        self.shared
            .sessions
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    /// An empty buffer for a message worker `worker` sends: a spare if one came back.
    pub(super) fn buffer(&self, worker: usize) -> Vec<u8> {
        let mut buffer = self.shared.spares[worker].pop().unwrap_or_default();
        buffer.clear();
        buffer
    }

    /// Gives a buffer worker `worker` sent back to it, once its message is taken in.
    pub(super) fn give_back(&self, worker: usize, buffer: Vec<u8>) {
        if buffer.capacity() <= MAX_SPARE_CAPACITY
            && let Some(spares) = self.shared.spares.get(worker)
        {
            let _ = spares.push(buffer);
        }
    }

    /// Asks for one eviction of a silent session on whichever worker has one; false when as
    /// many are asked for as there are workers already.
    pub(super) fn want_eviction(&self) -> bool {
        let most = self.shared.count;
        self.shared
            .evictions_wanted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < most).then_some(n + 1)
            })
            .is_ok()
    }

    /// Takes one eviction asked for, if any is.
    pub(super) fn take_eviction(&self) -> bool {
        self.shared
            .evictions_wanted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
    }

    pub(super) fn close_session(&self) {
        let _ = self
            .shared
            .sessions
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    pub(super) fn names(&self) -> MutexGuard<'_, NameRegistry> {
        // A worker that panicked while holding the registry left it consistent (every change
        // is one map operation), so the others go on with it.
        self.shared
            .names
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Which worker holds each client name, and the instances that lost their name.
#[derive(Debug)]
pub(super) struct NameRegistry {
    owners: HashMap<String, NameOwner>,
    pub(super) replaced: ReplacedInstances,
}

/// The session that holds a name: its worker, its client instance and its session id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct NameOwner {
    pub(super) worker: usize,
    pub(super) instance: u64,
    pub(super) session: u64,
}

impl NameRegistry {
    pub(super) fn owner(&self, name: &str) -> Option<NameOwner> {
        self.owners.get(name).copied()
    }

    pub(super) fn claim(&mut self, name: &str, owner: NameOwner) {
        self.owners.insert(name.to_owned(), owner);
    }

    /// Forgets `name` if `owner` still holds it.
    pub(super) fn release(&mut self, name: &str, owner: NameOwner) {
        if self.owners.get(name) == Some(&owner) {
            self.owners.remove(name);
        }
    }

    pub(super) fn is_replaced(&mut self, now: Instant, name: &str, instance: u64) -> bool {
        self.replaced.is_replaced(now, name, instance)
    }
}

/// A message from one worker of a server to another. Adapters move it, in order, and look no
/// further into it.
#[derive(Debug)]
pub struct CrossMsg(pub(super) CrossKind);

impl CrossMsg {
    /// About how many bytes it holds (for an adapter's own accounting).
    pub fn weight(&self) -> usize {
        match &self.0 {
            CrossKind::Datagram { bytes, .. } => bytes.len(),
            CrossKind::Routed { frame, .. } | CrossKind::ToClient { frame, .. } => frame.len(),
            CrossKind::Interest { change, .. } => match change {
                InterestChange::Add { filter, queue, .. } => {
                    filter.len() + queue.as_ref().map_or(0, String::len)
                }
                InterestChange::Remove => 0,
            },
            CrossKind::Ack { .. }
            | CrossKind::Drained
            | CrossKind::EvictSilent
            | CrossKind::Evicted => 0,
            CrossKind::NameTaken { name, .. } => name.len(),
            CrossKind::Lost { counts } => lost_weight(counts),
        }
    }
}

#[cfg(test)]
impl CrossMsg {
    /// A message that carries `n` (an acknowledgement), for tests of what moves messages.
    pub(crate) fn probe(n: u64) -> CrossMsg {
        CrossMsg(CrossKind::Ack {
            seq: n,
            consumed: 0,
        })
    }

    /// What [`CrossMsg::probe`] carried.
    pub(crate) fn probe_value(&self) -> Option<u64> {
        match self.0 {
            CrossKind::Ack { seq, .. } => Some(seq),
            _ => None,
        }
    }
}

#[derive(Debug)]
pub(super) enum CrossKind {
    /// A datagram of one of the receiver's sessions that reached the sender's socket.
    Datagram { from: SocketAddr, bytes: Vec<u8> },
    /// A subscription of the sender appeared or went away. `seq` counts the sender's changes.
    Interest {
        seq: u64,
        id: u32,
        change: InterestChange,
    },
    /// The receiver's changes up to `seq` are in place here, and `consumed` bytes of routed
    /// messages from it were taken in since the last acknowledgement.
    Ack { seq: u64, consumed: usize },
    /// A message published on the sender's worker: an encoded PUB frame, then the names of
    /// the queue groups whose member the sender chose on the receiver (each a u16 length and
    /// its bytes), from `groups_at`. `everyone`: deliver to the receiver's matching plain
    /// subscriptions; and to one member of each named group. The buffer goes back to the
    /// sender (`WorkerGroup::give_back`).
    Routed {
        frame: Vec<u8>,
        groups_at: usize,
        everyone: bool,
    },
    /// The owner's publish to one client, named `client`, whose session is on the receiver:
    /// an encoded PUB frame for that session's matching subscriptions.
    ToClient { frame: Vec<u8>, client: String },
    /// The sender is full and a newcomer holding the key was refused: evict a silent session
    /// here, if there is one and the eviction asked for is still wanted.
    EvictSilent,
    /// The receiver asked for an eviction and the sender made one: its place is free.
    Evicted,
    /// The sender drains: it takes no more publishes, and every message it routed to the
    /// receiver is ahead of this marker.
    Drained,
    /// Routed messages meant for these subscriptions of the receiver did not fit the crossing
    /// bound and were dropped on the sender: (the subscription's key on the receiver, its
    /// interest id, how many). One at a time per pair of workers, counted as in flight.
    Lost { counts: Vec<LostCount> },
    /// The client name `name`, held by `instance` on the receiver, was taken by a session on
    /// the sender. `tell`: the old session is told (ERR Replaced) before it is closed.
    NameTaken {
        name: String,
        instance: u64,
        tell: bool,
    },
}

#[derive(Debug)]
pub(super) enum InterestChange {
    /// `origin`: the subscription's key on the announcing worker (its session's slot and its
    /// sid), named back when messages meant for it are lost on the way.
    Add {
        filter: String,
        queue: Option<String>,
        origin: u64,
    },
    Remove,
}

/// Messages lost for one subscription of the receiver: its key there, its interest id (so a
/// subscription that took the key since is not blamed), and how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct LostCount {
    pub(super) origin: u64,
    pub(super) interest: u32,
    pub(super) count: u64,
}

/// What a [`CrossKind::Lost`] notice counts against the crossing bound: its size on a wire.
pub(super) fn lost_weight(counts: &[LostCount]) -> usize {
    counts.len().max(1) * 20
}

/// Messages waiting to leave one worker, in order.
#[derive(Debug, Default)]
pub(super) struct CrossOutbox {
    queue: VecDeque<(usize, CrossMsg)>,
}

impl CrossOutbox {
    pub(super) fn push(&mut self, to: usize, kind: CrossKind) {
        self.queue.push_back((to, CrossMsg(kind)));
    }

    pub(super) fn pop(&mut self) -> Option<(usize, CrossMsg)> {
        self.queue.pop_front()
    }
}
