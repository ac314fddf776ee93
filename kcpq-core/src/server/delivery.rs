//! Delivering MSG frames to subscribers: straight into the stream while the client keeps up,
//! through the subscription's bounded queue while it does not.
//!
//! A reliable, in-order KCP stream cannot drop bytes once they are in it, so the choice of what
//! to lose for a slow consumer is made before: while a session's unsent bytes are at or above
//! the low watermark (or its subscription already has frames waiting, to keep order), a message
//! is encoded into the subscription's [`BoundedQueue`](crate::queue::BoundedQueue) and the
//! subscriber's policy (drop-newest or drop-oldest) applies there. [`Server::pump`] moves whole
//! frames from the queues into the stream, round-robin over the session's subscriptions, while
//! the unsent bytes are below the watermark; a frame handed to KCP is always completed.

use crate::proto::{ErrFrame, ErrorCode, Frame, Msg};
use crate::queue::{PushOutcome, Weighed};

use super::table::{MAX_DEFERRED_PONGS, SlotId, SubState};
use super::{Server, ServerEvent};

impl Server {
    /// Delivers one MSG to subscription `msg.sid` of session `slot`.
    pub(super) fn deliver(&mut self, slot: SlotId, msg: &Msg<'_>) {
        let watermark = self.watermark;
        let Some(entry) = self.table.get_mut(slot) else {
            return;
        };
        let backlog = entry.backlog();
        let Some(sub) = entry.subs.get_mut(&msg.sid) else {
            return;
        };
        if sub.ended {
            return;
        }
        let finished = sub.count_down();
        let direct = sub.pending.is_empty() && backlog < watermark;
        if direct && entry.session.write_frame(&Frame::Msg(*msg)).is_ok() {
            sub.stats.delivered += 1;
            self.stats.msgs_out += 1;
            self.stats.bytes_out += msg.payload.len() as u64;
            self.table.mark_dirty(slot);
        } else {
            self.enqueue(slot, msg);
        }
        if finished {
            self.end_sub(slot, msg.sid);
        }
    }

    /// Queues a MSG on its subscription, applying the subscription's policy and the
    /// server-wide bound.
    fn enqueue(&mut self, slot: SlotId, msg: &Msg<'_>) {
        let frame = Frame::Msg(*msg);
        let size = frame.encoded_len();
        let Some(entry) = self.table.get_mut(slot) else {
            return;
        };
        let Some(sub) = entry.subs.get_mut(&msg.sid) else {
            return;
        };
        let outcome = if self.pending_bytes + size > self.config.max_pending_bytes {
            self.stats.drops.server_pending_full += 1;
            None
        } else {
            let mut bytes = Vec::with_capacity(size);
            frame.encode(&mut bytes);
            let before = sub.pending.bytes();
            let seq = entry.next_queued_seq;
            entry.next_queued_seq += 1;
            let outcome = sub.pending.push(QueuedFrame {
                bytes,
                payload_len: msg.payload.len(),
                seq,
            });
            self.pending_bytes = self.pending_bytes + sub.pending.bytes() - before;
            if !sub.pending.is_empty() && !sub.scheduled {
                sub.scheduled = true;
                entry.ready.push_back(msg.sid);
            }
            Some(outcome)
        };
        let (dropped, first_of_burst) = match outcome {
            Some(o) => (o.dropped(), o.first_of_burst()),
            None => (1, !std::mem::replace(&mut sub.over_server_cap, true)),
        };
        if matches!(outcome, Some(PushOutcome::Queued { .. })) {
            sub.over_server_cap = false;
        }
        sub.stats.dropped += dropped as u64;
        self.stats.drops.slow_consumer += dropped as u64;
        if first_of_burst {
            self.report_slow_consumer(slot, msg.sid);
        }
        self.table.mark_dirty(slot);
    }

