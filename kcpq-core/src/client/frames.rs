//! What the client does with each frame the server sends.

use crate::Instant;
use crate::proto::{DecodeError, ErrFrame, ErrorCode, Frame, Info, Msg, MsgBegin};
use crate::queue::PushOutcome;
use crate::session::CloseReason;

use super::events::{ClientEvent, FlushId, ServerError};
use super::{Client, Conn, INBOX_SID, Pending};
use crate::message::{Message, RequestFailure, RequestId};
use crate::subject::Subject;

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
            Frame::MsgBegin(begin) => self.on_msg_begin(begin),
            Frame::MsgPart { bytes } => self.on_msg_part(bytes),
            Frame::MsgAbort => {
                if self.open_message.take().is_none() {
                    return Some(CloseReason::ProtocolViolation(
                        "server sent MSG_ABORT with no message open".to_owned(),
                    ));
                }
                self.stats.msgs_aborted += 1;
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
        let Conn::AwaitInfo(mut session) = std::mem::replace(&mut self.conn, Conn::Closed) else {
            return Some(CloseReason::ProtocolViolation("a second INFO".to_owned()));
        };
        if info.flags.fec() {
            session.start_fec();
        }
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

    /// MSG_BEGIN: a message whose payload follows in MSG_PART frames (cut-through).
    fn on_msg_begin(&mut self, begin: MsgBegin<'_>) -> Option<CloseReason> {
        if self.open_message.is_some() {
            return Some(CloseReason::ProtocolViolation(
                "server sent MSG_BEGIN while another message was open".to_owned(),
            ));
        }
        let payload_len = begin.payload_len as usize;
        let size = payload_len + begin.headers.map_or(0, |h| h.as_bytes().len());
        if size > self.max_payload {
            return Some(CloseReason::ProtocolViolation(format!(
                "server announced a message of {size} bytes, over its limit of {}",
                self.max_payload
            )));
        }
        let message = Message {
            sid: begin.sid,
            subject: Subject::from(begin.subject),
            reply: begin.reply.map(str::to_owned),
            raw_headers: begin.headers.map(|h| h.as_bytes().to_vec()),
            payload: Vec::with_capacity(payload_len),
        };
        self.open_message = Some(Box::new(OpenMessage {
            message,
            payload_len,
        }));
        if payload_len == 0 {
            self.complete_open_message();
        }
        None
    }

    /// MSG_PART: the open message's next payload bytes; the last completes it.
    fn on_msg_part(&mut self, bytes: &[u8]) -> Option<CloseReason> {
        let Some(open) = self.open_message.as_mut() else {
            return Some(CloseReason::ProtocolViolation(
                "server sent MSG_PART with no message open".to_owned(),
            ));
        };
        let missing = open.payload_len - open.message.payload.len();
        if bytes.len() > missing {
            return Some(CloseReason::ProtocolViolation(format!(
                "server sent {} bytes in MSG_PART where the open message lacks {missing}",
                bytes.len()
            )));
        }
        open.message.payload.extend_from_slice(bytes);
        if bytes.len() == missing {
            self.complete_open_message();
        }
        None
    }

    fn complete_open_message(&mut self) {
        let Some(open) = self.open_message.take() else {
            return;
        };
        let message = open.message;
        let subject = message.subject.clone();
        // The subscription's shared subject replaces the one MSG_BEGIN made, as for a MSG.
        self.on_message(message.sid, &subject, false, move |subject| Message {
            subject,
            ..message
        });
    }

    fn on_msg(&mut self, msg: Msg<'_>) {
        self.on_message(msg.sid, msg.subject, msg.no_responders, |subject| {
            owned(&msg, subject)
        });
    }

    /// Queues a message on its subscription, applying the subscription's bound and policy;
    /// `message` builds the owned message, with the subject to give it, once it is known to be
    /// wanted.
    fn on_message(
        &mut self,
        sid: u32,
        subject: &str,
        no_responders: bool,
        message: impl FnOnce(Subject) -> Message,
    ) {
        self.stats.msgs_in += 1;
        if sid == INBOX_SID {
            self.on_reply(subject, no_responders, message);
            return;
        }
        let Some(sub) = self.subs.get_mut(&sid) else {
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
        let subject = Subject::reuse_or_new(&mut sub.last_subject, subject);
        let outcome = sub.messages.push(message(subject));
        let ended_empty = sub.ended && sub.messages.is_empty();
        self.stats.dropped_slow_consumer += outcome.dropped() as u64;
        // One `Pending::Message` per queued message: a push that evicted older ones (drop-oldest)
        // did not make the queue longer.
        if matches!(outcome, PushOutcome::Queued { evicted: 0, .. }) {
            self.events.push_back(Pending::Message(sid));
        }
        if outcome.first_of_burst() {
            self.push_event(ClientEvent::SlowConsumer { sid });
        }
        if self.subs.get(&sid).is_some_and(|s| s.ended) {
            self.push_event(ClientEvent::Unsubscribed(sid));
        }
        if ended_empty {
            self.subs.remove(&sid);
        }
    }

    fn on_reply(
        &mut self,
        subject: &str,
        no_responders: bool,
        message: impl FnOnce(Subject) -> Message,
    ) {
        let id = subject
            .strip_prefix(self.inbox.as_str())
            .and_then(|rest| rest.strip_prefix('.'))
            .and_then(|token| token.parse::<u64>().ok());
        let Some((id, deadline)) = id.and_then(|id| Some((id, self.requests.remove(&id)?))) else {
            self.stats.dropped_unknown += 1;
            return;
        };
        self.request_deadlines.remove(&(deadline, id));
        if no_responders {
            self.push_event(ClientEvent::RequestFailed(
                RequestId(id),
                RequestFailure::NoResponders,
            ));
        } else {
            self.push_event(ClientEvent::Reply(
                RequestId(id),
                message(Subject::from(subject)),
            ));
        }
    }
}

/// A message arriving cut-through: its head from MSG_BEGIN, its payload so far.
#[derive(Debug)]
pub(super) struct OpenMessage {
    message: Message,
    /// The whole payload's length, from MSG_BEGIN (at most the server's max payload).
    payload_len: usize,
}

fn owned(msg: &Msg<'_>, subject: Subject) -> Message {
    Message {
        sid: msg.sid,
        subject,
        reply: msg.reply.map(str::to_owned),
        raw_headers: msg.headers.map(|h| h.as_bytes().to_vec()),
        payload: msg.payload.to_vec(),
    }
}
