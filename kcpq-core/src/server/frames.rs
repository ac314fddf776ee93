//! What the server does with each frame a client sends, and routing PUB to subscriptions.

use crate::Instant;
use crate::proto::{
    DecodeError, ErrFrame, ErrorCode, Frame, Info, InfoFlags, MIN_PROTOCOL_VERSION,
    PROTOCOL_VERSION, Pub, Sub, Unsub,
};
use crate::server::config::DuplicateNames;
use crate::session::CloseReason;
use crate::subject::{InsertError, validate_filter, validate_queue_group, validate_subject};

use super::routing::{Origin, Target};
use super::stats::SubscriptionStats;
use super::table::{Phase, SlotId, SubState};
use super::workers::NameOwner;
use super::{Server, ServerEvent, sub_key};
use crate::queue::{BoundedQueue, OverflowPolicy};

/// A frame handler's verdict: go on, or close the session (telling the client or not).
type Verdict = Result<(), (CloseReason, bool)>;

fn violation(what: impl Into<String>) -> (CloseReason, bool) {
    (CloseReason::ProtocolViolation(what.into()), true)
}

impl Server {
    /// Decodes and handles every complete frame the session `slot` has received.
    pub(super) fn process_frames(&mut self, now: Instant, slot: SlotId) {
        let Some(entry) = self.table.get_mut(slot) else {
            return;
        };
        if !entry.counted {
            // A newcomer waiting for room (see `Server::park`): its CONNECT waits too.
            return;
        }
        let mut decoder = entry.session.take_decoder();
        let mut verdict = Ok(());
        while let Some(result) = decoder.next_frame() {
            verdict = match result {
                Ok(frame) => self.handle_frame(now, slot, frame),
                Err(DecodeError::Oversize { len, max }) => {
                    let message = format!("frame of {len} bytes exceeds the limit of {max} bytes");
                    self.send_err(slot, 0, ErrorCode::PayloadTooLarge, &message);
                    Ok(())
                }
                Err(e) => Err(violation(e.to_string())),
            };
            if verdict.is_err() {
                break;
            }
        }
        if verdict.is_ok() {
            self.advance_cut_through(now, slot, &decoder);
        }
        if let Some(entry) = self.table.get_mut(slot) {
            entry.session.restore_decoder(decoder);
        }
        if let Err((reason, tell)) = verdict {
            self.stats.drops.protocol_violation +=
                u64::from(matches!(reason, CloseReason::ProtocolViolation(_)));
            self.close_slot(now, slot, reason, tell);
        }
    }

    fn handle_frame(&mut self, now: Instant, slot: SlotId, frame: Frame<'_>) -> Verdict {
        let phase = self.table.get(slot).map(|e| e.phase);
        match (phase, frame) {
            (Some(Phase::AwaitConnect), Frame::Connect(c)) => self.on_connect(now, slot, c),
            (Some(Phase::AwaitConnect), other) => Err(violation(format!(
                "{:?} before CONNECT",
                other.frame_type()
            ))),
            (_, Frame::Connect(_)) => Err(violation("a second CONNECT")),
            (_, Frame::Sub(sub)) => {
                self.on_sub(slot, sub);
                Ok(())
            }
            (_, Frame::Unsub(unsub)) => {
                self.on_unsub(slot, unsub);
                Ok(())
            }
            (_, Frame::Pub(p)) => {
                if !self.finish_cut_through(now, slot, &p) {
                    self.on_pub(slot, p);
                }
                Ok(())
            }
            (_, Frame::Ping { req_id }) => {
                self.on_ping(slot, req_id);
                Ok(())
            }
            (_, Frame::Pong { .. }) => Ok(()),
            (_, Frame::Close(c)) => Err((CloseReason::PeerClosed(c.reason.to_owned()), false)),
            (_, other) => Err(violation(format!(
                "{:?} sent to the server",
                other.frame_type()
            ))),
        }
    }