    /// Tells the owner (event) and the client (ERR) that a subscription lost messages; once per
    /// burst of drops.
    fn report_slow_consumer(&mut self, slot: SlotId, sid: u32) {
        let message = format!(
            "slow consumer: subscription {sid} is not read fast enough; messages were dropped"
        );
        self.report_lost(slot, sid, message);
    }

    /// Tells the owner (event) and the client (ERR `message`) that subscription `sid` of
    /// `slot` lost messages.
    pub(super) fn report_lost(&mut self, slot: SlotId, sid: u32, message: String) {
        let Some(entry) = self.table.get_mut(slot) else {
            return;
        };
        self.stats.slow_consumers += 1;
        let name = entry.name.clone();
        // Control frames bypass the queues; the send buffer keeps room for them (see
        // `ServerConfig::validate`), and a refusal only means the client is gone.
        let _ = entry.session.write_frame(&Frame::Err(ErrFrame {
            req_id: 0,
            code: ErrorCode::SlowConsumer,
            message: &message,
        }));
        self.table.mark_dirty(slot);
        log::debug!("kcpq server: {name}: {message}");
        self.push_event(ServerEvent::SlowConsumer { name, sid });
    }

    /// Moves queued frames of `slot` into its stream, round-robin over its subscriptions, while
    /// the stream's unsent bytes are below the watermark.
    pub(super) fn pump(&mut self, slot: SlotId) {
        let watermark = self.watermark;
        let Some(entry) = self.table.get_mut(slot) else {
            return;
        };
        let mut finished = Vec::new();
        while entry.backlog() < watermark {
            let Some(sid) = entry.ready.pop_front() else {
                break;
            };
            let Some(sub) = entry.subs.get_mut(&sid) else {
                continue;
            };
            let Some(frame) = sub.pending.pop() else {
                sub.scheduled = false;
                continue;
            };
            self.pending_bytes -= frame.bytes.len();
            if entry.session.write_encoded(&frame.bytes).is_ok() {
                sub.stats.delivered += 1;
                self.stats.msgs_out += 1;
                self.stats.bytes_out += frame.payload_len as u64;
            } else {
                // Unreachable while `ServerConfig::validate` holds: the send buffer keeps room
                // for a window, the watermark and one frame. Counted, never silent.
                sub.stats.dropped += 1;
                self.stats.drops.slow_consumer += 1;
            }
            if sub.pending.is_empty() {
                sub.scheduled = false;
                if sub.ended {
                    finished.push(sid);
                }
            } else {
                entry.ready.push_back(sid);
            }
        }
        for sid in finished {
            self.remove_sub(slot, sid);
        }
        self.release_pongs(slot);
    }

    /// PING: answered once every frame queued before it is in the stream, so a PONG never
    /// overtakes messages routed before its PING (a flush or a drain waits for them).
    /// With several workers, the PONG of a PING that follows a SUB also waits until every
    /// worker knows that subscription, and until every worker has taken in what this one
    /// routed to it before the PING.
    pub(super) fn on_ping(&mut self, slot: SlotId, req_id: u32) {
        if req_id == crate::proto::KEEPALIVE_REQ_ID {
            // Its KCP acknowledgement answers it; receiving it was the point (liveness).
            self.stats.keepalives += 1;
            return;
        }
        if !self.hold_pong(slot, req_id) {
            self.answer_ping(slot, req_id);
        }
    }

    /// Answers a PING once the frames queued before it are in the stream.
    pub(super) fn answer_ping(&mut self, slot: SlotId, req_id: u32) {
        let Some(entry) = self.table.get_mut(slot) else {
            return;
        };
        if entry.ready.is_empty() && entry.deferred_pongs.is_empty() {
            self.send_pong(slot, req_id);
        } else if entry.deferred_pongs.len() >= MAX_DEFERRED_PONGS {
            log::debug!(
                "kcpq server: {}: {MAX_DEFERRED_PONGS} PONGs already wait; answering at once",
                entry.name
            );
            self.send_pong(slot, req_id);
        } else {
            let barrier = entry.next_queued_seq;
            entry.deferred_pongs.push_back((barrier, req_id));
        }
    }

