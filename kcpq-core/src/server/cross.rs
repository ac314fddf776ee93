//! One worker's side of the traffic between the workers of a server: announcing its
//! subscriptions, holding SUB's OK until the others know, forwarding messages and datagrams,
//! and taking in what the others send. The design is in [`super::workers`].

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

use crate::Instant;
use crate::proto::{Frame, LEN_PREFIX, Msg, Pub};
use crate::subject::MatchResult;

use super::routing::{Origin, Target};
use super::table::SlotId;
use super::workers::{
    CrossKind, CrossMsg, CrossOutbox, InterestChange, LostCount, MAX_WORKERS, WorkerGroup,
    lost_weight,
};
use super::{LOCAL_SLOT, Server, SubKey, split_key, sub_key};

/// Most SUB OKs and PONGs one worker holds until the others acknowledge (a SUB's OK always
/// waits: subscriptions are bounded; a PONG beyond this goes at once).
const MAX_WAITING: usize = 65_536;

/// How long a newcomer over the limit waits for another worker to evict a silent session.
const PARK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The index slot under which the subscriptions of worker `w` are kept on the others: just
/// below the owner's slot, far above any session's (sessions are bounded by `max_sessions`).
fn remote_slot(worker: usize) -> SlotId {
    LOCAL_SLOT - 1 - worker as SlotId
}

/// The worker whose subscriptions `slot` stands for, if it is a remote slot.
pub(super) fn remote_worker(slot: SlotId) -> Option<usize> {
    let below = LOCAL_SLOT.checked_sub(1)?.checked_sub(slot)? as usize;
    (slot != LOCAL_SLOT && below < MAX_WORKERS).then_some(below)
}

/// A reply that waits until every other worker has the interest announced before it: a SUB's
/// OK, or the PONG of a PING that followed such a SUB (a flush is the client's barrier). A
/// PONG also waits until every other worker has taken in what this one sent it before the
/// PING (`marks`), so that the messages the flushing client published are in their
/// subscribers' streams, whichever worker holds them, before its flush returns.
#[derive(Debug)]
struct WaitingOk {
    seq: u64,
    /// Per worker: the bytes sent to it, in all, when the PING came (`None`: nothing was in
    /// flight then).
    marks: Option<Box<[u64]>>,
    slot: SlotId,
    req_id: u32,
    what: Waiting,
}

#[derive(Debug)]
enum Waiting {
    /// The OK of subscription `sid` (if it is still the one with this interest id).
    Ok { sid: u32, interest: u32 },
    /// A PONG, if the slot still holds the session with this id.
    Pong { session: u64 },
}

/// A subscription of another worker, as this one knows it.
#[derive(Debug)]
struct RemoteSub {
    filter: String,
    queue: Option<String>,
    /// Its key on its own worker.
    origin: SubKey,
}

/// What one publish sends to one other worker: to its plain subscriptions, and to the queue
/// groups of these of its subscriptions (their interest ids), chosen here.
#[derive(Debug, Default)]
struct Forward {
    everyone: bool,
    members: Vec<u32>,
    /// The plain subscriptions there it is for (their interest ids), named if it is lost.
    plain: Vec<u32>,
}

