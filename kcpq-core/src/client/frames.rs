//! What the client does with each frame the server sends.

use crate::Instant;
use crate::proto::{DecodeError, ErrFrame, ErrorCode, Frame, Info, Msg};
use crate::queue::PushOutcome;
use crate::session::CloseReason;

use super::events::{ClientEvent, FlushId, ServerError};
use super::{Client, Conn, INBOX_SID, Pending};
use crate::message::{Message, RequestFailure, RequestId};

impl Client {
    /// Decodes and handles every complete frame the session has received.
    pub(super) fn process_frames(&mut self, now: Instant) {
        let Some(session) = self.session_mut() else {
            return;
        };
        let mut decoder = session.take_decoder();
        let mut end = None;
        while let Some(result) = decoder.next_frame() {
            end = match result {
                Ok(frame) => self.handle_frame(now, frame),
                Err(DecodeError::Oversize { len, max }) => Some(CloseReason::ProtocolViolation(
                    format!("server sent a frame of {len} bytes, over the limit of {max}"),
                )),
                Err(e) => Some(CloseReason::ProtocolViolation(e.to_string())),
            };
            if end.is_some() || self.session().is_none() {
                break;
            }
        }
        if let Some(session) = self.session_mut() {
            session.restore_decoder(decoder);
        }
        if let Some(reason) = end {
            self.lose_session(now, reason);
        }
    }

    fn handle_frame(&mut self, now: Instant, frame: Frame<'_>) -> Option<CloseReason> {
        match frame {
            Frame::Info(info) => self.on_info(now, info),
            Frame::Msg(msg) => {
                self.on_msg(msg);
                None
            }
            Frame::Ok { req_id } => {
                if let Some(sid) = self.sub_requests.remove(&req_id)
                    && let Some(sub) = self.subs.get_mut(&sid)
                {
                    sub.pending = None;
                    if !sub.confirmed {
                        sub.confirmed = true;
                        self.push_event(ClientEvent::Subscribed(sid));
                    }
                }
                None
            }
            Frame::Err(err) => self.on_err(err),
            Frame::Pong { req_id } => {
                if self.drain.is_some_and(|d| d.ping == req_id) {
                    self.drain_done(now);
                } else if self.flushes.remove(&req_id).is_some() {
                    self.push_event(ClientEvent::Flushed(FlushId(req_id)));
                }
                None
            }
            Frame::Ping { req_id } => {
                self.send_control(&Frame::Pong { req_id });
                None
            }
            Frame::Close(close) => Some(CloseReason::PeerClosed(close.reason.to_owned())),
            other => Some(CloseReason::ProtocolViolation(format!(
                "server sent {:?}",
                other.frame_type()
            ))),
        }
    }

    fn on_info(&mut self, now: Instant, info: Info<'_>) -> Option<CloseReason> {
        if info.req_id != self.connect_req_id {
            return None;
        }
        let Conn::AwaitInfo(session) = std::mem::replace(&mut self.conn, Conn::Closed) else {
            return Some(CloseReason::ProtocolViolation("a second INFO".to_owned()));
        };
        self.max_payload = info.max_payload as usize;
        let server_interval = std::time::Duration::from_millis(u64::from(info.ping_interval_ms));
        if !server_interval.is_zero() && server_interval < self.config.ping_interval {
            self.config.ping_interval = server_interval;
        }
        self.on_ready(now, session, info.server_name, info.client_name);
        None
    }

    fn on_err(&mut self, err: ErrFrame<'_>) -> Option<CloseReason> {
        let error = ServerError {
            code: err.code,
            message: err.message.to_owned(),
        };
        if let Some(sid) = self.sub_requests.remove(&err.req_id) {
            self.remove_sub(sid);
            self.push_event(ClientEvent::SubscribeFailed(sid, error));
            return None;
        }
        let before_info = matches!(self.conn, Conn::AwaitInfo(_));
        let replaced = err.code == ErrorCode::Replaced;
        self.push_event(ClientEvent::ServerError(error));
        if replaced {
            return Some(CloseReason::Replaced);
        }
        before_info.then(|| CloseReason::PeerClosed(err.message.to_owned()))
    }

    /// Queues a message on its subscription, applying the subscription's bound and policy.
    fn on_msg(&mut self, msg: Msg<'_>) {
        self.stats.msgs_in += 1;
        if msg.sid == INBOX_SID {
            self.on_reply(msg);
            return;
        }
        let Some(sub) = self.subs.get_mut(&msg.sid) else {
            self.stats.dropped_unknown += 1;
            return;
        };
        if sub.ended {
            self.stats.dropped_unknown += 1;
            return;
        }
        sub.received += 1;
        if let Some(n) = &mut sub.remaining {
            *n = n.saturating_sub(1);
            sub.ended = *n == 0;
        }
        let outcome = sub.messages.push(owned(&msg));
        let ended_empty = sub.ended && sub.messages.is_empty();
        self.stats.dropped_slow_consumer += outcome.dropped() as u64;
        // One `Pending::Message` per queued message: a push that evicted older ones (drop-oldest)
        // did not make the queue longer.
        if matches!(outcome, PushOutcome::Queued { evicted: 0, .. }) {
            self.events.push_back(Pending::Message(msg.sid));
        }
        if outcome.first_of_burst() {
            self.push_event(ClientEvent::SlowConsumer { sid: msg.sid });
        }
        if self.subs.get(&msg.sid).is_some_and(|s| s.ended) {
            self.push_event(ClientEvent::Unsubscribed(msg.sid));
        }
        if ended_empty {
            self.subs.remove(&msg.sid);
        }
    }

    fn on_reply(&mut self, msg: Msg<'_>) {
        let id = msg
            .subject
            .strip_prefix(self.inbox.as_str())
            .and_then(|rest| rest.strip_prefix('.'))
            .and_then(|token| token.parse::<u64>().ok());
        let Some((id, deadline)) = id.and_then(|id| Some((id, self.requests.remove(&id)?))) else {
            self.stats.dropped_unknown += 1;
            return;
        };
        self.request_deadlines.remove(&(deadline, id));
        if msg.no_responders {
            self.push_event(ClientEvent::RequestFailed(
                RequestId(id),
                RequestFailure::NoResponders,
            ));
        } else {
            self.push_event(ClientEvent::Reply(RequestId(id), owned(&msg)));
        }
    }
}

fn owned(msg: &Msg<'_>) -> Message {
    Message {
        sid: msg.sid,
        subject: msg.subject.to_owned(),
        reply: msg.reply.map(str::to_owned),
        raw_headers: msg.headers.map(|h| h.as_bytes().to_vec()),
        payload: msg.payload.to_vec(),
    }
}
