//! The bookkeeping of an embedded server's owner (publish, subscribe and request on the broker
//! itself), the same in every adapter: its subscriptions' inboxes with their optional
//! auto-unsubscribe count, its requests waiting for a reply keyed by the core's ids, and the
//! routing of the core's events to them. Generic over the adapter's inbox (`I`, filled through
//! [`Deliver`]) and over how a waiting requester is woken (`R`, an answer channel).

use std::collections::HashMap;
use std::time::Duration;

use super::wakes::WakeList;
use super::{ServerPublishError, ServerRequestError, ServerSubscribeError};
use crate::Instant;
use crate::message::{Message, RequestId, Sid};
use crate::queue::PushOutcome;
use crate::server::{Server, ServerEvent};

/// An owner subscription's inbox, as the adapter keeps it.
pub trait Deliver {
    /// Queues `message`, which the driver took from the network at `received`, under the
    /// inbox's bound and policy, without waking the reader yet (see [`Deliver::wake`]); `None`
    /// once the inbox is closed (the handle went away).
    fn deliver(&self, message: Message, received: std::time::Instant) -> Option<PushOutcome>;

    /// Wakes the reader if messages were delivered since it was last woken (the driver calls it
    /// once per inbox at the end of a run of events).
    fn wake(&self);

    /// Ends the stream: the reader gets what is queued, then the end.
    fn close(&self);
}

/// What one core event means for the owner.
#[derive(Debug)]
pub enum OwnerRouted<R> {
    /// Wake the owner's request with its reply or failure.
    Reply(R, Result<Message, ServerRequestError>),
    /// The queue of the owner's subscription `Sid` started dropping messages (once per burst).
    SlowConsumer(Sid),
    /// An event that is not the owner's: the adapter reports it.
    Other(ServerEvent),
    /// Handled (a message queued, an answer nobody waits for any more).
    Nobody,
}

/// One of the owner's subscriptions.
#[derive(Debug)]
struct OwnerSub<I> {
    inbox: I,
    /// Messages left before it ends by itself (`unsubscribe_after`).
    remaining: Option<u64>,
}

/// The owner's subscriptions and requests of one embedded server.
#[derive(Debug)]
pub struct OwnerBook<I, R> {
    subs: HashMap<Sid, OwnerSub<I>>,
    requests: HashMap<RequestId, (Duration, R)>,
    /// Subscriptions to wake at the end of the current run of events.
    to_wake: WakeList,
}

impl<I, R> Default for OwnerBook<I, R> {
    fn default() -> Self {
        OwnerBook {
            subs: HashMap::new(),
            requests: HashMap::new(),
            to_wake: WakeList::default(),
        }
    }
}

impl<I: Deliver, R> OwnerBook<I, R> {
    /// Publishes to every matching subscription, or to those of the client named `to`.
    pub fn publish(
        core: &mut Server,
        to: Option<&str>,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&[u8]>,
        payload: &[u8],
    ) -> Result<(), ServerPublishError> {
        let result = match to {
            Some(name) => core.publish_to(name, subject, reply, headers, payload),
            None => core.publish(subject, reply, headers, payload),
        };
        Ok(result?)
    }

    /// Sends a request (to everyone, or to the client named `to`); `waiter` is answered when its
    /// reply or failure comes. A request the core refuses gives the waiter back with the error.
    #[allow(clippy::too_many_arguments)]
    pub fn request(
        &mut self,
        core: &mut Server,
        now: Instant,
        to: Option<&str>,
        subject: &str,
        headers: Option<&[u8]>,
        payload: &[u8],
        timeout: Duration,
        waiter: R,
    ) -> Result<(), (R, ServerRequestError)> {
        match core.request(now, to, subject, headers, payload, timeout) {
            Ok(id) => {
                self.requests.insert(id, (timeout, waiter));
                Ok(())
            }
            Err(e) => Err((waiter, e.into())),
        }
    }