/// This worker's place among the others and its side of the traffic between them.
#[derive(Debug)]
pub(super) struct Cross {
    pub(super) index: usize,
    pub(super) count: usize,
    pub(super) group: WorkerGroup,
    /// The subscription limit over all workers (each worker's index holds all of them).
    pub(super) max_subscriptions: usize,
    max_cross_bytes: usize,
    outbox: CrossOutbox,
    next_interest: u32,
    /// Interest changes this worker has announced.
    seq: u64,
    /// Per worker: the last of our changes it acknowledged.
    acked: Vec<u64>,
    waiting_oks: VecDeque<WaitingOk>,
    /// The owner's subscriptions: sid -> interest id.
    owner_interest: HashMap<u32, u32>,
    remote: HashMap<(usize, u32), RemoteSub>,
    /// Per worker: the last of its changes applied here, not yet acknowledged.
    ack_due: Vec<Option<u64>>,
    /// Per worker: bytes of its routed messages taken in since the last acknowledgement.
    consumed: Vec<usize>,
    /// Per worker: bytes of messages and datagrams sent to it, in all.
    sent: Vec<u64>,
    /// Per worker: how many of the bytes in `sent` it acknowledged taking in.
    taken: Vec<u64>,
    /// Per worker: messages for its subscriptions (interest id -> count) dropped over the
    /// bound and not told yet; told with its next acknowledgement (bounded by the
    /// subscriptions).
    lost: Vec<HashMap<u32, u64>>,
    plan: Vec<Forward>,
    /// The local subscriptions a routed message goes to (reused).
    targets: Vec<SubKey>,
    /// Newcomers over the limit waiting for another worker's eviction: (deadline, slot,
    /// session id), oldest first.
    parked: VecDeque<(Instant, SlotId, u64)>,
    /// Per worker: it drained, and everything it routed here has arrived.
    drained: Vec<bool>,
}

impl Cross {
    pub(super) fn new(
        group: WorkerGroup,
        index: usize,
        max_subscriptions: usize,
        max_cross_bytes: usize,
    ) -> Cross {
        let count = group.count();
        Cross {
            index,
            count,
            group,
            max_subscriptions,
            max_cross_bytes,
            outbox: CrossOutbox::default(),
            next_interest: 1,
            seq: 0,
            acked: vec![0; count],
            waiting_oks: VecDeque::new(),
            owner_interest: HashMap::new(),
            remote: HashMap::new(),
            ack_due: vec![None; count],
            consumed: vec![0; count],
            sent: vec![0; count],
            taken: vec![0; count],
            lost: vec![HashMap::new(); count],
            plan: (0..count).map(|_| Forward::default()).collect(),
            targets: Vec::new(),
            parked: VecDeque::new(),
            drained: vec![false; count],
        }
    }

    pub(super) fn is_alone(&self) -> bool {
        self.count == 1
    }

    /// A fresh interest id (ids wrap after 2^32 subscriptions; 0 is never used).
    pub(super) fn next_interest(&mut self) -> u32 {
        let id = self.next_interest;
        self.next_interest = self.next_interest.wrapping_add(1).max(1);
        id
    }

    /// Tells every other worker of a change in this worker's subscriptions.
    fn announce(&mut self, id: u32, origin: SubKey, filter: &str, queue: Option<&str>, add: bool) {
        if self.is_alone() {
            return;
        }
        self.seq += 1;
        for to in (0..self.count).filter(|&w| w != self.index) {
            let change = if add {
                InterestChange::Add {
                    filter: filter.to_owned(),
                    queue: queue.map(str::to_owned),
                    origin,
                }
            } else {
                InterestChange::Remove
            };
            self.outbox.push(
                to,
                CrossKind::Interest {
                    seq: self.seq,
                    id,
                    change,
                },
            );
        }
    }

    /// Bytes sent to worker `w` and not acknowledged yet.
    fn in_flight(&self, w: usize) -> usize {
        usize::try_from(self.sent[w].saturating_sub(self.taken[w])).unwrap_or(usize::MAX)
    }

    /// Counts `bytes` as sent to worker `w`.
    fn count_sent(&mut self, w: usize, bytes: usize) {
        self.sent[w] += bytes as u64;
    }

    /// Whether every other worker has taken in what this one sent it.
    fn nothing_in_flight(&self) -> bool {
        self.taken_up_to(&self.sent)
    }

    /// Whether every other worker has taken in what this one had sent it when `marks` was
    /// taken.
    fn taken_up_to(&self, marks: &[u64]) -> bool {
        self.taken
            .iter()
            .zip(marks)
            .all(|(taken, mark)| taken >= mark)
    }

    fn all_acked(&self) -> u64 {
        (0..self.count)
            .filter(|&w| w != self.index)
            .map(|w| self.acked[w])
            .min()
            .unwrap_or(self.seq)
    }
}

impl Server {
    /// This worker's index among the server's workers (0 for a server alone).
    pub fn worker_index(&self) -> usize {
        self.cross.index
    }