    /// Writes a PONG into the session's stream (a refusal only means the client stopped
    /// reading; its liveness timers end it).
    fn send_pong(&mut self, slot: SlotId, req_id: u32) {
        let Some(entry) = self.table.get_mut(slot) else {
            return;
        };
        if entry.session.write_frame(&Frame::Pong { req_id }).is_err() {
            self.stats.drops.slow_consumer += 1;
        }
        self.table.mark_dirty(slot);
    }

    /// Sends the deferred PONGs whose frames are all in the stream.
    fn release_pongs(&mut self, slot: SlotId) {
        let Some(entry) = self.table.get_mut(slot) else {
            return;
        };
        if entry.deferred_pongs.is_empty() {
            return;
        }
        let oldest_queued = entry
            .subs
            .values()
            .filter_map(|sub| sub.pending.front().map(|frame| frame.seq))
            .min();
        let mut due = Vec::new();
        while let Some(&(barrier, req_id)) = entry.deferred_pongs.front() {
            if oldest_queued.is_some_and(|oldest| oldest < barrier) {
                break;
            }
            entry.deferred_pongs.pop_front();
            due.push(req_id);
        }
        for req_id in due {
            self.send_pong(slot, req_id);
        }
    }

    /// Whether frames wait in any queue of `slot`, or PONGs wait for them.
    pub(super) fn has_pending_output(&self, slot: SlotId) -> bool {
        self.table
            .get(slot)
            .is_some_and(|e| !e.ready.is_empty() || !e.deferred_pongs.is_empty())
    }

    /// Marks a subscription whose count is reached: no more routing; its queued frames are
    /// still delivered, then it is removed.
    pub(super) fn end_sub(&mut self, slot: SlotId, sid: u32) {
        let Some(sub) = self.table.get_mut(slot).and_then(|e| e.subs.get_mut(&sid)) else {
            return;
        };
        if sub.ended {
            return;
        }
        sub.ended = true;
        let empty = sub.pending.is_empty();
        let (filter, queue, interest) = (sub.filter.clone(), sub.queue.clone(), sub.interest);
        self.index
            .remove(&filter, queue.as_deref(), super::sub_key(slot, sid));
        self.announce_unsub(interest);
        if empty {
            self.remove_sub(slot, sid);
        }
    }

    /// Removes a subscription now: out of the index (unless already ended) and its queued frames
    /// discarded and counted.
    pub(super) fn remove_sub(&mut self, slot: SlotId, sid: u32) {
        let Some(sub) = self.table.get_mut(slot).and_then(|e| e.subs.remove(&sid)) else {
            return;
        };
        if !sub.ended {
            self.index
                .remove(&sub.filter, sub.queue.as_deref(), super::sub_key(slot, sid));
            self.announce_unsub(sub.interest);
        }
        self.discard_pending(&sub);
        self.stats.subscriptions -= 1;
        self.release_pongs(slot);
    }

    /// Forgets the queued frames of a subscription that is going away.
    pub(super) fn discard_pending(&mut self, sub: &SubState) {
        self.pending_bytes -= sub.pending.bytes();
        self.stats.drops.unsubscribed += sub.pending.len() as u64;
    }
}

/// One MSG frame waiting in a subscription's queue.
#[derive(Debug)]
pub(crate) struct QueuedFrame {
    /// The encoded frame, length prefix included.
    pub(crate) bytes: Vec<u8>,
    /// Its payload's length (for the bytes-out counter).
    pub(crate) payload_len: usize,
    /// Its place among the frames queued for the session (see `Slot::deferred_pongs`).
    pub(crate) seq: u64,
}

impl Weighed for QueuedFrame {
    fn weight(&self) -> usize {
        self.bytes.len()
    }
}