    /// Subscribes the owner to `filter` (in queue group `queue`); its messages go to `inbox`.
    pub fn subscribe(
        &mut self,
        core: &mut Server,
        filter: &str,
        queue: Option<&str>,
        inbox: I,
    ) -> Result<Sid, ServerSubscribeError> {
        let sid = core.subscribe(filter, queue)?;
        self.subs.insert(
            sid,
            OwnerSub {
                inbox,
                remaining: None,
            },
        );
        Ok(sid)
    }

    /// Ends subscription `sid` now (`after: None`) or once it has received `after` more
    /// messages; its stream ends after what it holds.
    pub fn unsubscribe(&mut self, core: &mut Server, sid: Sid, after: Option<u64>) {
        match (after, self.subs.get_mut(&sid)) {
            (Some(n), Some(sub)) if n > 0 => sub.remaining = Some(n),
            _ => self.withdraw(core, sid),
        }
    }

    /// Ends an owner subscription on both sides.
    fn withdraw(&mut self, core: &mut Server, sid: Sid) {
        if let Some(sub) = self.subs.remove(&sid) {
            sub.inbox.close();
            let _ = core.unsubscribe(sid);
        }
    }

    /// Routes one core event, taken at `received`: the owner's messages to their inboxes,
    /// replies to the waiting requests, the rest back to the adapter.
    pub fn route(
        &mut self,
        core: &mut Server,
        event: ServerEvent,
        received: std::time::Instant,
    ) -> OwnerRouted<R> {
        match event {
            ServerEvent::Message(message) => self.deliver(core, message, received),
            ServerEvent::Reply(id, message) => match self.requests.remove(&id) {
                Some((_, waiter)) => OwnerRouted::Reply(waiter, Ok(message)),
                None => OwnerRouted::Nobody,
            },
            ServerEvent::RequestFailed(id, failure) => match self.requests.remove(&id) {
                Some((timeout, waiter)) => {
                    let error = ServerRequestError::from_failure(failure, timeout);
                    OwnerRouted::Reply(waiter, Err(error))
                }
                None => OwnerRouted::Nobody,
            },
            other => OwnerRouted::Other(other),
        }
    }