    /// Whether every other worker has acknowledged every subscription change this worker
    /// announced so far (always true for a server alone). After [`Server::subscribe`], the
    /// owner's subscription is visible to publishers on every worker once this holds; an
    /// adapter holds its subscribe call's answer until then.
    pub fn subscriptions_settled(&self) -> bool {
        self.cross.is_alone() || self.cross.all_acked() >= self.cross.seq
    }

    /// How many workers the server has (1 for a server alone).
    pub fn worker_count(&self) -> usize {
        self.cross.count
    }

    /// The next message for another worker of this server, and that worker's index. Drain it
    /// with the other `poll_*` calls, after every `handle_*` call and API call; deliver each
    /// message, in order, to [`Server::handle_cross`] of its worker. Never returns anything
    /// for a server alone.
    #[must_use]
    pub fn poll_cross(&mut self) -> Option<(usize, CrossMsg)> {
        if let Some(next) = self.cross.outbox.pop() {
            self.stats.cross_out += 1;
            return Some(next);
        }
        // Acknowledgements go last, after everything this worker sent in the meantime.
        for w in 0..self.cross.count {
            let seq = self.cross.ack_due[w].take();
            let consumed = std::mem::take(&mut self.cross.consumed[w]);
            if seq.is_some() || consumed > 0 {
                let seq = seq.unwrap_or(0);
                return Some((w, CrossMsg(CrossKind::Ack { seq, consumed })));
            }
        }
        None
    }

    /// Takes in a message another worker (`from`) emitted for this one.
    pub fn handle_cross(&mut self, now: Instant, from: usize, msg: CrossMsg) {
        if from >= self.cross.count || from == self.cross.index {
            return;
        }
        self.stats.cross_in += 1;
        match msg.0 {
            CrossKind::Datagram {
                from: addr,
                mut bytes,
            } => {
                self.cross.consumed[from] += bytes.len();
                self.handle_forwarded(now, addr, &mut bytes, None);
            }
            CrossKind::Interest { seq, id, change } => {
                self.apply_interest(from, id, change);
                self.cross.ack_due[from] = Some(seq);
            }
            CrossKind::Ack { seq, consumed } => {
                let cross = &mut self.cross;
                cross.acked[from] = cross.acked[from].max(seq);
                cross.taken[from] += consumed as u64;
                self.tell_lost(from);
                self.release_oks();
            }
            CrossKind::Lost { counts } => {
                self.cross.consumed[from] += lost_weight(&counts);
                for lost in counts {
                    self.count_lost(lost);
                }
            }
            CrossKind::Routed {
                frame,
                groups_at,
                everyone,
            } => {
                self.cross.consumed[from] += frame.len();
                self.deliver_routed(&frame, groups_at, everyone);
                self.cross.group.give_back(from, frame);
            }
            CrossKind::NameTaken {
                name,
                instance,
                tell,
            } => self.close_taken_name(now, &name, instance, tell),
            CrossKind::EvictSilent => {
                if let Some(victim) = self.silent_victim(now)
                    && self.cross.group.take_eviction()
                {
                    self.evict(now, victim);
                    self.cross.outbox.push(from, CrossKind::Evicted);
                }
            }
            CrossKind::Evicted => self.on_evicted(now),
            CrossKind::Drained => {
                self.cross.drained[from] = true;
                if self.is_stopping() {
                    self.advance_shutdown(now);
                }
            }
            CrossKind::ToClient { frame, client } => {
                self.cross.consumed[from] += frame.len();
                self.deliver_to_client(&frame, &client);
                self.cross.group.give_back(from, frame);
            }
        }
    }

