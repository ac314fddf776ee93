//! Cut-through delivery of large messages (protocol version 3).
//!
//! A PUB whose payload is at least [`CutThroughConfig::min_payload`] bytes is routed as soon as
//! its head (subject, reply subject, headers) has arrived, and its payload is forwarded to the
//! subscribers as its bytes arrive, in MSG_BEGIN and MSG_PART frames, instead of after its last
//! byte: a 100 KB frame no longer waits at the server for all of its ~75 datagrams.
//!
//! The rules:
//! - Recipients are chosen once, when the head arrives: the subscriptions that match then, a
//!   queue group's member chosen then. Each is *live* (gets the bytes as they come) or
//!   *deferred* (gets one whole MSG when the PUB is complete, as without cut-through).
//! - A recipient is live when its client speaks version 3, no other cut-through message is open
//!   on its session, its subscription has nothing queued and its session's backlog is under the
//!   low watermark: exactly when a whole MSG would go straight into its stream. So the
//!   slow-consumer policy is applied when the message starts; the bytes it then owes the
//!   recipient count in the session's backlog and are always written.
//! - Other messages to a live recipient go on meanwhile and may arrive between the parts; a
//!   session has at most one cut-through message open, so a second large message to it is
//!   deferred.
//! - A publisher that sends none of the message's bytes for `stall_timeout`, takes longer than
//!   `max_duration` or whose session ends has the message aborted: each live recipient gets
//!   MSG_ABORT and becomes deferred, so a PUB that still completes is delivered whole.
//! - At most `max_open` messages are open server-wide; beyond it a large PUB is received whole.
//!
//! The publisher's frame stays in its session's frame decoder until it is complete, so the
//! server's memory per session is bounded as without cut-through (one frame of max payload),
//! and a recipient's share is bounded by its send buffer (the backlog check).
//!
//! [`CutThroughConfig::min_payload`]: super::CutThroughConfig::min_payload

use crate::Instant;
use crate::crypto::SessionId;
use crate::proto::{Frame, FrameDecoder, Msg, MsgBegin, Pub, parse_pub_head};
use crate::session::CloseReason;

use super::routing::Origin;
use super::table::{Phase, SlotId};
use super::{LOCAL_SLOT, Server, split_key};

/// What the server does with the large PUB under way in a publisher's stream.
#[derive(Debug)]
pub(crate) enum CutOut {
    /// Received whole, as without cut-through (decided when its head arrived).
    Declined,
    /// Routed when its head arrived.
    Routed(Box<Routed>),
}

/// A large PUB routed when its head arrived.
#[derive(Debug)]
pub(crate) struct Routed {
    /// Where the payload starts in the frame's body.
    head_len: usize,
    /// Payload bytes written to the live recipients so far.
    forwarded: usize,
    live: Vec<Recipient>,
    deferred: Vec<Recipient>,
    /// Subscriptions of other workers (remote index keys): the message crosses to them whole
    /// once complete.
    remote: Vec<super::SubKey>,
    started: Instant,
    last_progress: Instant,
}

/// One subscription a routed PUB goes to. The session id tells a slot re-used by a newer
/// session (a deferred recipient may leave before the PUB completes).
#[derive(Debug, Clone, Copy)]
struct Recipient {
    slot: SlotId,
    session: Option<SessionId>,
    sid: u32,
}

/// The cut-through message open on a recipient's stream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CutIn {
    /// The publisher's slot.
    pub(crate) from: SlotId,
    /// Payload bytes the recipient is still owed.
    pub(crate) owed: usize,
}

impl Server {
    /// Once the whole frames a session received are handled: starts, or carries on, the
    /// cut-through of the large PUB under way at the front of its stream.
    pub(super) fn advance_cut_through(
        &mut self,
        now: Instant,
        slot: SlotId,
        decoder: &FrameDecoder,
    ) {
        let Some(min) = self.config.cut_through.min_payload else {
            return;
        };
        let Some((body, body_len)) = decoder.partial() else {
            return;
        };
        if body_len < min {
            return;
        }
        let Some(entry) = self.table.get(slot) else {
            return;
        };
        if entry.phase != Phase::Open {
            return;
        }
        match &entry.cut_out {
            Some(CutOut::Declined) => {}
            Some(CutOut::Routed(_)) => self.forward(now, slot, body),
            None => self.start(now, slot, body, body_len, min),
        }
    }

