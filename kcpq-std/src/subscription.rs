//! Subscriptions: the per-subscription bounded queue shared with the I/O thread, the blocking
//! receiving handle, and callback subscriptions. A client's subscriptions and the server owner's
//! ([`Server::subscribe`](crate::Server::subscribe)) are the same type; only the I/O thread they
//! ask to unsubscribe differs.
//!
//! A callback subscription runs its callback on a dedicated thread of its own, so a slow
//! callback delays only its own subscription (its queue fills and the policy applies), never the
//! I/O thread or other subscriptions.

use std::sync::Arc;
use std::sync::mpsc::SyncSender;
use std::thread::JoinHandle;
use std::time::Duration;

use kcpq_core::adapter::{
    Event, SlowCallbacks, SubInbox, SubscriptionCommand, UnsubscribeError, WaitError,
};
use kcpq_core::client::Sid;

use crate::Message;
use crate::events::{RecvError, RecvTimeoutError, TryRecvError, recv, try_recv};
use crate::link::{Deadline, Link, Std, deadline_after};

/// The queue of one subscription, filled by the I/O thread and emptied by the application:
/// the core's inbox, its readers woken by a condition variable.
pub(crate) type Inbox = SubInbox<Std>;

/// What a subscription asks of the I/O thread it belongs to, a client's or the server
/// owner's: implemented by their command links.
pub(crate) trait Control: Send + Sync + std::fmt::Debug {
    /// Asks the I/O thread to end `sid` now (`None`) or once it has received `after` messages
    /// in total, waiting for room in the command queue `until` a deadline (one already past:
    /// not at all, best effort, for `Drop`).
    fn unsubscribe(&self, sid: Sid, after: Option<u64>, until: Deadline) -> Result<(), WaitError>;
    /// Hands an event found outside the I/O thread (a slow callback) to the client's event
    /// stream, without waiting; the server owner's subscriptions report none.
    fn try_emit(&self, event: Event);
}

impl<C: SubscriptionCommand + Send + 'static> Control for Link<C> {
    fn unsubscribe(&self, sid: Sid, after: Option<u64>, until: Deadline) -> Result<(), WaitError> {
        self.send(C::unsubscribe(sid, after), until)
    }

    fn try_emit(&self, event: Event) {
        if let Some(command) = C::emit(event) {
            let _ = self.try_send(command);
        }
    }
}

/// A subscription: a blocking stream of the messages matching its filter.
///
/// Messages wait in a bounded queue (see [`QueueLimits`](crate::queue::QueueLimits),
/// [`OverflowPolicy`](crate::queue::OverflowPolicy)); dropping the handle unsubscribes. Iterating blocks for each message and ends when the subscription ends.
#[derive(Debug)]
pub struct Subscription {
    sid: Sid,
    subject: String,
    inbox: Inbox,
    control: Arc<dyn Control>,
    timeout: Duration,
}

/// A subscription of the server's owner: the same type as a client's here, named as kcpq-async
/// names its owner subscriptions.
pub type ServerSubscription = Subscription;