    /// Passes a datagram of another worker's session to it. Returns false if the datagram is
    /// this worker's.
    pub(super) fn forward_if_foreign(
        &mut self,
        owner: usize,
        from: SocketAddr,
        datagram: &[u8],
    ) -> bool {
        if owner == self.cross.index || owner >= self.cross.count {
            return false;
        }
        // Datagrams crossing count against the same bound as messages: a flood aimed at
        // another worker's sessions is dropped here, as the network would drop it.
        if self.cross.in_flight(owner) + datagram.len() > self.cross.max_cross_bytes {
            self.stats.drops.cross_worker_full += 1;
            return true;
        }
        self.cross.count_sent(owner, datagram.len());
        self.stats.datagrams_forwarded += 1;
        self.cross.outbox.push(
            owner,
            CrossKind::Datagram {
                from,
                bytes: datagram.to_vec(),
            },
        );
        true
    }

    /// Announces a new subscription of a session and returns its interest id.
    /// `slot`: the subscribing session's, or the owner's.
    pub(super) fn announce_sub(
        &mut self,
        slot: SlotId,
        sid: u32,
        filter: &str,
        queue: Option<&str>,
    ) -> u32 {
        let id = self.cross.next_interest();
        self.cross
            .announce(id, sub_key(slot, sid), filter, queue, true);
        id
    }

    /// Announces that a subscription went away.
    pub(super) fn announce_unsub(&mut self, interest: u32) {
        self.cross.announce(interest, 0, "", None, false);
    }

    /// Announces an owner subscription.
    pub(super) fn announce_owner_sub(&mut self, sid: u32, filter: &str, queue: Option<&str>) {
        let id = self.announce_sub(LOCAL_SLOT, sid, filter, queue);
        self.cross.owner_interest.insert(sid, id);
    }

    /// Announces that an owner subscription went away.
    pub(super) fn announce_owner_unsub(&mut self, sid: u32) {
        if let Some(id) = self.cross.owner_interest.remove(&sid) {
            self.announce_unsub(id);
        }
    }

    /// Answers a SUB with OK now (one worker) or once every other worker has acknowledged its
    /// announcement.
    pub(super) fn ok_when_visible(&mut self, slot: SlotId, sid: u32, interest: u32, req_id: u32) {
        if self.cross.is_alone() || self.cross.all_acked() >= self.cross.seq {
            self.send_frame(slot, &Frame::Ok { req_id });
            return;
        }
        self.cross.waiting_oks.push_back(WaitingOk {
            seq: self.cross.seq,
            marks: None,
            slot,
            req_id,
            what: Waiting::Ok { sid, interest },
        });
    }

    /// Whether a PING must wait for interest this worker announced or for what it sent to
    /// other workers (its PONG is then held until every other worker has acknowledged both,
    /// and sent by [`Server::release_oks`]).
    pub(super) fn hold_pong(&mut self, slot: SlotId, req_id: u32) -> bool {
        let cross = &self.cross;
        let settled = cross.all_acked() >= cross.seq;
        if cross.is_alone() || (settled && cross.nothing_in_flight()) {
            return false;
        }
        if self.cross.waiting_oks.len() >= MAX_WAITING {
            // Bounded like a session's deferred PONGs: when full, PONGs go at once.
            return false;
        }
        let session = self.session_number(slot);
        let marks = (!self.cross.nothing_in_flight()).then(|| self.cross.sent.clone().into());
        self.cross.waiting_oks.push_back(WaitingOk {
            seq: self.cross.seq,
            marks,
            slot,
            req_id,
            what: Waiting::Pong { session },
        });
        true
    }

    /// Asks the other workers for one eviction of a silent session (see
    /// [`CrossKind::EvictSilent`]); false when it cannot (one worker, eviction off, or as many
    /// asked for as there are workers).
    pub(super) fn ask_for_eviction(&mut self) -> bool {
        if self.cross.is_alone()
            || !self.config.evict_silent_when_full
            || !self.cross.group.want_eviction()
        {
            return false;
        }
        for to in (0..self.cross.count).filter(|&w| w != self.cross.index) {
            self.cross.outbox.push(to, CrossKind::EvictSilent);
        }
        true
    }