    fn start(&mut self, now: Instant, slot: SlotId, body: &[u8], body_len: usize, min: usize) {
        let (p, head_len) = match parse_pub_head(body) {
            Ok(Some(head)) => head,
            Ok(None) => return,
            // The whole frame will be refused when it is complete; it is received whole.
            Err(_) => {
                self.set_cut_out(slot, CutOut::Declined);
                return;
            }
        };
        let payload_len = body_len - head_len;
        let size = payload_len + p.headers.map_or(0, |h| h.as_bytes().len());
        let routable = payload_len >= min
            && self.shutdown.is_none()
            && self.open_cuts.len() < self.config.cut_through.max_open
            && self.publish_error(&p, size).is_none();
        let mut keys = Vec::new();
        if routable {
            self.recipients(Origin::Session(slot), p.subject, &mut keys);
        }
        if keys.is_empty() {
            // Nobody to forward to (or an error to report): the PUB takes the usual path when
            // complete, which answers a request with no responders and reports errors.
            self.set_cut_out(slot, CutOut::Declined);
            return;
        }
        let mut routed = Routed {
            head_len,
            forwarded: 0,
            live: Vec::new(),
            deferred: Vec::new(),
            remote: Vec::new(),
            started: now,
            last_progress: now,
        };
        for key in keys {
            let (to, sid) = split_key(key);
            if super::cross::remote_worker(to).is_some() {
                // Another worker's subscribers get the message whole, once complete.
                routed.remote.push(key);
                continue;
            }
            let recipient = Recipient {
                slot: to,
                session: self.table.get(to).map(|e| e.session.session_id()),
                sid,
            };
            if self.begin(slot, recipient, &p, payload_len) {
                routed.live.push(recipient);
            } else {
                routed.deferred.push(recipient);
            }
        }
        if !routed.live.is_empty() {
            self.stats.cut_through += 1;
            self.open_cuts.push(slot);
        }
        self.set_cut_out(slot, CutOut::Routed(Box::new(routed)));
        self.forward(now, slot, body);
    }

    /// Opens the message on `to`'s stream (MSG_BEGIN) if it may go live there.
    fn begin(&mut self, from: SlotId, to: Recipient, p: &Pub<'_>, payload_len: usize) -> bool {
        let watermark = self.watermark;
        if to.slot == LOCAL_SLOT {
            return false;
        }
        let Some(entry) = self.table.get_mut(to.slot) else {
            return false;
        };
        let backlog = entry.backlog();
        let open = entry.version >= 3 && entry.phase == Phase::Open && entry.cut_in.is_none();
        let Some(sub) = entry.subs.get_mut(&to.sid) else {
            return false;
        };
        if !open || sub.ended || !sub.pending.is_empty() || backlog >= watermark {
            return false;
        }
        let frame = Frame::MsgBegin(MsgBegin {
            sid: to.sid,
            subject: p.subject,
            reply: p.reply,
            headers: p.headers,
            payload_len: u32::try_from(payload_len).unwrap_or(u32::MAX),
        });
        if entry.session.write_frame(&frame).is_err() {
            return false;
        }
        let finished = sub.count_down();
        entry.cut_in = Some(CutIn {
            from,
            owed: payload_len,
        });
        self.table.mark_dirty(to.slot);
        if finished {
            self.end_sub(to.slot, to.sid);
        }
        true
    }

