//! The server's owner as a participant: publish, subscribe and request through the
//! [`Server`] itself, to everyone on a subject or to one client by its name.
//!
//! The owner's subscriptions live in the same index as the clients', under a reserved session
//! slot; messages for them and replies to the owner's requests arrive as [`ServerEvent`]s.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::Instant;
use crate::message::{Message, RequestFailure, RequestId};
use crate::proto::{HeaderError, Headers, Msg, Pub};
use crate::subject::{
    InsertError, Subject, SubjectError, validate_filter, validate_queue_group, validate_subject,
};

use super::routing::{Origin, Target};
use super::{LOCAL_SLOT, Server, ServerEvent, sub_key};

/// The subscription id of the owner's inbox (replies to its requests).
pub(super) const OWNER_INBOX_SID: u32 = u32::MAX;

/// The owner's subscriptions and requests.
#[derive(Debug, Default)]
pub(super) struct Owner {
    subs: BTreeMap<u32, (String, Option<String>)>,
    next_sid: u32,
    inbox: String,
    inbox_subscribed: bool,
    requests: BTreeMap<u64, Instant>,
    deadlines: BTreeSet<(Instant, u64)>,
    next_request: u64,
}

impl Owner {
    pub(super) fn new(inbox: String) -> Self {
        Owner {
            next_sid: 1,
            next_request: 1,
            inbox,
            ..Owner::default()
        }
    }

    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|(at, _)| *at)
    }
}