    /// A newcomer over the limit waits for another worker's eviction: its session is kept, not
    /// counted, and its frames (its CONNECT first) wait, until an `Evicted` answer frees its
    /// place or [`PARK_TIMEOUT`] passes (then it is refused as at the limit). At most one per
    /// worker in the group at a time.
    pub(super) fn park(&mut self, now: Instant, slot: SlotId) {
        if let Some(entry) = self.table.get_mut(slot) {
            entry.counted = false;
        }
        let session = self.session_number(slot);
        self.cross
            .parked
            .push_back((now + PARK_TIMEOUT, slot, session));
    }

    /// Forgets a parked session that closed.
    pub(super) fn unpark(&mut self, slot: SlotId) {
        self.cross.parked.retain(|&(_, s, _)| s != slot);
    }

    /// Another worker evicted a session for this one's newcomer: the oldest parked newcomer
    /// takes the place.
    fn on_evicted(&mut self, now: Instant) {
        let max = self.config.max_sessions;
        while let Some((_, slot, session)) = self.cross.parked.pop_front() {
            if self.session_number(slot) != session {
                continue;
            }
            if self.cross.group.try_open_session(max) {
                if let Some(entry) = self.table.get_mut(slot) {
                    entry.counted = true;
                }
                self.process_frames(now, slot);
                self.table.mark_dirty(slot);
            } else {
                self.cross.parked.push_front((Instant::ZERO, slot, session));
            }
            return;
        }
    }

    pub(super) fn parked_deadline(&self) -> Option<Instant> {
        self.cross.parked.front().map(|&(at, _, _)| at)
    }

    /// Refuses the parked newcomers no eviction made room for in time.
    pub(super) fn expire_parked(&mut self, now: Instant) {
        while let Some(&(at, slot, session)) = self.cross.parked.front() {
            if at > now {
                break;
            }
            self.cross.parked.pop_front();
            // The eviction asked for is no longer wanted.
            self.cross.group.take_eviction();
            if self.session_number(slot) == session {
                self.stats.drops.session_limit += 1;
                self.send_err(
                    slot,
                    0,
                    crate::proto::ErrorCode::TooManySessions,
                    "server is at its session limit",
                );
                self.close_slot(now, slot, crate::session::CloseReason::Local, true);
            }
        }
    }

    /// Tells every other worker that this one drained (see [`CrossKind::Drained`]).
    pub(super) fn announce_drained(&mut self) {
        for to in (0..self.cross.count).filter(|&w| w != self.cross.index) {
            self.cross.outbox.push(to, CrossKind::Drained);
        }
    }

    /// Whether every other worker drained, so nothing more is on its way here.
    pub(super) fn peers_drained(&self) -> bool {
        (0..self.cross.count)
            .filter(|&w| w != self.cross.index)
            .all(|w| self.cross.drained[w])
    }

    fn release_oks(&mut self) {
        let acked = self.cross.all_acked();
        while (self.cross.waiting_oks.front()).is_some_and(|w| {
            w.seq <= acked && (w.marks.as_deref()).is_none_or(|m| self.cross.taken_up_to(m))
        }) {
            let ok = self.cross.waiting_oks.pop_front().expect("checked above");
            match ok.what {
                Waiting::Ok { sid, interest } => {
                    let same = self
                        .table
                        .get(ok.slot)
                        .and_then(|e| e.subs.get(&sid))
                        .is_some_and(|s| s.interest == interest);
                    if same {
                        self.send_frame(ok.slot, &Frame::Ok { req_id: ok.req_id });
                    }
                }
                Waiting::Pong { session } => {
                    if self.session_number(ok.slot) == session {
                        self.answer_ping(ok.slot, ok.req_id);
                    }
                }
            }
        }
    }

    fn apply_interest(&mut self, from: usize, id: u32, change: InterestChange) {
        let key = sub_key(remote_slot(from), id);
        match change {
            InterestChange::Add {
                filter,
                queue,
                origin,
            } => {
                // The announcing worker checked the filter and the server-wide limit; this
                // index has room for every worker's subscriptions (see `Server::new_worker`).
                if self.index.insert(&filter, queue.as_deref(), key).is_ok() {
                    let sub = RemoteSub {
                        filter,
                        queue,
                        origin,
                    };
                    self.cross.remote.insert((from, id), sub);
                }
            }
            InterestChange::Remove => {
                if let Some(sub) = self.cross.remote.remove(&(from, id)) {
                    self.index.remove(&sub.filter, sub.queue.as_deref(), key);
                }
            }
        }
    }