    /// Writes the payload bytes that arrived since the last call to the live recipients.
    fn forward(&mut self, now: Instant, slot: SlotId, body: &[u8]) {
        let Some(CutOut::Routed(routed)) =
            self.table.get_mut(slot).and_then(|e| e.cut_out.as_mut())
        else {
            return;
        };
        let arrived = body.len().saturating_sub(routed.head_len);
        if arrived <= routed.forwarded {
            return;
        }
        let bytes = &body[routed.head_len + routed.forwarded..routed.head_len + arrived];
        routed.forwarded = arrived;
        routed.last_progress = now;
        let live = std::mem::take(&mut routed.live);
        let mut kept = Vec::with_capacity(live.len());
        let mut broken = Vec::new();
        for recipient in live {
            if self.write_part(recipient.slot, bytes) {
                kept.push(recipient);
            } else {
                broken.push(recipient.slot);
            }
        }
        if let Some(CutOut::Routed(routed)) =
            self.table.get_mut(slot).and_then(|e| e.cut_out.as_mut())
        {
            routed.live = kept;
        }
        self.close_broken(now, broken);
        self.forget_if_idle(slot);
    }

    /// Writes the next payload bytes of the message open on `to`'s stream.
    fn write_part(&mut self, to: SlotId, bytes: &[u8]) -> bool {
        let Some(entry) = self.table.get_mut(to) else {
            return false;
        };
        let written = entry.session.write_frame(&Frame::MsgPart { bytes }).is_ok();
        if let Some(cut_in) = &mut entry.cut_in {
            cut_in.owed = cut_in.owed.saturating_sub(bytes.len());
        }
        self.table.mark_dirty(to);
        written
    }

    /// A recipient whose send buffer refused owed bytes (impossible while
    /// `ServerConfig::validate` holds: the backlog check keeps room) would see a torn message:
    /// its session is closed instead, and counted.
    fn close_broken(&mut self, now: Instant, broken: Vec<SlotId>) {
        for to in broken {
            self.stats.drops.slow_consumer += 1;
            let reason = CloseReason::ProtocolViolation(
                "the send buffer refused part of a cut-through message".to_owned(),
            );
            self.close_slot(now, to, reason, true);
        }
    }

    /// The PUB of a publisher with a cut-through decision is complete. Returns false when it
    /// takes the usual path (declined, or nothing was decided).
    pub(super) fn finish_cut_through(&mut self, now: Instant, slot: SlotId, p: &Pub<'_>) -> bool {
        let Some(entry) = self.table.get_mut(slot) else {
            return false;
        };
        let routed = match entry.cut_out.take() {
            Some(CutOut::Routed(routed)) => routed,
            Some(CutOut::Declined) | None => return false,
        };
        self.open_cuts.retain(|&s| s != slot);
        self.stats.msgs_in += 1;
        self.stats.bytes_in += p.payload.len() as u64;
        let rest = p.payload.get(routed.forwarded..).unwrap_or_default();
        let mut broken = Vec::new();
        for recipient in &routed.live {
            if !rest.is_empty() && !self.write_part(recipient.slot, rest) {
                broken.push(recipient.slot);
                continue;
            }
            let Some(entry) = self.table.get_mut(recipient.slot) else {
                continue;
            };
            entry.cut_in = None;
            if let Some(sub) = entry.subs.get_mut(&recipient.sid) {
                sub.stats.delivered += 1;
            }
            self.stats.msgs_out += 1;
            self.stats.bytes_out += p.payload.len() as u64;
        }
        self.close_broken(now, broken);
        self.forward_remote_keys(&routed.remote, p);
        for recipient in &routed.deferred {
            let msg = Msg {
                sid: recipient.sid,
                subject: p.subject,
                reply: p.reply,
                headers: p.headers,
                no_responders: false,
                payload: p.payload,
            };
            if recipient.slot == LOCAL_SLOT {
                self.deliver_local(&msg);
            } else if self
                .table
                .get(recipient.slot)
                .is_some_and(|e| Some(e.session.session_id()) == recipient.session)
            {
                self.deliver(recipient.slot, &msg);
            }
        }
        true
    }

