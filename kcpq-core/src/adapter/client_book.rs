//! The bookkeeping of a runtime adapter's client driver, the same in every adapter: each
//! subscription's inbox, the callers waiting for the core's answers ([`Waiters`]), the state of
//! the first connect, and what every core event means for them: an answer to wake, the outcome
//! of `connect`, an [`Event`] to report, or nothing. Generic over the adapter's inbox (`I`) and
//! over how waiting callers are woken (`R`, `F`, `S`, as in [`Waiters`]).

use std::collections::HashMap;

use super::wakes::WakeList;
use super::{ConnectError, Deliver, Event, Routed, SubscribeError, Waiters};
use crate::CloseReason;
use crate::client::{self, Client, ClientEvent, ServerError, SubscribeOptions};
use crate::message::Sid;

/// A subscription's inbox as the client driver sees it.
pub trait SubscriptionInbox: Deliver {
    /// Messages its overflow policy dropped so far.
    fn dropped(&self) -> u64;

    /// Whether it is closed (the handle went away, or the subscription ended).
    fn is_closed(&self) -> bool;
}

/// What one core event means for the adapter.
#[derive(Debug)]
pub enum ClientRouted<R, F, S> {
    /// Wake a waiting request, flush or subscribe (never [`Routed::Other`]).
    Answer(Routed<R, F, S>),
    /// The first session is ready: `connect` returns these names.
    Connected {
        /// The server's name.
        server_name: String,
        /// This client's name as the server knows it.
        client_name: String,
    },
    /// No first session will come: `connect` fails with this.
    ConnectFailed(ConnectError),
    /// Report this to the application.
    Emit(Event),
    /// Nothing left for the adapter to do.
    Nobody,
}

/// A client's subscriptions, waiting callers and first connect.
#[derive(Debug)]
pub struct ClientBook<I, R, F, S> {
    subs: HashMap<Sid, I>,
    /// Subscriptions to wake at the end of the current run of events.
    to_wake: WakeList,
    waiters: Waiters<R, F, S>,
    /// `connect` still waits for the first session.
    connecting: bool,
    /// The last error the server sent before the first session was ready (why it refused).
    refusal: Option<ServerError>,
    /// Why the last attempt at the first session ended before it was ready.
    lost_before_ready: Option<CloseReason>,
    /// Whether the core's API was called since [`ClientBook::take_core_called`].
    core_called: bool,
}

impl<I, R, F, S> Default for ClientBook<I, R, F, S> {
    fn default() -> Self {
        ClientBook {
            subs: HashMap::new(),
            to_wake: WakeList::default(),
            waiters: Waiters::default(),
            connecting: true,
            refusal: None,
            lost_before_ready: None,
            core_called: false,
        }
    }
}

impl<I: SubscriptionInbox, R, F, S> ClientBook<I, R, F, S> {
    /// The requests and flushes waiting for the core (subscribes go through
    /// [`ClientBook::subscribe`]).
    pub fn waiters(&mut self) -> &mut Waiters<R, F, S> {
        &mut self.waiters
    }

    /// The inbox of subscription `sid`, while it lasts.
    pub fn inbox(&self, sid: Sid) -> Option<&I> {
        self.subs.get(&sid)
    }

    /// Subscribes to `filter` with the core `options` (see
    /// [`SubscriptionQueues`](super::SubscriptionQueues)); its messages go to `inbox`, and
    /// `waiter` is answered once the server confirms. A subscription the core refuses gives the
    /// waiter back with the error.
    pub fn subscribe(
        &mut self,
        core: &mut Client,
        filter: &str,
        options: &SubscribeOptions,
        inbox: I,
        waiter: S,
    ) -> Result<Sid, (S, SubscribeError)> {
        match core.subscribe_with(filter, options) {
            Ok(sid) => {
                self.subs.insert(sid, inbox);
                self.waiters.subscribe(sid, waiter);
                Ok(sid)
            }
            Err(client::SubscribeError::Closed) => Err((waiter, SubscribeError::Closed)),
            Err(e) => Err((waiter, SubscribeError::Invalid(e))),
        }
    }

    /// The caller of subscription `sid` was answered (`answered`: it took the answer): a
    /// subscription whose caller or handle is already gone is withdrawn.
    pub fn confirmed(&mut self, core: &mut Client, sid: Sid, answered: bool) {
        if !answered || self.subs.get(&sid).is_some_and(I::is_closed) {
            self.withdraw(core, sid);
        }
    }