    /// Plans the crossing of a publish to the workers among `matches` (the publisher's
    /// worker's view, members of queue groups already chosen) and sends it: once per worker.
    pub(super) fn forward_remote(
        &mut self,
        matches: &MatchResult<SubKey>,
        allowed: impl Fn(SlotId) -> bool,
        p: &Pub<'_>,
    ) {
        if self.cross.is_alone() {
            return;
        }
        let mut any = false;
        for key in matches.plain() {
            let (slot, id) = split_key(*key);
            if let Some(w) = remote_worker(slot).filter(|_| allowed(slot)) {
                self.cross.plan[w].everyone = true;
                self.cross.plan[w].plain.push(id);
                any = true;
            }
        }
        for key in matches.queued() {
            let (slot, id) = split_key(*key);
            if let Some(w) = remote_worker(slot).filter(|_| allowed(slot)) {
                self.cross.plan[w].members.push(id);
                any = true;
            }
        }
        if !any {
            return;
        }
        self.send_planned(p);
    }

    /// Sends a completed cut-through message to the other workers' subscriptions among
    /// `keys` (remote index keys chosen when its head arrived: a key with a queue group stands
    /// for its group's chosen member).
    pub(super) fn forward_remote_keys(&mut self, keys: &[SubKey], p: &Pub<'_>) {
        if keys.is_empty() {
            return;
        }
        for &key in keys {
            let (slot, id) = split_key(key);
            let Some(w) = remote_worker(slot) else {
                continue;
            };
            match self.cross.remote.get(&(w, id)) {
                Some(sub) if sub.queue.is_some() => self.cross.plan[w].members.push(id),
                Some(_) => {
                    self.cross.plan[w].everyone = true;
                    self.cross.plan[w].plain.push(id);
                }
                // Gone since: nothing to send it for.
                None => {}
            }
        }
        self.send_planned(p);
    }

    /// Sends `p` to every worker with something planned (see [`Forward`]), once each.
    fn send_planned(&mut self, p: &Pub<'_>) {
        let frame = Frame::Pub(*p);
        for w in 0..self.cross.count {
            let plan = &mut self.cross.plan[w];
            if !plan.everyone && plan.members.is_empty() {
                continue;
            }
            let everyone = std::mem::take(&mut plan.everyone);
            // A buffer the receiver gave back: no allocation per message once warm.
            let mut buffer = self.cross.group.buffer(self.cross.index);
            frame.encode(&mut buffer);
            let groups_at = buffer.len();
            for id in &self.cross.plan[w].members {
                let queue = self
                    .cross
                    .remote
                    .get(&(w, *id))
                    .and_then(|s| s.queue.as_deref());
                if let Some(queue) = queue {
                    let len = u16::try_from(queue.len()).unwrap_or(u16::MAX);
                    buffer.extend_from_slice(&len.to_be_bytes());
                    buffer.extend_from_slice(&queue.as_bytes()[..usize::from(len)]);
                }
            }
            if self.cross.in_flight(w) + buffer.len() > self.cross.max_cross_bytes {
                self.stats.drops.cross_worker_full += 1;
                self.cross.group.give_back(self.cross.index, buffer);
                self.note_lost(w);
                continue;
            }
            self.cross.plan[w].members.clear();
            self.cross.plan[w].plain.clear();
            self.cross.count_sent(w, buffer.len());
            self.cross.outbox.push(
                w,
                CrossKind::Routed {
                    frame: buffer,
                    groups_at,
                    everyone,
                },
            );
        }
    }

    /// Remembers that the message planned for worker `w` was dropped over the bound, for each
    /// of its subscriptions it was meant for, and tells `w` at once if nothing is in flight to
    /// it (no acknowledgement would come to carry the notice).
    fn note_lost(&mut self, w: usize) {
        let cross = &mut self.cross;
        let plan = &mut cross.plan[w];
        for id in plan.plain.drain(..).chain(plan.members.drain(..)) {
            *cross.lost[w].entry(id).or_default() += 1;
        }
        if cross.in_flight(w) == 0 {
            self.tell_lost(w);
        }
    }