    /// Encodes `frame` into the session's stream. Control frames are small and the send buffer
    /// is far larger than the window, so a refusal means the client stopped reading entirely;
    /// it is counted as a slow consumer and the session's liveness timers will end it.
    pub(super) fn send_frame(&mut self, slot: SlotId, frame: &Frame<'_>) {
        let Some(entry) = self.table.get_mut(slot) else {
            return;
        };
        if entry.session.write_frame(frame).is_err() {
            self.stats.drops.slow_consumer += 1;
        }
        self.table.mark_dirty(slot);
    }

    pub(super) fn send_err(&mut self, slot: SlotId, req_id: u32, code: ErrorCode, message: &str) {
        self.send_frame(
            slot,
            &Frame::Err(ErrFrame {
                req_id,
                code,
                message,
            }),
        );
    }

    fn on_connect(&mut self, now: Instant, slot: SlotId, c: crate::proto::Connect<'_>) -> Verdict {
        if !(MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&c.version) {
            let message = format!(
                "protocol version {} is not supported; this server speaks \
                 {MIN_PROTOCOL_VERSION} to {PROTOCOL_VERSION}",
                c.version
            );
            self.send_err(slot, c.req_id, ErrorCode::UnsupportedVersion, &message);
            return Err((CloseReason::ProtocolViolation(message), false));
        }
        let name = if c.name.is_empty() {
            self.assign_name()
        } else {
            c.name.to_owned()
        };
        if let Err(refusal) = self.claim_name(now, slot, &name, c.instance) {
            let (code, message) = refusal;
            self.send_err(slot, c.req_id, code, &message);
            let reason = if code == ErrorCode::Replaced {
                CloseReason::Replaced
            } else {
                CloseReason::ProtocolViolation(message)
            };
            return Err((reason, false));
        }
        let client_ping = std::time::Duration::from_millis(u64::from(c.ping_interval_ms));
        let ping_interval = self.config.effective_ping_interval(client_ping);
        let silence_limit = self.config.silence_limit(client_ping);
        let entry = self
            .table
            .get_mut(slot)
            .expect("the caller checked the slot");
        entry.phase = Phase::Open;
        entry.version = c.version;
        entry.name = name.clone();
        entry.no_echo = c.flags.no_echo();
        entry.instance = c.instance;
        // FEC when both want it: the client offered it (version 3) and this server offers it.
        let fec = c.version >= 3 && c.flags.fec() && entry.session.offers_fec();
        if fec {
            entry.session.start_fec();
        }
        entry.opened_at = now;
        entry.ping_interval = ping_interval;
        entry.session.set_dead_after(silence_limit);
        let addr = entry.session.peer();
        self.names.insert(name.clone(), slot);
        let info = Frame::Info(Info {
            req_id: c.req_id,
            // The version both speak: the client's (checked above to be at most ours).
            version: c.version,
            max_payload: u32::try_from(self.config.max_payload).unwrap_or(u32::MAX),
            max_subscriptions: u32::try_from(self.config.max_subscriptions_per_session)
                .unwrap_or(u32::MAX),
            ping_interval_ms: u32::try_from(self.config.ping_interval.as_millis())
                .unwrap_or(u32::MAX),
            server_name: &self.config.server_name,
            client_name: &name,
            flags: InfoFlags(if fec { InfoFlags::FEC } else { 0 }),
        });
        let mut encoded = Vec::with_capacity(info.encoded_len());
        info.encode(&mut encoded);
        if let Some(entry) = self.table.get_mut(slot) {
            let _ = entry.session.write_encoded(&encoded);
        }
        self.table.mark_dirty(slot);
        self.stats.sessions_opened += 1;
        self.push_event(ServerEvent::SessionOpened { name, addr });
        Ok(())
    }