    /// Ends subscription `sid` now (`after: None`) or once it has received `after` messages in
    /// total (the core counts and reports [`ClientEvent::Unsubscribed`]). Returns the waiter of
    /// a subscribe not yet confirmed, to be answered [`SubscribeError::Closed`].
    pub fn unsubscribe(&mut self, core: &mut Client, sid: Sid, after: Option<u64>) -> Option<S> {
        self.core_called = true;
        match core.unsubscribe(sid, after) {
            Ok(()) if after.is_some() => None,
            Ok(()) => self.forget(sid),
            Err(e) => {
                log::debug!("unsubscribe {sid}: {e}");
                self.forget(sid)
            }
        }
    }

    /// Drops subscription `sid` on this side: its stream ends after what it holds.
    fn forget(&mut self, sid: Sid) -> Option<S> {
        if let Some(inbox) = self.subs.remove(&sid) {
            inbox.close();
        }
        self.waiters.cancel_subscribe(sid)
    }

    /// Withdraws a subscription nobody reads any more, on both sides.
    fn withdraw(&mut self, core: &mut Client, sid: Sid) {
        self.forget(sid);
        self.core_called = true;
        let _ = core.unsubscribe(sid, None);
    }

    /// Whether routing called the core's API since the last call (then there may be output to
    /// drain again).
    pub fn take_core_called(&mut self) -> bool {
        std::mem::take(&mut self.core_called)
    }

    /// Routes one core event, taken at `received`.
    pub fn route(
        &mut self,
        core: &mut Client,
        event: ClientEvent,
        received: std::time::Instant,
    ) -> ClientRouted<R, F, S> {
        let event = match self.waiters.route(event) {
            Routed::Other(event) => event,
            Routed::Subscribe(waiter, sid, Err(error)) => {
                self.forget(sid);
                return ClientRouted::Answer(Routed::Subscribe(waiter, sid, Err(error)));
            }
            Routed::Nobody => return ClientRouted::Nobody,
            answer => return ClientRouted::Answer(answer),
        };
        match event {
            ClientEvent::Message(message) => {
                let sid = message.sid;
                let Some(inbox) = self.subs.get(&sid) else {
                    return ClientRouted::Nobody;
                };
                let delivered = inbox.deliver(message, received);
                if delivered.is_some() {
                    self.to_wake.note(sid, inbox);
                }
                match delivered {
                    // The handle is gone.
                    None => self.withdraw(core, sid),
                    Some(outcome) if outcome.first_of_burst() => {
                        let dropped = inbox.dropped();
                        return ClientRouted::Emit(Event::SlowConsumer { sid, dropped });
                    }
                    Some(_) => {}
                }
                ClientRouted::Nobody
            }
            ClientEvent::Connected {
                server_name,
                client_name,
            } if std::mem::take(&mut self.connecting) => ClientRouted::Connected {
                server_name,
                client_name,
            },
            ClientEvent::ConnectFailed(error) if std::mem::take(&mut self.connecting) => {
                ClientRouted::ConnectFailed(ConnectError::Handshake(error))
            }
            ClientEvent::Disconnected(reason) if self.connecting => {
                // The core tries again by itself; `connect` fails at `Closed` or its timeout.
                log::debug!("session lost before it was ready: {reason}");
                self.lost_before_ready = Some(reason);
                ClientRouted::Nobody
            }
            ClientEvent::Disconnected(reason) => ClientRouted::Emit(Event::Disconnected(reason)),
            ClientEvent::Reconnected {
                server_name,
                client_name,
            } => ClientRouted::Emit(Event::Reconnected {
                server_name,
                client_name,
            }),
            ClientEvent::Closed if std::mem::take(&mut self.connecting) => {
                let error = match (self.refusal.take(), self.lost_before_ready.take()) {
                    (Some(refusal), _) => ConnectError::Refused(refusal),
                    (None, Some(reason)) => ConnectError::Disconnected(reason),
                    (None, None) => ConnectError::Disconnected(CloseReason::Local),
                };
                ClientRouted::ConnectFailed(error)
            }
            // The adapter reports the end once the driver has finished (`Event::Closed`).
            ClientEvent::Closed => ClientRouted::Nobody,
            // A confirmation nobody waits for any more: its handle may be gone.
            ClientEvent::Subscribed(sid) => {
                self.confirmed(core, sid, true);
                ClientRouted::Nobody
            }
            ClientEvent::SubscribeFailed(sid, error) => match self.subs.remove(&sid) {
                Some(inbox) => {
                    inbox.close();
                    ClientRouted::Emit(Event::SubscriptionFailed { sid, error })
                }
                None => ClientRouted::Nobody,
            },
            // The count of `unsubscribe_after` was reached: the stream ends after what it holds.
            ClientEvent::Unsubscribed(sid) => {
                self.forget(sid);
                ClientRouted::Nobody
            }
            ClientEvent::SlowConsumer { sid } => {
                let dropped = core.stats().dropped_slow_consumer;
                ClientRouted::Emit(Event::SlowConsumer { sid, dropped })
            }
            ClientEvent::ServerError(error) => {
                if self.connecting {
                    self.refusal = Some(error.clone());
                }
                ClientRouted::Emit(Event::ServerError(error))
            }
            other => {
                log::debug!("client event with nothing to do: {other:?}");
                ClientRouted::Nobody
            }
        }
    }