/// Why an owner's `publish`, `publish_to` or `request` refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServerPublishError {
    /// The subject or reply subject is invalid.
    #[error(transparent)]
    InvalidSubject(#[from] SubjectError),
    /// A header name or value is invalid.
    #[error(transparent)]
    InvalidHeaders(#[from] HeaderError),
    /// Payload and headers exceed `max_payload`.
    #[error("payload of {size} bytes exceeds the server's limit of {max} bytes")]
    PayloadTooLarge {
        /// Payload plus headers.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// No connected client has this name.
    #[error("no client named {0:?} is connected")]
    UnknownClient(String),
    /// Too many of the owner's requests are outstanding.
    #[error("{max} requests are already outstanding; raise max_requests or wait")]
    TooManyRequests {
        /// The bound.
        max: usize,
    },
    /// The server is draining or shutting down.
    #[error("the server is shutting down")]
    ShuttingDown,
}

/// Why an owner's `subscribe` or `unsubscribe` refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServerSubscribeError {
    /// The filter or queue group is invalid.
    #[error(transparent)]
    InvalidSubject(#[from] SubjectError),
    /// The subscription index is full (`index.max_subscriptions`).
    #[error("the server's subscription index is full")]
    IndexFull,
    /// No owner subscription has this id.
    #[error("no owner subscription with id {0}")]
    UnknownSubscription(u32),
}

impl Server {
    /// Publishes to every subscription matching `subject`, as a client would.
    pub fn publish(
        &mut self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&[u8]>,
        payload: &[u8],
    ) -> Result<(), ServerPublishError> {
        self.owner_publish(&Target::Everyone, subject, reply, headers, payload, false)
            .map(|_| ())
    }

    /// Publishes only to the matching subscriptions of the client named `client`.
    pub fn publish_to(
        &mut self,
        client: &str,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&[u8]>,
        payload: &[u8],
    ) -> Result<(), ServerPublishError> {
        let target = self.client_target(client)?;
        self.owner_publish(&target, subject, reply, headers, payload, false)
            .map(|_| ())
    }

    /// Sends a request to everyone on `subject` (`client: None`) or to the matching
    /// subscriptions of one client by name; the first reply arrives as [`ServerEvent::Reply`],
    /// or [`ServerEvent::RequestFailed`] with no responders (at once) or a timeout.
    pub fn request(
        &mut self,
        now: Instant,
        client: Option<&str>,
        subject: &str,
        headers: Option<&[u8]>,
        payload: &[u8],
        timeout: Duration,
    ) -> Result<RequestId, ServerPublishError> {
        if self.owner.requests.len() >= self.config.max_requests {
            return Err(ServerPublishError::TooManyRequests {
                max: self.config.max_requests,
            });
        }
        let target = match client {
            Some(name) => self.client_target(name)?,
            None => Target::Everyone,
        };
        if !self.owner.inbox_subscribed {
            let filter = format!("{}.*", self.owner.inbox);
            self.index
                .insert(&filter, None, sub_key(LOCAL_SLOT, OWNER_INBOX_SID))
                .map_err(|_| ServerPublishError::ShuttingDown)?;
            self.announce_owner_sub(OWNER_INBOX_SID, &filter, None);
            self.owner.inbox_subscribed = true;
        }
        let id = self.owner.next_request;
        self.owner.next_request += 1;
        let deadline = now + timeout;
        self.owner.requests.insert(id, deadline);
        self.owner.deadlines.insert((deadline, id));
        let reply = format!("{}.{id}", self.owner.inbox);
        if let Err(e) = self.owner_publish(&target, subject, Some(&reply), headers, payload, true) {
            self.owner.requests.remove(&id);
            self.owner.deadlines.remove(&(deadline, id));
            return Err(e);
        }
        Ok(RequestId(id))
    }

    fn client_target(&self, client: &str) -> Result<Target, ServerPublishError> {
        if let Some(&slot) = self.names.get(client) {
            return Ok(Target::Session(slot));
        }
        match self.remote_holder(client) {
            Some(worker) => Ok(Target::Remote {
                worker,
                client: client.to_owned(),
            }),
            None => Err(ServerPublishError::UnknownClient(client.to_owned())),
        }
    }

    fn owner_publish(
        &mut self,
        target: &Target,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&[u8]>,
        payload: &[u8],
        request: bool,
    ) -> Result<usize, ServerPublishError> {
        if self.shutdown.is_some() {
            return Err(ServerPublishError::ShuttingDown);
        }
        let limits = &self.config.index.limits;
        validate_subject(subject, limits)?;
        if let Some(r) = reply {
            validate_subject(r, limits)?;
        }
        let size = payload.len() + headers.map_or(0, <[u8]>::len);
        if size > self.config.max_payload {
            return Err(ServerPublishError::PayloadTooLarge {
                size,
                max: self.config.max_payload,
            });
        }
        let headers = headers.map(Headers::parse).transpose()?;
        let p = Pub {
            subject,
            reply,
            headers,
            request,
            payload,
        };
        if let Target::Remote { worker, client } = target {
            self.forward_to_client(*worker, client, &p);
            return Ok(1);
        }
        Ok(self.route(Origin::Owner, target.clone(), &p))
    }

    /// Subscribes the owner to `filter` (optionally in a queue group shared with clients);
    /// messages arrive as [`ServerEvent::Message`] with the returned id.
    pub fn subscribe(
        &mut self,
        filter: &str,
        queue: Option<&str>,
    ) -> Result<u32, ServerSubscribeError> {
        let limits = &self.config.index.limits;
        validate_filter(filter, limits)?;
        if let Some(q) = queue {
            validate_queue_group(q, limits)?;
        }
        let sid = self.owner.next_sid;
        let over = !self.cross.is_alone() && self.index.len() >= self.cross.max_subscriptions;
        if sid == OWNER_INBOX_SID || over {
            return Err(ServerSubscribeError::IndexFull);
        }
        self.index
            .insert(filter, queue, sub_key(LOCAL_SLOT, sid))
            .map_err(|e| match e {
                InsertError::InvalidFilter(e) | InsertError::InvalidQueueGroup(e) => {
                    ServerSubscribeError::InvalidSubject(e)
                }
                _ => ServerSubscribeError::IndexFull,
            })?;
        self.owner.next_sid += 1;
        self.owner
            .subs
            .insert(sid, (filter.to_owned(), queue.map(str::to_owned)));
        self.announce_owner_sub(sid, filter, queue);
        Ok(sid)
    }

    /// Removes an owner subscription.
    pub fn unsubscribe(&mut self, sid: u32) -> Result<(), ServerSubscribeError> {
        let (filter, queue) = self
            .owner
            .subs
            .remove(&sid)
            .ok_or(ServerSubscribeError::UnknownSubscription(sid))?;
        self.index
            .remove(&filter, queue.as_deref(), sub_key(LOCAL_SLOT, sid));
        self.announce_owner_unsub(sid);
        Ok(())
    }

    /// The queue group of an owner subscription, if it has one.
    pub(super) fn owner_queue(&self, sid: u32) -> Option<&str> {
        self.owner.subs.get(&sid)?.1.as_deref()
    }

    /// A message routed to one of the owner's subscriptions (or its inbox).
    pub(super) fn deliver_local(&mut self, msg: &Msg<'_>) {
        let message = Message {
            sid: msg.sid,
            subject: Subject::from(msg.subject),
            reply: msg.reply.map(str::to_owned),
            raw_headers: msg.headers.map(|h| h.as_bytes().to_vec()),
            payload: msg.payload.to_vec(),
        };
        if msg.sid != OWNER_INBOX_SID {
            self.stats.msgs_out += 1;
            self.stats.bytes_out += msg.payload.len() as u64;
            self.push_event(ServerEvent::Message(message));
            return;
        }
        if let Some(id) = self.owner_request_id(msg.subject) {
            self.forget_owner_request(id);
            self.push_event(ServerEvent::Reply(RequestId(id), message));
        }
    }

    /// The owner's request nobody listens to fails at once.
    pub(super) fn owner_no_responders(&mut self, reply: &str) {
        if let Some(id) = self.owner_request_id(reply) {
            self.stats.no_responders += 1;
            self.forget_owner_request(id);
            self.push_event(ServerEvent::RequestFailed(
                RequestId(id),
                RequestFailure::NoResponders,
            ));
        }
    }

    /// The id of an outstanding owner request that `subject` (an inbox subject) answers.
    fn owner_request_id(&self, subject: &str) -> Option<u64> {
        subject
            .strip_prefix(self.owner.inbox.as_str())
            .and_then(|rest| rest.strip_prefix('.'))
            .and_then(|token| token.parse::<u64>().ok())
            .filter(|id| self.owner.requests.contains_key(id))
    }

    fn forget_owner_request(&mut self, id: u64) {
        if let Some(deadline) = self.owner.requests.remove(&id) {
            self.owner.deadlines.remove(&(deadline, id));
        }
    }

    /// Fails the owner's requests whose time is up.
    pub(super) fn expire_owner_requests(&mut self, now: Instant) {
        while let Some(&(at, id)) = self.owner.deadlines.first() {
            if at > now {
                break;
            }
            self.owner.deadlines.pop_first();
            if self.owner.requests.remove(&id).is_some() {
                self.push_event(ServerEvent::RequestFailed(
                    RequestId(id),
                    RequestFailure::TimedOut,
                ));
            }
        }
    }
}
