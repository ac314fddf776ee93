//! The client's life: handshake, session, loss of the session, backoff and reconnect with the
//! subscriptions restored, drain, close, and the timers that drive them.

use std::net::SocketAddr;
use std::time::Duration;

use crate::Instant;
use crate::crypto::{
    HandshakeError, HandshakeInitiator, HandshakeOutcome, OpenDrop, PrecomputedTag,
};
use crate::proto::{Close, Connect, ConnectFlags, Frame, PROTOCOL_VERSION, Unsub};
use crate::session::{CloseReason, Received, Session, handle_in_groups};

use super::events::{ClientEvent, DrainError, FlushId};
use super::{Client, Conn, Drain, Sid};
use crate::message::{RequestFailure, RequestId};

impl Client {
    /// Handles one datagram from `from`, decrypted in place.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &mut [u8]) {
        self.handle_datagram_with(now, from, datagram, None);
    }

    /// Handles datagrams that arrived together, in order: the same as
    /// [`Client::handle_datagram`] for each, but the tags of up to four data packets are
    /// computed at once where the CPU has the SHA extensions.
    pub fn handle_datagrams(&mut self, now: Instant, datagrams: &mut [(SocketAddr, &mut [u8])]) {
        // A datagram from elsewhere is dropped before it is opened; its tag is wasted.
        handle_in_groups(
            self,
            datagrams,
            |client, _| match &client.conn {
                Conn::AwaitInfo(s) | Conn::Ready(s) | Conn::Closing(s, _) => Some(&**s),
                _ => None,
            },
            |client, from, datagram, tag| client.handle_datagram_with(now, from, datagram, tag),
        );
    }

    fn handle_datagram_with(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &mut [u8],
        precomputed: Option<&PrecomputedTag>,
    ) {
        if from != self.server {
            self.stats.dropped_foreign += 1;
            return;
        }
        self.stats.wire_bytes_in += datagram.len() as u64;
        match &mut self.conn {
            Conn::Handshake(initiator) => {
                initiator.handle_datagram(now, datagram);
                self.check_handshake(now);
            }
            Conn::AwaitInfo(session) | Conn::Ready(session) | Conn::Closing(session, _) => {
                match session.handle_datagram(now, from, datagram, precomputed) {
                    Received::Accepted => {
                        self.process_frames(now);
                        self.finish_close_if_acknowledged();
                    }
                    Received::Dropped(OpenDrop::NotData)
                        if session.is_stateless_reset(datagram) =>
                    {
                        self.lose_session(now, CloseReason::StatelessReset);
                    }
                    Received::Dropped(_) => self.stats.dropped_unauthenticated += 1,
                }
            }
            Conn::Backoff(_) | Conn::Closed => {}
        }
    }

    fn check_handshake(&mut self, now: Instant) {
        let Conn::Handshake(initiator) = &mut self.conn else {
            return;
        };
        match initiator.poll_outcome() {
            Some(HandshakeOutcome::Established(established)) => {
                let max_frame = crate::proto::max_frame_len(
                    self.max_payload.max(crate::proto::DEFAULT_MAX_PAYLOAD),
                    self.config.subject_limits.max_len,
                );
                let mut session = Session::new(
                    *established,
                    self.config.kcp.clone(),
                    max_frame.max(64 * 1024 * 1024),
                    self.config.dead_after,
                    &self.config.fec,
                    now,
                );
                let req_id = self.take_req_id();
                self.connect_req_id = req_id;
                let mut flags = ConnectFlags(if self.config.no_echo {
                    ConnectFlags::NO_ECHO
                } else {
                    0
                });
                if session.offers_fec() {
                    flags.0 |= ConnectFlags::FEC;
                }
                let connect = Frame::Connect(Connect {
                    req_id,
                    version: PROTOCOL_VERSION,
                    flags,
                    instance: self.instance,
                    name: &self.name,
                    ping_interval_ms: u32::try_from(self.config.ping_interval.as_millis())
                        .unwrap_or(u32::MAX),
                });
                let _ = session.write_frame(&connect);
                self.conn = Conn::AwaitInfo(Box::new(session));
            }
            Some(HandshakeOutcome::Failed(error)) => self.attempt_failed(now, error),
            None => {}
        }
    }

    /// A connection attempt failed: the first one ends the client (unless configured to retry),
    /// later ones are retried after a backoff.
    fn attempt_failed(&mut self, now: Instant, error: HandshakeError) {
        self.stats.failed_attempts += 1;
        if !self.ever_connected && !self.config.retry_initial_connect {
            self.push_event(ClientEvent::ConnectFailed(error));
            self.terminate();
            return;
        }
        log::debug!("kcpq client: connection attempt failed: {error}");
        self.schedule_reconnect(now);
    }

    /// INFO arrived: the session is ready. Restores every subscription (SUBs are sent again only
    /// now), the inbox if requests wait, and reports Connected or Reconnected. Publishes buffered
    /// in the outbox follow in `poll_transmit`.
    pub(super) fn on_ready(
        &mut self,
        now: Instant,
        session: Box<Session>,
        server_name: &str,
        client_name: &str,
    ) {
        self.conn = Conn::Ready(session);
        self.name = client_name.to_owned();
        self.attempts = 0;
        self.next_ping = Some(now + self.config.ping_interval);
        let sids: Vec<Sid> = self
            .subs
            .iter()
            .filter(|(_, sub)| !sub.ended)
            .map(|(sid, _)| *sid)
            .collect();
        for sid in sids {
            self.send_sub(sid);
        }
        if !self.requests.is_empty() {
            self.send_inbox_sub();
        }
        let server_name = server_name.to_owned();
        let client_name = client_name.to_owned();
        if self.ever_connected {
            self.stats.reconnects += 1;
            self.push_event(ClientEvent::Reconnected {
                server_name,
                client_name,
            });
        } else {
            self.ever_connected = true;
            self.push_event(ClientEvent::Connected {
                server_name,
                client_name,
            });
        }
    }

    /// The session (or the attempt to open one) ended for `reason`. A closing client is done;
    /// otherwise what waited on the session fails and the client reconnects.
    pub(super) fn lose_session(&mut self, now: Instant, reason: CloseReason) {
        self.sync_fec_stats();
        if matches!(self.conn, Conn::Closing(..)) {
            // While closing, the server forgetting the session is the goal reached.
            self.push_event(ClientEvent::Disconnected(CloseReason::Local));
            self.terminate();
            return;
        }
        let was_ready = matches!(self.conn, Conn::Ready(_));
        if matches!(reason, CloseReason::PeerClosed(_))
            && let Some(session) = self.session_mut()
        {
            let mut buf = vec![0u8; session.max_datagram()];
            let farewell = session.poll_last_transmit(now, &mut buf).map(|len| {
                buf.truncate(len);
                buf
            });
            self.farewell = farewell;
        }
        self.fail_waiting();
        self.open_message = None;
        self.sub_requests.clear();
        for sub in self.subs.values_mut() {
            sub.pending = None;
        }
        self.inbox_subscribed = false;
        self.next_ping = None;
        self.outbox.retain_publishes();
        if was_ready {
            self.push_event(ClientEvent::Disconnected(reason.clone()));
        }
        let first_attempt = !self.ever_connected && !self.config.retry_initial_connect;
        // Replaced: another instance took this client's name over; reconnecting would take it
        // back and the two would evict each other forever.
        let replaced = reason == CloseReason::Replaced;
        if first_attempt || replaced || !self.config.reconnect.enabled || self.drain.is_some() {
            if !was_ready {
                self.push_event(ClientEvent::Disconnected(reason));
            }
            self.terminate();
            return;
        }
        self.stats.failed_attempts += u64::from(!was_ready);
        self.schedule_reconnect(now);
    }

    /// Fails the requests and flushes that wait on the session.
    fn fail_waiting(&mut self) {
        for (id, _) in std::mem::take(&mut self.requests) {
            self.push_event(ClientEvent::RequestFailed(
                RequestId(id),
                RequestFailure::Disconnected,
            ));
        }
        self.request_deadlines.clear();
        for (id, _) in std::mem::take(&mut self.flushes) {
            self.push_event(ClientEvent::FlushFailed(FlushId(id)));
        }
        self.flush_deadlines.clear();
    }

    /// Waits before the next attempt: equal jitter over an exponential backoff, or gives up.
    fn schedule_reconnect(&mut self, now: Instant) {
        let policy = &self.config.reconnect;
        if policy.max_attempts.is_some_and(|max| self.attempts >= max) {
            log::warn!(
                "kcpq client: giving up after {} reconnect attempts",
                self.attempts
            );
            self.terminate();
            return;
        }
        let shift = self.attempts.min(16);
        let ceiling = policy
            .initial_backoff
            .saturating_mul(1 << shift)
            .min(policy.max_backoff);
        let ceiling_us = u64::try_from(ceiling.as_micros()).unwrap_or(u64::MAX);
        let wait_us = ceiling_us / 2 + self.rng.below(ceiling_us / 2 + 1);
        self.attempts += 1;
        self.conn = Conn::Backoff(now + Duration::from_micros(wait_us));
    }

    fn start_attempt(&mut self, now: Instant) {
        let initiator = HandshakeInitiator::new(
            now,
            self.server,
            &self.keys,
            &mut self.rng,
            self.config.handshake.clone(),
        );
        self.conn = Conn::Handshake(Box::new(initiator));
    }

    /// Ends the client for good.
    fn terminate(&mut self) {
        self.sync_fec_stats();
        self.conn = Conn::Closed;
        self.fail_waiting();
        self.outbox.clear();
        self.next_ping = None;
        self.drain = None;
        for sub in self.subs.values_mut() {
            sub.ended = true;
        }
        self.subs.retain(|_, sub| !sub.messages.is_empty());
        self.push_event(ClientEvent::Closed);
    }

    /// Closes the client: sends CLOSE, waits up to `close_linger` for it to be acknowledged,
    /// then reports [`ClientEvent::Disconnected`] with [`CloseReason::Local`] and
    /// [`ClientEvent::Closed`]. Messages already received stay available from `poll_event`.
    pub fn close(&mut self, now: Instant) {
        self.drain = None;
        match std::mem::replace(&mut self.conn, Conn::Closed) {
            Conn::Ready(mut session) | Conn::AwaitInfo(mut session) => {
                self.outbox.drain_into(&mut session);
                let _ = session.write_frame(&Frame::Close(Close {
                    reason: "client closed",
                }));
                self.fail_waiting();
                self.conn = Conn::Closing(session, now + self.config.close_linger);
            }
            Conn::Closing(session, until) => self.conn = Conn::Closing(session, until),
            Conn::Handshake(_) | Conn::Backoff(_) => self.terminate(),
            Conn::Closed => {}
        }
    }

    /// Drains the client: unsubscribes everything, keeps receiving what the server routed
    /// before it processed the UNSUBs (messages already queued stay available from
    /// `poll_event`), sends what waits in the outbox, then closes. New publishes and
    /// subscriptions are refused from now on. Ends with [`ClientEvent::Closed`], at the latest
    /// after `timeout`.
    pub fn drain(&mut self, now: Instant, timeout: Duration) -> Result<(), DrainError> {
        if matches!(self.conn, Conn::Closed | Conn::Closing(..)) {
            return Err(DrainError::Closed);
        }
        if self.drain.is_some() {
            return Err(DrainError::AlreadyDraining);
        }
        if !self.is_connected() {
            self.close(now);
            return Ok(());
        }
        let sids: Vec<Sid> = self.subs.keys().copied().collect();
        for sid in sids {
            self.send_control(&Frame::Unsub(Unsub { sid, max_msgs: 0 }));
        }
        let ping = self.take_req_id();
        if !self.send(&Frame::Ping { req_id: ping }) {
            self.close(now);
            return Ok(());
        }
        self.drain = Some(Drain {
            ping,
            deadline: now + timeout,
        });
        Ok(())
    }

    /// The PONG of a drain arrived: the server has removed every subscription and everything it
    /// routed to them is in this client's queues.
    pub(super) fn drain_done(&mut self, now: Instant) {
        for sub in self.subs.values_mut() {
            sub.ended = true;
        }
        self.subs.retain(|_, sub| !sub.messages.is_empty());
        self.close(now);
    }

    /// A closing session whose CLOSE (and everything before it) is acknowledged is done at once,
    /// not at the end of its linger time.
    fn finish_close_if_acknowledged(&mut self) {
        if let Conn::Closing(session, _) = &self.conn
            && session.is_flushed()
        {
            self.push_event(ClientEvent::Disconnected(CloseReason::Local));
            self.terminate();
        }
    }

    /// Runs every timer due at `now`. Safe to call at any time.
    pub fn handle_timeout(&mut self, now: Instant) {
        match &mut self.conn {
            Conn::Handshake(initiator) => {
                initiator.handle_timeout(now);
                self.check_handshake(now);
            }
            Conn::AwaitInfo(session) | Conn::Ready(session) => {
                if let Some(reason) = session.handle_timeout(now) {
                    self.lose_session(now, reason);
                }
            }
            Conn::Closing(session, until) => {
                let until = *until;
                let dead = session.handle_timeout(now);
                if dead.is_some() || now >= until || session.is_flushed() {
                    self.push_event(ClientEvent::Disconnected(CloseReason::Local));
                    self.terminate();
                }
            }
            Conn::Backoff(until) => {
                if now >= *until {
                    self.start_attempt(now);
                }
            }
            Conn::Closed => {}
        }
        if let Some(drain) = self.drain
            && now >= drain.deadline
        {
            self.drain_done(now);
        }
        self.expire_requests(now);
        if let Some(at) = self.next_ping
            && now >= at
        {
            let req_id = crate::proto::KEEPALIVE_REQ_ID;
            let _ = self.send(&Frame::Ping { req_id });
            self.next_ping = Some(now + self.config.ping_interval);
        }
    }

    fn expire_requests(&mut self, now: Instant) {
        while let Some(&(at, id)) = self.request_deadlines.first() {
            if at > now {
                break;
            }
            self.request_deadlines.pop_first();
            if self.requests.remove(&id).is_some() {
                self.push_event(ClientEvent::RequestFailed(
                    RequestId(id),
                    RequestFailure::TimedOut,
                ));
            }
        }
        while let Some(&(at, id)) = self.flush_deadlines.first() {
            if at > now {
                break;
            }
            self.flush_deadlines.pop_first();
            if self.flushes.remove(&id).is_some() {
                self.push_event(ClientEvent::FlushFailed(FlushId(id)));
            }
        }
    }
}
