//! What the client does with each frame the server sends.

use crate::Instant;
use crate::proto::{DecodeError, ErrFrame, Frame, Info, Msg};
use crate::session::CloseReason;

use super::events::{ClientEvent, FlushId, Message, RequestFailure, RequestId, ServerError};
use super::{Client, Conn, INBOX_SID};

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
            if end.is_some() {
                break;
            }
        }
        if let Some(session) = self.session_mut() {
            session.restore_decoder(decoder);
        }
        if let Some(reason) = end {
            self.finish(reason);
        }
    }

    fn handle_frame(&mut self, now: Instant, frame: Frame<'_>) -> Option<CloseReason> {
        match frame {
            Frame::Info(info) => self.on_info(now, info),
            Frame::Msg(msg) => self.on_msg(msg),
            Frame::Ok { req_id } => {
                if let Some(sid) = self.sub_requests.remove(&req_id)
                    && let Some(sub) = self.subs.get_mut(&sid)
                {
                    sub.pending = None;
                    self.push_event(ClientEvent::Subscribed(sid));
                }
                None
            }
            Frame::Err(err) => self.on_err(err),
            Frame::Pong { req_id } => {
                if self.flushes.remove(&req_id).is_some() {
                    self.push_event(ClientEvent::Flushed(FlushId(req_id)));
                }
                None
            }
            Frame::Ping { req_id } => {
                let _ = self.send(&Frame::Pong { req_id });
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
        self.conn = Conn::Ready(session);
        self.max_payload = info.max_payload as usize;
        let server_interval = std::time::Duration::from_millis(u64::from(info.ping_interval_ms));
        if !server_interval.is_zero() && server_interval < self.config.ping_interval {
            self.config.ping_interval = server_interval;
        }
        self.next_ping = Some(now + self.config.ping_interval);
        self.push_event(ClientEvent::Connected {
            server_name: info.server_name.to_owned(),
            client_name: info.client_name.to_owned(),
        });
        None
    }

    fn on_err(&mut self, err: ErrFrame<'_>) -> Option<CloseReason> {
        let error = ServerError {
            code: err.code,
            message: err.message.to_owned(),
        };
        if let Some(sid) = self.sub_requests.remove(&err.req_id) {
            self.subs.remove(&sid);
            self.push_event(ClientEvent::SubscribeFailed(sid, error));
            return None;
        }
        let before_info = matches!(self.conn, Conn::AwaitInfo(_));
        self.push_event(ClientEvent::ServerError(error));
        before_info.then(|| CloseReason::PeerClosed(err.message.to_owned()))
    }

    fn on_msg(&mut self, msg: Msg<'_>) -> Option<CloseReason> {
        self.stats.msgs_in += 1;
        if msg.sid == INBOX_SID {
            self.on_reply(msg);
            return None;
        }
        let Some(sub) = self.subs.get_mut(&msg.sid) else {
            self.stats.dropped_unknown += 1;
            return None;
        };
        let finished = match &mut sub.remaining {
            Some(n) => {
                *n = n.saturating_sub(1);
                *n == 0
            }
            None => false,
        };
        let full = self.inbound_messages >= self.config.max_inbound_messages
            || self.inbound_bytes + msg.payload.len() > self.config.max_inbound_bytes;
        // A burst of drops is reported once: at its first drop.
        let report = full && !sub.slow;
        sub.slow = full;
        if !full {
            let message = owned(&msg);
            self.push_message(ClientEvent::Message(message), msg.payload.len());
        } else {
            self.stats.dropped_slow_consumer += 1;
            if report {
                self.push_event(ClientEvent::SlowConsumer { sid: msg.sid });
            }
        }
        if finished {
            self.subs.remove(&msg.sid);
        }
        None
    }

    fn push_message(&mut self, event: ClientEvent, bytes: usize) {
        self.inbound_messages += 1;
        self.inbound_bytes += bytes;
        self.events.push_back(event);
    }

    fn on_reply(&mut self, msg: Msg<'_>) {
        let id = msg
            .subject
            .strip_prefix(self.inbox.as_str())
            .and_then(|rest| rest.strip_prefix('.'))
            .and_then(|token| token.parse::<u64>().ok());
        let Some(id) = id.filter(|id| self.requests.remove(id).is_some()) else {
            self.stats.dropped_unknown += 1;
            return;
        };
        if msg.no_responders {
            self.push_event(ClientEvent::RequestFailed(
                RequestId(id),
                RequestFailure::NoResponders,
            ));
        } else {
            let message = owned(&msg);
            self.push_message(
                ClientEvent::Reply(RequestId(id), message),
                msg.payload.len(),
            );
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