    /// Tells worker `w` which of its subscriptions lost messages over the bound since it was
    /// last told. Called when `w` acknowledges, so at most one notice per acknowledgement is on
    /// its way; the notice counts as in flight, so another acknowledgement follows it.
    fn tell_lost(&mut self, w: usize) {
        let cross = &mut self.cross;
        if cross.lost[w].is_empty() {
            return;
        }
        let remote = &cross.remote;
        let counts: Vec<LostCount> = cross.lost[w]
            .drain()
            .filter_map(|(interest, count)| {
                // A subscription gone since has nobody left to tell.
                let origin = remote.get(&(w, interest))?.origin;
                Some(LostCount {
                    origin,
                    interest,
                    count,
                })
            })
            .collect();
        if counts.is_empty() {
            return;
        }
        cross.count_sent(w, lost_weight(&counts));
        cross.outbox.push(w, CrossKind::Lost { counts });
    }

    /// Counts messages another worker dropped over the crossing bound on the subscription
    /// they were meant for, and reports them as its own queue's drops are reported.
    fn count_lost(&mut self, lost: LostCount) {
        let (slot, sid) = split_key(lost.origin);
        if slot == LOCAL_SLOT {
            let same = self.cross.owner_interest.get(&sid) == Some(&lost.interest);
            if same && sid != super::owner::OWNER_INBOX_SID {
                self.push_event(super::ServerEvent::SlowConsumer {
                    name: String::new(),
                    sid,
                });
            }
            return;
        }
        let Some(sub) = self.table.get_mut(slot).and_then(|e| e.subs.get_mut(&sid)) else {
            return;
        };
        if sub.interest != lost.interest {
            return;
        }
        sub.stats.dropped += lost.count;
        let message = format!(
            "slow consumer: subscription {sid} lost {} messages: the server's worker of their \
             publisher got ahead of this client's by more than max_cross_bytes",
            lost.count
        );
        self.report_lost(slot, sid, message);
    }

    /// Delivers a message another worker routed here to this worker's subscriptions: the PUB
    /// frame before `groups_at`, the queue groups' names after it.
    fn deliver_routed(&mut self, frame: &[u8], groups_at: usize, everyone: bool) {
        let (Some(pub_frame), Some(groups)) = (frame.get(..groups_at), frame.get(groups_at..))
        else {
            self.stats.drops.malformed_datagram += 1;
            return;
        };
        let Some(Ok(Frame::Pub(p))) = pub_frame
            .get(LEN_PREFIX..)
            .map(crate::proto::parse_frame_body)
        else {
            self.stats.drops.malformed_datagram += 1;
            return;
        };
        let mut matches = std::mem::take(&mut self.matches);
        let local = |key: SubKey| remote_worker(split_key(key).0).is_none();
        self.index
            .match_eligible_into(p.subject, &local, &mut matches);
        let mut targets = std::mem::take(&mut self.cross.targets);
        targets.clear();
        if everyone {
            targets.extend(matches.plain().iter().copied().filter(|&key| local(key)));
        }
        let mut served = 0usize;
        for &key in matches.queued() {
            if self
                .queue_of(key)
                .is_some_and(|q| group_names(groups).any(|g| g == q))
            {
                targets.push(key);
                served += 1;
            }
        }
        for &key in &targets {
            let (slot, sid) = split_key(key);
            let msg = Msg {
                sid,
                subject: p.subject,
                reply: p.reply,
                headers: p.headers,
                no_responders: false,
                payload: p.payload,
            };
            if slot == LOCAL_SLOT {
                self.deliver_local(&msg);
            } else {
                self.deliver(slot, &msg);
            }
        }
        let named = group_names(groups).count();
        self.stats.drops.queue_member_gone += named.saturating_sub(served) as u64;
        self.cross.targets = targets;
        self.matches = matches;
    }