    /// Makes `name` this session's across all workers, taking it over from an older session
    /// as the configuration says, or says why not.
    fn claim_name(
        &mut self,
        now: Instant,
        slot: SlotId,
        name: &str,
        instance: u64,
    ) -> Result<(), (ErrorCode, String)> {
        let group = self.cross.group.clone();
        let mut names = group.names();
        if names.is_replaced(now, name, instance) {
            let message = format!(
                "client name {name:?} was taken over by another instance; this one must not \
                 reconnect"
            );
            return Err((ErrorCode::Replaced, message));
        }
        let me = NameOwner {
            worker: self.cross.index,
            instance,
            session: self.session_number(slot),
        };
        let Some(old) = names.owner(name) else {
            names.claim(name, me);
            return Ok(());
        };
        let same_client = old.instance == instance;
        let take_over = self.config.duplicate_names == DuplicateNames::TakeOver;
        if !same_client && !take_over {
            let message = format!(
                "client name {name:?} is already connected (this server refuses duplicate \
                 names); choose another name or wait for the other session to end"
            );
            return Err((ErrorCode::DuplicateName, message));
        }
        if !same_client {
            names.replaced.remember(now, name, old.instance);
            self.stats.sessions_replaced += 1;
        }
        names.claim(name, me);
        drop(names);
        if old.worker == self.cross.index {
            let old_slot = self.names.get(name).copied().filter(|&s| s != slot);
            if let Some(old_slot) = old_slot {
                // The same client reconnected before this server noticed its old session die,
                // or a new instance takes the name over.
                self.end_named_session(now, old_slot, name, !same_client);
            }
        } else {
            self.tell_name_taken(old.worker, name, old.instance, !same_client);
        }
        Ok(())
    }

    /// Closes the session that lost its name: told why (ERR Replaced, CLOSE) when another
    /// instance took the name, silently when the same client reconnected.
    fn end_named_session(&mut self, now: Instant, slot: SlotId, name: &str, tell: bool) {
        if tell {
            let message =
                format!("client name {name:?} was taken over by a new connection; this one ends");
            self.send_err(slot, 0, ErrorCode::Replaced, &message);
        }
        self.close_slot(now, slot, CloseReason::Replaced, tell);
    }

    /// Another worker's session took the name that `instance` holds here.
    pub(super) fn close_taken_name(&mut self, now: Instant, name: &str, instance: u64, tell: bool) {
        let slot = self
            .names
            .get(name)
            .copied()
            .filter(|&s| self.table.get(s).is_some_and(|e| e.instance == instance));
        if let Some(slot) = slot {
            self.end_named_session(now, slot, name, tell);
        }
    }

    /// A name for a client that chose none: `client-<start token>-<n>`, never one in use. The
    /// token, random per server start, keeps a client that reconnects with the name a previous
    /// run of this server gave it from colliding with a new client's.
    fn assign_name(&mut self) -> String {
        loop {
            // Workers number their clients in strides, so that no two give the same name.
            let n = self.next_client_number * self.cross.count as u64 + self.cross.index as u64;
            self.next_client_number += 1;
            let name = format!("client-{:08x}-{n}", self.name_token);
            if self.cross.group.names().owner(&name).is_none() {
                return name;
            }
        }
    }