    /// Aborts the open message of publisher `slot` for its live recipients: each gets
    /// MSG_ABORT and becomes deferred.
    fn abort(&mut self, slot: SlotId) {
        let Some(CutOut::Routed(routed)) =
            self.table.get_mut(slot).and_then(|e| e.cut_out.as_mut())
        else {
            return;
        };
        let live = std::mem::take(&mut routed.live);
        for recipient in &live {
            self.write_abort(recipient.slot, slot);
        }
        if let Some(CutOut::Routed(routed)) =
            self.table.get_mut(slot).and_then(|e| e.cut_out.as_mut())
        {
            routed.deferred.extend(live);
        }
        self.stats.cut_through_aborted += 1;
        self.open_cuts.retain(|&s| s != slot);
    }

    /// Ends the message from `from` open on `to`'s stream with MSG_ABORT.
    fn write_abort(&mut self, to: SlotId, from: SlotId) {
        let Some(entry) = self.table.get_mut(to) else {
            return;
        };
        if entry.cut_in.is_none_or(|c| c.from != from) {
            return;
        }
        entry.cut_in = None;
        // Refused only by a full send buffer, which the backlog check rules out; the client
        // then never completes the message and its session ends.
        if entry.session.write_frame(&Frame::MsgAbort).is_err() {
            self.stats.drops.slow_consumer += 1;
        }
        self.table.mark_dirty(to);
    }

    /// A publisher no longer forwarding to anyone leaves the open set.
    fn forget_if_idle(&mut self, slot: SlotId) {
        let idle = match self.table.get(slot).and_then(|e| e.cut_out.as_ref()) {
            Some(CutOut::Routed(routed)) => routed.live.is_empty(),
            _ => true,
        };
        if idle {
            self.open_cuts.retain(|&s| s != slot);
        }
    }

    /// Aborts the open messages whose publisher stalled or ran out of time.
    pub(super) fn expire_cut_throughs(&mut self, now: Instant) {
        if self.open_cuts.is_empty() {
            return;
        }
        let due: Vec<SlotId> = self
            .open_cuts
            .iter()
            .copied()
            .filter(|&slot| self.cut_deadline(slot).is_some_and(|at| at <= now))
            .collect();
        for slot in due {
            log::debug!("kcpq server: cut-through message of slot {slot} stalled; aborted");
            self.abort(slot);
        }
    }

    /// The earliest moment an open message must be aborted.
    pub(super) fn cut_through_deadline(&self) -> Option<Instant> {
        self.open_cuts
            .iter()
            .filter_map(|&slot| self.cut_deadline(slot))
            .min()
    }

    fn cut_deadline(&self, slot: SlotId) -> Option<Instant> {
        let Some(CutOut::Routed(routed)) = self.table.get(slot)?.cut_out.as_ref() else {
            return None;
        };
        let config = &self.config.cut_through;
        Some(
            (routed.last_progress + config.stall_timeout).min(routed.started + config.max_duration),
        )
    }

    /// A session is closing (already out of the table): its open message is aborted for its
    /// recipients, and it leaves the message open on its own stream.
    pub(super) fn forget_cut_through(
        &mut self,
        slot: SlotId,
        cut_out: Option<CutOut>,
        cut_in: Option<CutIn>,
    ) {
        if let Some(CutOut::Routed(routed)) = cut_out {
            for recipient in &routed.live {
                self.write_abort(recipient.slot, slot);
            }
            if !routed.live.is_empty() {
                self.stats.cut_through_aborted += 1;
            }
            self.open_cuts.retain(|&s| s != slot);
        }
        if let Some(cut_in) = cut_in
            && let Some(CutOut::Routed(routed)) = self
                .table
                .get_mut(cut_in.from)
                .and_then(|e| e.cut_out.as_mut())
        {
            routed.live.retain(|r| r.slot != slot);
            self.forget_if_idle(cut_in.from);
        }
    }

    fn set_cut_out(&mut self, slot: SlotId, cut_out: CutOut) {
        if let Some(entry) = self.table.get_mut(slot) {
            entry.cut_out = Some(cut_out);
        }
    }
}