    /// Wakes the readers of the subscriptions that got messages since the last call.
    pub fn wake_readers(&mut self) {
        for sid in self.to_wake.take() {
            if let Some(inbox) = self.subs.get(&sid) {
                inbox.wake();
            }
        }
    }

    /// The client has ended: every stream ends, and the answers for everyone still waiting
    /// (requests: disconnected, flushes and subscribes: closed).
    pub fn finish(&mut self) -> impl Iterator<Item = Routed<R, F, S>> + '_ {
        for (_, inbox) in self.subs.drain() {
            inbox.close();
        }
        self.waiters.close()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::crypto::{Key, KeySet};
    use crate::proto::ErrorCode;
    use crate::queue::PushOutcome;
    use crate::{Instant, Message};

    /// An inbox that only records whether it was closed.
    #[derive(Debug, Default)]
    struct Closing(RefCell<bool>);

    impl Deliver for &Closing {
        fn deliver(&self, _: Message, _: std::time::Instant) -> Option<PushOutcome> {
            None
        }
        fn wake(&self) {}
        fn close(&self) {
            *self.0.borrow_mut() = true;
        }
    }

    impl SubscriptionInbox for &Closing {
        fn dropped(&self) -> u64 {
            0
        }
        fn is_closed(&self) -> bool {
            *self.0.borrow()
        }
    }

    type Book<'a> = ClientBook<&'a Closing, (), (), &'static str>;

    fn client() -> Client {
        let keys = KeySet::single(Key::from_bytes([3; 32]));
        let server = "127.0.0.1:9".parse().expect("an address");
        Client::new(Default::default(), server, &keys, [4; 32], Instant::ZERO)
    }

    #[test]
    fn a_refusal_before_the_first_session_is_why_connect_fails() {
        let mut core = client();
        let mut book = Book::default();
        let refusal = ServerError {
            code: ErrorCode::Protocol,
            message: "full".to_owned(),
        };
        let error = ClientEvent::ServerError(refusal.clone());
        let routed = book.route(&mut core, error, std::time::Instant::now());
        assert!(matches!(routed, ClientRouted::Emit(Event::ServerError(_))));
        let lost = ClientEvent::Disconnected(CloseReason::Silence);
        assert!(matches!(
            book.route(&mut core, lost, std::time::Instant::now()),
            ClientRouted::Nobody
        ));
        match book.route(&mut core, ClientEvent::Closed, std::time::Instant::now()) {
            ClientRouted::ConnectFailed(ConnectError::Refused(error)) => assert_eq!(error, refusal),
            other => panic!("{other:?}"),
        }
        let later = ClientEvent::Disconnected(CloseReason::Silence);
        assert!(matches!(
            book.route(&mut core, later, std::time::Instant::now()),
            ClientRouted::Emit(Event::Disconnected(CloseReason::Silence))
        ));
    }

    #[test]
    fn a_subscription_is_withdrawn_when_its_handle_is_gone_and_ends_at_the_finish() {
        let mut core = client();
        let mut book = Book::default();
        let (gone, kept) = (Closing::default(), Closing::default());
        let options = SubscribeOptions::default();
        let sid = (book.subscribe(&mut core, "a", &options, &gone, "a")).expect("subscribe");
        let other = (book.subscribe(&mut core, "b", &options, &kept, "b")).expect("subscribe");
        (&gone).close();
        book.confirmed(&mut core, sid, true);
        assert!(
            book.take_core_called(),
            "the gone handle's subscription is withdrawn"
        );
        assert!(book.inbox(sid).is_none());
        assert!(!book.take_core_called());
        let answers: Vec<_> = book.finish().collect();
        assert!(matches!(
            answers.as_slice(),
            [Routed::Subscribe("b", s, Err(SubscribeError::Closed))] if *s == other
        ));
        assert!((&kept).is_closed(), "every stream ends at the finish");
    }
}