    fn on_sub(&mut self, slot: SlotId, sub: Sub<'_>) {
        let limits = &self.config.index.limits;
        let valid = validate_filter(sub.filter, limits).and_then(|()| {
            sub.queue
                .map_or(Ok(()), |q| validate_queue_group(q, limits))
        });
        if let Err(e) = valid {
            self.send_err(slot, sub.req_id, ErrorCode::InvalidSubject, &e.to_string());
            return;
        }
        let entry = self.table.get(slot).expect("the caller checked the slot");
        if entry.subs.contains_key(&sub.sid) {
            let message = format!("subscription id {} is already in use", sub.sid);
            self.send_err(slot, sub.req_id, ErrorCode::DuplicateSubscription, &message);
            return;
        }
        if entry.subs.len() >= self.config.max_subscriptions_per_session {
            let message = format!(
                "at most {} subscriptions per session",
                self.config.max_subscriptions_per_session
            );
            self.send_err(slot, sub.req_id, ErrorCode::TooManySubscriptions, &message);
            return;
        }
        if !self.cross.is_alone() && self.index.len() >= self.cross.max_subscriptions {
            let message = format!(
                "the server holds its limit of {} subscriptions",
                self.cross.max_subscriptions
            );
            self.send_err(slot, sub.req_id, ErrorCode::TooManySubscriptions, &message);
            return;
        }
        if let Err(e) = self
            .index
            .insert(sub.filter, sub.queue, sub_key(slot, sub.sid))
        {
            let code = match e {
                InsertError::Full { .. } => ErrorCode::TooManySubscriptions,
                _ => ErrorCode::InvalidSubject,
            };
            self.send_err(slot, sub.req_id, code, &e.to_string());
            return;
        }
        let interest = self.announce_sub(slot, sub.sid, sub.filter, sub.queue);
        let entry = self
            .table
            .get_mut(slot)
            .expect("the caller checked the slot");
        let policy = if sub.flags.drop_oldest() {
            OverflowPolicy::DropOldest
        } else {
            OverflowPolicy::DropNewest
        };
        entry.subs.insert(
            sub.sid,
            SubState {
                filter: sub.filter.to_owned(),
                queue: sub.queue.map(str::to_owned),
                remaining: None,
                stats: SubscriptionStats::default(),
                pending: BoundedQueue::new(self.queue_limits, policy),
                scheduled: false,
                ended: false,
                over_server_cap: false,
                interest,
            },
        );
        self.stats.subscriptions += 1;
        self.ok_when_visible(slot, sub.sid, interest, sub.req_id);
    }

    /// UNSUB: routing to the subscription stops at once; what its queue already holds was
    /// routed before the UNSUB and is still delivered (as NATS flushes what it has pending for
    /// a connection), then the subscription is removed. A client that unsubscribed discards
    /// those messages; a draining one delivers them before its PING's PONG.
    fn on_unsub(&mut self, slot: SlotId, unsub: Unsub) {
        if unsub.max_msgs == 0 {
            self.end_sub(slot, unsub.sid);
        } else if let Some(sub) = self
            .table
            .get_mut(slot)
            .and_then(|e| e.subs.get_mut(&unsub.sid))
            .filter(|sub| !sub.ended)
        {
            sub.remaining = Some(unsub.max_msgs);
        }
    }

    fn on_pub(&mut self, slot: SlotId, p: Pub<'_>) {
        if self.shutdown.is_some() {
            self.stats.drops.draining += 1;
            return;
        }
        let size = p.payload.len() + p.headers.map_or(0, |h| h.as_bytes().len());
        if let Some((code, message)) = self.publish_error(&p, size) {
            self.send_err(slot, 0, code, &message);
            return;
        }
        self.stats.msgs_in += 1;
        self.stats.bytes_in += p.payload.len() as u64;
        self.route(Origin::Session(slot), Target::Everyone, &p);
    }

    /// Why a client's PUB (of `size` bytes, headers included) is refused, if it is.
    pub(super) fn publish_error(&self, p: &Pub<'_>, size: usize) -> Option<(ErrorCode, String)> {
        let limits = &self.config.index.limits;
        if let Err(e) = validate_subject(p.subject, limits) {
            return Some((ErrorCode::InvalidSubject, e.to_string()));
        }
        if let Some(reply) = p.reply
            && let Err(e) = validate_subject(reply, limits)
        {
            return Some((ErrorCode::InvalidSubject, format!("reply subject: {e}")));
        }
        if size > self.config.max_payload {
            let message = format!(
                "payload of {size} bytes exceeds the limit of {}",
                self.config.max_payload
            );
            return Some((ErrorCode::PayloadTooLarge, message));
        }
        None
    }
}
