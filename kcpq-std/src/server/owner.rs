//! The server's owner as a participant: publish to everyone or to one client by name, subscribe,
//! and send requests, through the [`Server`] handle.
//!
//! Each call waits for worker 0's I/O thread to apply it to its core (not for the network), so
//! an error from the core comes back from the call itself, and a publish that returned `Ok` has
//! been routed: it is in the queue of every matching subscriber of worker 0, and on its way to
//! the other workers (if any), whose subscribers it reaches in order. The owner's subscribe
//! returns once every worker knows the subscription.

use std::time::Duration;

use kcpq_core::adapter::{DEFAULT_SLOW_CALLBACK, REPLY_MARGIN, SubscriptionQueues, owner_headers};
use kcpq_core::adapter::{ServerPublishError, ServerRequestError, ServerSubscribeError};
use kcpq_core::client::SubscribeOptions;

use super::{Command, QUERY_TIMEOUT, Server};
use crate::Message;
use crate::link::{Std, deadline_after};
use crate::subscription::{CallbackSubscription, Subscription};

impl Server {
    /// Publishes `payload` on `subject` to every matching subscription, as a client would. An
    /// owned `Vec<u8>` is handed to the I/O thread without a copy; a slice is copied once.
    pub fn publish(
        &self,
        subject: &str,
        payload: impl Into<Vec<u8>>,
    ) -> Result<(), ServerPublishError> {
        self.publish_with_headers(None, subject, None, &[], payload)
    }

    /// Publishes only to the matching subscriptions of the client named `client`
    /// ([`ServerPublishError::Refused`] with `UnknownClient` if none is connected).
    pub fn publish_to(
        &self,
        client: &str,
        subject: &str,
        payload: impl Into<Vec<u8>>,
    ) -> Result<(), ServerPublishError> {
        self.publish_with_headers(Some(client), subject, None, &[], payload)
    }

    /// Publishes with a reply subject (to everyone, or to one client by name).
    pub fn publish_with_reply(
        &self,
        client: Option<&str>,
        subject: &str,
        reply: &str,
        payload: impl Into<Vec<u8>>,
    ) -> Result<(), ServerPublishError> {
        self.publish_with_headers(client, subject, Some(reply), &[], payload)
    }

    /// Publishes with headers (name, value pairs) and an optional reply subject, to everyone
    /// or to one client by name.
    pub fn publish_with_headers(
        &self,
        client: Option<&str>,
        subject: &str,
        reply: Option<&str>,
        headers: &[(&str, &str)],
        payload: impl Into<Vec<u8>>,
    ) -> Result<(), ServerPublishError> {
        let headers = owner_headers(headers)?;
        let payload = payload.into();
        let make = |done| Command::publish(client, subject, reply, headers, payload, done);
        self.link.ask(make, QUERY_TIMEOUT)?
    }

    /// Subscribes the owner to `filter` (`*` matches one token, `>` the rest). The queue holds
    /// at most the default [`QueueLimits`](crate::queue::QueueLimits) and drops the newest message when full.
    pub fn subscribe(&self, filter: &str) -> Result<Subscription, ServerSubscribeError> {
        self.subscribe_with(filter, SubscribeOptions::default())
    }

    /// Subscribes the owner as a member of queue group `queue`, shared with clients: each
    /// message goes to one member.
    pub fn queue_subscribe(
        &self,
        filter: &str,
        queue: &str,
    ) -> Result<Subscription, ServerSubscribeError> {
        self.subscribe_with(filter, SubscribeOptions::queue_group(queue))
    }

    /// Subscribes the owner with options: queue group, the bound and overflow policy of the
    /// subscription's queue (the defaults where unset).
    pub fn subscribe_with(
        &self,
        filter: &str,
        options: SubscribeOptions,
    ) -> Result<Subscription, ServerSubscribeError> {
        let queues = SubscriptionQueues::owner(options);
        let (inbox, group) = (queues.inbox::<Std>(), queues.core.queue_group);
        let make = |inbox, done| Command::subscribe(filter, group, inbox, done);
        Subscription::open(&self.link, filter, inbox, QUERY_TIMEOUT, make)
    }

    /// Subscribes the owner and calls `callback` for every message, on a dedicated thread.
    pub fn subscribe_callback(
        &self,
        filter: &str,
        callback: impl FnMut(Message) + Send + 'static,
    ) -> Result<CallbackSubscription, ServerSubscribeError> {
        self.subscribe_callback_with(filter, SubscribeOptions::default(), callback)
    }

    /// [`Server::subscribe_callback`] with options, as [`Server::subscribe_with`] takes them.
    pub fn subscribe_callback_with(
        &self,
        filter: &str,
        options: SubscribeOptions,
        callback: impl FnMut(Message) + Send + 'static,
    ) -> Result<CallbackSubscription, ServerSubscribeError> {
        let subscription = self.subscribe_with(filter, options)?;
        CallbackSubscription::spawn(subscription, DEFAULT_SLOW_CALLBACK, callback)
    }

    /// Sends a request to everyone on `subject` and waits up to `timeout` for the first reply.
    pub fn request(
        &self,
        subject: &str,
        payload: impl Into<Vec<u8>>,
        timeout: Duration,
    ) -> Result<Message, ServerRequestError> {
        self.request_with_headers(None, subject, &[], payload, timeout)
    }

    /// Sends a request only to the matching subscriptions of the client named `client` and waits
    /// up to `timeout` for its reply.
    pub fn request_to(
        &self,
        client: &str,
        subject: &str,
        payload: impl Into<Vec<u8>>,
        timeout: Duration,
    ) -> Result<Message, ServerRequestError> {
        self.request_with_headers(Some(client), subject, &[], payload, timeout)
    }

    /// Sends a request with headers, to everyone (`client: None`) or to one client by name, and
    /// waits up to `timeout` for the first reply.
    pub fn request_with_headers(
        &self,
        client: Option<&str>,
        subject: &str,
        headers: &[(&str, &str)],
        payload: impl Into<Vec<u8>>,
        timeout: Duration,
    ) -> Result<Message, ServerRequestError> {
        let headers = owner_headers(headers)?;
        let payload = payload.into();
        let make = |done| Command::request(client, subject, headers, payload, timeout, done);
        // The core times the request out itself; the margin covers a busy I/O thread.
        (self.link).call(make, deadline_after(timeout), REPLY_MARGIN)?
    }
}