    /// The worker whose session holds the client name `name`, if another worker's does.
    pub(super) fn remote_holder(&self, name: &str) -> Option<usize> {
        if self.cross.is_alone() {
            return None;
        }
        let worker = self.cross.group.names().owner(name)?.worker;
        (worker != self.cross.index).then_some(worker)
    }

    /// Sends the owner's publish for client `client` to the worker holding it.
    pub(super) fn forward_to_client(&mut self, worker: usize, client: &str, p: &Pub<'_>) {
        let mut encoded = self.cross.group.buffer(self.cross.index);
        Frame::Pub(*p).encode(&mut encoded);
        if self.cross.in_flight(worker) + encoded.len() > self.cross.max_cross_bytes {
            self.stats.drops.cross_worker_full += 1;
            self.cross.group.give_back(self.cross.index, encoded);
            return;
        }
        self.cross.count_sent(worker, encoded.len());
        self.cross.outbox.push(
            worker,
            CrossKind::ToClient {
                frame: encoded,
                client: client.to_owned(),
            },
        );
    }

    /// Delivers the owner's publish another worker sent for one of this worker's clients.
    fn deliver_to_client(&mut self, frame: &[u8], client: &str) {
        let Some(Ok(Frame::Pub(p))) = frame.get(LEN_PREFIX..).map(crate::proto::parse_frame_body)
        else {
            self.stats.drops.malformed_datagram += 1;
            return;
        };
        if let Some(&slot) = self.names.get(client) {
            // A request that reaches no subscription of the client times out at the owner:
            // its worker cannot tell at once.
            let p = Pub {
                request: false,
                ..p
            };
            self.route(Origin::Owner, Target::Session(slot), &p);
        }
    }

    /// The queue group of a local subscription, if it has one.
    fn queue_of(&self, key: SubKey) -> Option<&str> {
        let (slot, sid) = split_key(key);
        if slot == LOCAL_SLOT {
            return self.owner_queue(sid);
        }
        self.table.get(slot)?.subs.get(&sid)?.queue.as_deref()
    }

    /// Tells the worker holding `name` (for `instance`) that a session here took it.
    pub(super) fn tell_name_taken(&mut self, worker: usize, name: &str, instance: u64, tell: bool) {
        self.cross.outbox.push(
            worker,
            CrossKind::NameTaken {
                name: name.to_owned(),
                instance,
                tell,
            },
        );
    }
}

/// The queue group names encoded after a routed message's PUB frame (u16 length, bytes); an
/// undecodable rest ends the list.
fn group_names(mut encoded: &[u8]) -> impl Iterator<Item = &str> {
    std::iter::from_fn(move || {
        let (len, rest) = encoded.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_be_bytes(*len));
        let name = rest.get(..len)?;
        encoded = &rest[len..];
        std::str::from_utf8(name).ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names_read_back_what_was_written_and_stop_at_garbage() {
        let mut encoded = Vec::new();
        for name in ["workers", "", "q.1"] {
            encoded.extend_from_slice(&(name.len() as u16).to_be_bytes());
            encoded.extend_from_slice(name.as_bytes());
        }
        assert_eq!(
            group_names(&encoded).collect::<Vec<_>>(),
            ["workers", "", "q.1"]
        );
        encoded.extend_from_slice(&[0, 9, b'x']);
        assert_eq!(
            group_names(&encoded).count(),
            3,
            "a truncated name ends the list"
        );
        assert_eq!(group_names(&[0xff]).count(), 0);
    }

    #[test]
    fn remote_slots_name_their_worker_and_nothing_else() {
        assert_eq!(remote_worker(remote_slot(0)), Some(0));
        assert_eq!(
            remote_worker(remote_slot(MAX_WORKERS - 1)),
            Some(MAX_WORKERS - 1)
        );
        assert_eq!(remote_worker(LOCAL_SLOT), None);
        assert_eq!(remote_worker(0), None);
        assert_eq!(remote_worker(remote_slot(MAX_WORKERS - 1) - 1), None);
    }
}