    /// Queues a message for its owner subscription, counting down an auto-unsubscribe.
    fn deliver(
        &mut self,
        core: &mut Server,
        message: Message,
        received: std::time::Instant,
    ) -> OwnerRouted<R> {
        let sid = message.sid;
        let Some(sub) = self.subs.get_mut(&sid) else {
            return OwnerRouted::Nobody;
        };
        let Some(outcome) = sub.inbox.deliver(message, received) else {
            // The handle is gone.
            self.withdraw(core, sid);
            return OwnerRouted::Nobody;
        };
        self.to_wake.note(sid, &sub.inbox);
        if let Some(n) = &mut sub.remaining {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.withdraw(core, sid);
            }
        }
        match outcome.first_of_burst() {
            true => OwnerRouted::SlowConsumer(sid),
            false => OwnerRouted::Nobody,
        }
    }

    /// Wakes the readers of the subscriptions that got messages since the last call.
    pub fn wake_readers(&mut self) {
        for sid in self.to_wake.take() {
            if let Some(sub) = self.subs.get(&sid) {
                sub.inbox.wake();
            }
        }
    }

    /// The server has stopped: every owner stream ends, and the requests still waiting are
    /// returned, to be answered [`ServerRequestError::Stopped`].
    pub fn finish(&mut self) -> impl Iterator<Item = R> + '_ {
        for (_, sub) in self.subs.drain() {
            sub.inbox.close();
        }
        self.requests.drain().map(|(_, (_, waiter))| waiter)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::crypto::{Key, KeySet};
    use crate::queue::{BoundedQueue, OverflowPolicy, QueueLimits};
    use crate::server::ServerConfig;

    /// An inbox of at most two messages that records whether it was closed.
    #[derive(Debug)]
    struct Recorder(RefCell<(BoundedQueue<Message>, bool)>);

    impl Deliver for &Recorder {
        fn deliver(&self, message: Message, _: std::time::Instant) -> Option<PushOutcome> {
            let mut state = self.0.borrow_mut();
            (!state.1).then(|| state.0.push(message))
        }
        fn wake(&self) {}
        fn close(&self) {
            self.0.borrow_mut().1 = true;
        }
    }

    fn recorder() -> Recorder {
        let limits = QueueLimits {
            max_messages: 2,
            max_bytes: 1 << 20,
        };
        Recorder(RefCell::new((
            BoundedQueue::new(limits, OverflowPolicy::DropNewest),
            false,
        )))
    }

    fn server() -> Server {
        let keys = KeySet::single(Key::from_bytes([1; 32]));
        Server::new(ServerConfig::default(), &keys, [2; 32], Instant::ZERO).expect("a server")
    }

    /// Publishes on `subject` and routes every event the core reports.
    fn publish_and_route(
        book: &mut OwnerBook<&Recorder, u8>,
        core: &mut Server,
        subject: &str,
    ) -> Vec<OwnerRouted<u8>> {
        OwnerBook::<&Recorder, u8>::publish(core, None, subject, None, None, b"x")
            .expect("publish");
        route_all(book, core)
    }

    /// Routes every event the core reports; what is left for the adapter to do.
    fn route_all(book: &mut OwnerBook<&Recorder, u8>, core: &mut Server) -> Vec<OwnerRouted<u8>> {
        let mut routed = Vec::new();
        while let Some(event) = core.poll_event() {
            match book.route(core, event, std::time::Instant::now()) {
                OwnerRouted::Nobody => {}
                other => routed.push(other),
            }
        }
        routed
    }

    #[test]
    fn messages_fill_the_inbox_report_the_overflow_and_end_after_the_count() {
        let mut core = server();
        let inbox = recorder();
        let mut book: OwnerBook<&Recorder, u8> = OwnerBook::default();
        let sid = book
            .subscribe(&mut core, "a.>", None, &inbox)
            .expect("subscribe");
        assert!(publish_and_route(&mut book, &mut core, "a.1").is_empty());
        assert!(publish_and_route(&mut book, &mut core, "a.2").is_empty());
        let routed = publish_and_route(&mut book, &mut core, "a.3");
        assert!(matches!(routed.as_slice(), [OwnerRouted::SlowConsumer(s)] if *s == sid));
        book.unsubscribe(&mut core, sid, Some(1));
        assert!(!inbox.0.borrow().1, "one message left before the end");
        publish_and_route(&mut book, &mut core, "a.4");
        assert!(inbox.0.borrow().1, "closed after the last counted message");
        assert!(publish_and_route(&mut book, &mut core, "a.5").is_empty());
        assert_eq!(inbox.0.borrow().0.len(), 2, "nothing after the end");
    }

    #[test]
    fn a_request_without_responders_answers_its_waiter_and_stop_returns_the_rest() {
        let mut core = server();
        let mut book: OwnerBook<&Recorder, u8> = OwnerBook::default();
        let timeout = Duration::from_secs(1);
        book.request(
            &mut core,
            Instant::ZERO,
            None,
            "nobody",
            None,
            b"?",
            timeout,
            7,
        )
        .expect("sent");
        let routed = route_all(&mut book, &mut core);
        assert!(matches!(
            routed.as_slice(),
            [OwnerRouted::Reply(7, Err(ServerRequestError::NoResponders))]
        ));
        let inbox = recorder();
        book.subscribe(&mut core, "svc", None, &inbox)
            .expect("subscribe");
        book.request(
            &mut core,
            Instant::ZERO,
            None,
            "svc",
            None,
            b"?",
            timeout,
            8,
        )
        .expect("sent");
        assert_eq!(book.finish().collect::<Vec<_>>(), vec![8]);
        assert!(inbox.0.borrow().1, "every stream ends at the stop");
    }
}
