//! Callers waiting for a request's reply, a flush's confirmation or a subscription's OK, keyed
//! by the core's ids, and the routing of the core's events to them. Generic over how a waiting
//! caller is woken: `R`, `F` and `S` are the adapter's answer channels (an async sender, a
//! blocking one).

use std::collections::HashMap;
use std::time::Duration;

use super::{FlushError, RequestError, SubscribeError};
use crate::client::{ClientEvent, FlushId, Sid};
use crate::message::{Message, RequestFailure, RequestId};

/// An answer for a waiting caller, or an event for the adapter to route itself.
#[derive(Debug)]
pub enum Routed<R, F, S> {
    /// Wake the caller of a request with its outcome.
    Request(R, Result<Message, RequestError>),
    /// Wake the caller of a flush with its outcome.
    Flush(F, Result<(), FlushError>),
    /// Wake the caller of a subscribe with the server's answer for `Sid`.
    Subscribe(S, Sid, Result<(), SubscribeError>),
    /// An event that answers no waiter: the adapter handles it.
    Other(ClientEvent),
    /// It answered a caller that no longer waits (or was answered already): nothing to do.
    Nobody,
}

/// The requests, flushes and subscribes of one client that wait for the core's answer.
#[derive(Debug)]
pub struct Waiters<R, F, S> {
    requests: HashMap<RequestId, (Duration, R)>,
    flushes: HashMap<FlushId, (Duration, F)>,
    subscribes: HashMap<Sid, S>,
}

impl<R, F, S> Default for Waiters<R, F, S> {
    fn default() -> Self {
        Waiters {
            requests: HashMap::new(),
            flushes: HashMap::new(),
            subscribes: HashMap::new(),
        }
    }
}

impl<R, F, S> Waiters<R, F, S> {
    /// A request the core accepted as `id`, with its `timeout`, waits for its reply.
    pub fn request(&mut self, id: RequestId, timeout: Duration, waiter: R) {
        self.requests.insert(id, (timeout, waiter));
    }

    /// A flush the core accepted as `id`, with its `timeout`, waits for the server.
    pub fn flush(&mut self, id: FlushId, timeout: Duration, waiter: F) {
        self.flushes.insert(id, (timeout, waiter));
    }

    /// A subscription the core accepted as `sid` waits for the server's OK.
    pub fn subscribe(&mut self, sid: Sid, waiter: S) {
        self.subscribes.insert(sid, waiter);
    }

    /// The subscription `sid` ended before the server answered: its waiter, unanswered.
    pub fn cancel_subscribe(&mut self, sid: Sid) -> Option<S> {
        self.subscribes.remove(&sid)
    }

    /// Routes one core event: the answer of a waiting request, flush or subscribe, or the event
    /// back (a subscription's OK or refusal that nobody waits for is the adapter's to handle).
    pub fn route(&mut self, event: ClientEvent) -> Routed<R, F, S> {
        let routed = match event {
            ClientEvent::Reply(id, message) => {
                (self.requests.remove(&id)).map(|(_, waiter)| Routed::Request(waiter, Ok(message)))
            }
            ClientEvent::RequestFailed(id, failure) => {
                self.requests.remove(&id).map(|(timeout, waiter)| {
                    let error = match failure {
                        RequestFailure::NoResponders => RequestError::NoResponders,
                        RequestFailure::TimedOut => RequestError::TimedOut(timeout),
                        _ => RequestError::Disconnected,
                    };
                    Routed::Request(waiter, Err(error))
                })
            }
            ClientEvent::Flushed(id) => {
                (self.flushes.remove(&id)).map(|(_, waiter)| Routed::Flush(waiter, Ok(())))
            }
            ClientEvent::FlushFailed(id) => (self.flushes.remove(&id))
                .map(|(timeout, waiter)| Routed::Flush(waiter, Err(FlushError::TimedOut(timeout)))),
            ClientEvent::Subscribed(sid) if self.subscribes.contains_key(&sid) => {
                (self.subscribes.remove(&sid)).map(|waiter| Routed::Subscribe(waiter, sid, Ok(())))
            }
            ClientEvent::SubscribeFailed(sid, error) if self.subscribes.contains_key(&sid) => {
                (self.subscribes.remove(&sid)).map(|waiter| {
                    Routed::Subscribe(waiter, sid, Err(SubscribeError::Refused(error)))
                })
            }
            other => return Routed::Other(other),
        };
        routed.unwrap_or(Routed::Nobody)
    }

    /// The client has ended: the answer for everyone still waiting (requests: disconnected,
    /// flushes and subscribes: closed).
    pub fn close(&mut self) -> impl Iterator<Item = Routed<R, F, S>> + '_ {
        let requests = (self.requests.drain())
            .map(|(_, (_, waiter))| Routed::Request(waiter, Err(RequestError::Disconnected)));
        let flushes = (self.flushes.drain())
            .map(|(_, (_, waiter))| Routed::Flush(waiter, Err(FlushError::Closed)));
        let subscribes = (self.subscribes.drain())
            .map(|(sid, waiter)| Routed::Subscribe(waiter, sid, Err(SubscribeError::Closed)));
        requests.chain(flushes).chain(subscribes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_answer_their_waiter_once_and_the_rest_go_back() {
        let mut waiters: Waiters<&str, &str, &str> = Waiters::default();
        waiters.request(RequestId(1), Duration::from_secs(2), "r1");
        waiters.flush(FlushId(1), Duration::from_secs(3), "f1");
        let failed = waiters.route(ClientEvent::RequestFailed(
            RequestId(1),
            RequestFailure::TimedOut,
        ));
        assert!(matches!(
            failed,
            Routed::Request("r1", Err(RequestError::TimedOut(t))) if t == Duration::from_secs(2)
        ));
        let again = waiters.route(ClientEvent::RequestFailed(
            RequestId(1),
            RequestFailure::TimedOut,
        ));
        assert!(matches!(again, Routed::Nobody));
        assert!(matches!(
            waiters.route(ClientEvent::Closed),
            Routed::Other(ClientEvent::Closed)
        ));
        let left: Vec<_> = waiters.close().collect();
        assert!(matches!(
            left.as_slice(),
            [Routed::Flush("f1", Err(FlushError::Closed))]
        ));
    }

    #[test]
    fn a_subscription_answers_its_waiter_and_a_later_refusal_goes_back() {
        let mut waiters: Waiters<(), (), &str> = Waiters::default();
        waiters.subscribe(1, "s1");
        waiters.subscribe(2, "s2");
        assert!(matches!(
            waiters.route(ClientEvent::Subscribed(1)),
            Routed::Subscribe("s1", 1, Ok(()))
        ));
        assert!(matches!(
            waiters.route(ClientEvent::Subscribed(1)),
            Routed::Other(ClientEvent::Subscribed(1))
        ));
        assert_eq!(waiters.cancel_subscribe(2), Some("s2"));
        assert_eq!(waiters.close().count(), 0);
    }
}