impl Subscription {
    /// Sends the subscribe command `make` builds around `inbox` and the answer's channel over
    /// `link`, and waits for the I/O thread's answer within `timeout`; on a timeout the inbox is
    /// closed, and the I/O thread withdraws the subscription it made meanwhile.
    pub(crate) fn open<C: SubscriptionCommand + Send + 'static, E: From<WaitError>>(
        link: &Link<C>,
        filter: &str,
        inbox: Inbox,
        timeout: Duration,
        make: impl FnOnce(Inbox, SyncSender<Result<Sid, E>>) -> C,
    ) -> Result<Subscription, E> {
        let answer = link.ask(|done| make(Arc::clone(&inbox), done), timeout);
        if answer.is_err() {
            inbox.close();
        }
        let (subject, control) = (filter.to_owned(), Arc::new(link.clone()));
        Ok(Subscription {
            sid: answer??,
            subject,
            inbox,
            control,
            timeout,
        })
    }

    /// The subscription id.
    pub fn sid(&self) -> Sid {
        self.sid
    }

    /// The subject filter.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Waits for the next message; `Err` once the subscription has ended and its queue is empty.
    pub fn recv(&self) -> Result<Message, RecvError> {
        recv(&self.inbox, None).map_err(|_| RecvError)
    }

    /// Waits up to `timeout` for the next message.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Message, RecvTimeoutError> {
        recv(&self.inbox, Some(timeout))
    }

    /// The next message if one is waiting.
    pub fn try_recv(&self) -> Result<Message, TryRecvError> {
        try_recv(&self.inbox)
    }

    /// Messages waiting in the queue.
    pub fn pending(&self) -> usize {
        self.inbox.pending()
    }

    /// Messages dropped by the queue's overflow policy so far.
    pub fn dropped(&self) -> u64 {
        self.inbox.dropped()
    }

    /// Ends the subscription once it has received `count` messages in total since it started
    /// (at least one), as NATS's auto-unsubscribe: at once, keeping what is queued, if it already
    /// has; otherwise the server is told how many are left and the queue ends after the last.
    pub fn unsubscribe_after(&self, count: u64) -> Result<(), UnsubscribeError> {
        let (after, deadline) = (Some(count.max(1)), deadline_after(self.timeout));
        Ok(self.control.unsubscribe(self.sid, after, deadline)?)
    }

    /// Ends the subscription now. Messages already queued are discarded.
    pub fn unsubscribe(self) -> Result<(), UnsubscribeError> {
        self.inbox.close();
        let deadline = deadline_after(self.timeout);
        Ok(self.control.unsubscribe(self.sid, None, deadline)?)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if !self.inbox.is_closed() {
            self.inbox.close();
            // Best effort, without waiting; if the queue is full, the I/O thread unsubscribes
            // when the next message for this closed inbox arrives.
            let now = deadline_after(Duration::ZERO);
            let _ = self.control.unsubscribe(self.sid, None, now);
        }
    }
}

impl Iterator for Subscription {
    type Item = Message;

    /// Blocks for the next message; ends when the subscription ends.
    fn next(&mut self) -> Option<Message> {
        self.recv().ok()
    }
}

/// A subscription whose messages are handed to a callback on a dedicated thread.
/// Dropping the handle unsubscribes without waiting for the thread.
#[derive(Debug)]
pub struct CallbackSubscription {
    subscription: Subscription,
    slow: Arc<SlowCallbacks>,
    thread: JoinHandle<()>,
}

impl CallbackSubscription {
    /// Starts the thread that calls `callback` for each message of `subscription`; a thread
    /// that cannot start is an ended subscription (`E::from(WaitError::Closed)`).
    pub(crate) fn spawn<E: From<WaitError>>(
        subscription: Subscription,
        slow_callback: Duration,
        mut callback: impl FnMut(Message) + Send + 'static,
    ) -> Result<CallbackSubscription, E> {
        let slow = Arc::new(SlowCallbacks::new(subscription.sid, slow_callback));
        let (reader, record) = (Arc::clone(&subscription.inbox), Arc::clone(&slow));
        let control = Arc::clone(&subscription.control);
        let thread = std::thread::Builder::new()
            .name(format!("kcpq-sub-{}", subscription.sid))
            .spawn(move || {
                while let Ok(message) = recv(&reader, None) {
                    if let Some(event) = record.time(|| callback(message)) {
                        control.try_emit(event);
                    }
                }
            });
        let thread = thread.map_err(|_| WaitError::Closed)?;
        Ok(CallbackSubscription {
            subscription,
            slow,
            thread,
        })
    }

    /// Calls of the callback that ran longer than the client's `slow_callback` threshold (a
    /// client's subscription also reports each as
    /// [`crate::Event::SlowCallback`]).
    pub fn slow_callbacks(&self) -> u64 {
        self.slow.count()
    }

    /// The subscription id.
    pub fn sid(&self) -> Sid {
        self.subscription.sid
    }

    /// The subject filter.
    pub fn subject(&self) -> &str {
        &self.subscription.subject
    }

    /// Messages waiting for the callback.
    pub fn pending(&self) -> usize {
        self.subscription.pending()
    }

    /// Messages dropped by the queue's overflow policy so far.
    pub fn dropped(&self) -> u64 {
        self.subscription.dropped()
    }

    /// Ends the subscription once it has received `count` messages in total since it started
    /// (see [`Subscription::unsubscribe_after`]).
    pub fn unsubscribe_after(&self, count: u64) -> Result<(), UnsubscribeError> {
        self.subscription.unsubscribe_after(count)
    }

    /// Ends the subscription now and waits until the callback has returned for the last time
    /// (unless called from the callback itself, which cannot wait for itself).
    pub fn unsubscribe(self) -> Result<(), UnsubscribeError> {
        let result = self.subscription.unsubscribe();
        if self.thread.thread().id() != std::thread::current().id() {
            let _ = self.thread.join();
        }
        result
    }
}
