//! The KCPQ side: kcpq-smol clients of an embedded server, on smol.
//!
//! A flush is a round trip whose answer the server sends only after every message it queued
//! for the session before it (protocol §8.3), and the client hands out what it receives in
//! order; so one flush is both the barrier and the settling.

use std::net::SocketAddr;
use std::time::Duration;

use kcpq_smol::core::crypto::{Key, KeySet};
use kcpq_smol::{
    Client, ClientOptions, Message, PublishError, RequestError, SubscribeError, Subscription,
};

use super::scenario::{Probe, PublishSpec, Scenario};
use super::side::{Answer, Broken, Rec, Side};

/// The key of the test server and its clients.
pub(crate) fn keys() -> KeySet {
    KeySet::single(Key::from_bytes([7; 32]))
}

/// A scenario's clients on the KCPQ server.
pub(crate) struct KcpqSide {
    clients: Vec<Client>,
}

impl KcpqSide {
    /// Connects the scenario's clients to `server`.
    pub(crate) async fn open(server: SocketAddr, scenario: &Scenario) -> Result<KcpqSide, Broken> {
        let mut clients = Vec::new();
        for spec in &scenario.clients {
            let mut options = ClientOptions::new(server, keys());
            options.config.no_echo = spec.no_echo;
            let client = Client::connect_with(options)
                .await
                .map_err(|e| format!("KCPQ connect: {e}"))?;
            clients.push(client);
        }
        Ok(KcpqSide { clients })
    }

    pub(crate) async fn close(self) {
        for client in self.clients {
            client.close().await;
        }
    }
}

fn refused_subscription(e: SubscribeError) -> Result<Result<Subscription, String>, Broken> {
    match e {
        SubscribeError::Invalid(_) | SubscribeError::Refused(_) => Ok(Err(e.to_string())),
        other => Err(format!("KCPQ subscribe: {other}")),
    }
}

fn refused_publish(result: Result<(), PublishError>) -> Result<Result<(), String>, Broken> {
    match result {
        Ok(()) => Ok(Ok(())),
        Err(e @ PublishError::Invalid(_)) => Ok(Err(e.to_string())),
        Err(other) => Err(format!("KCPQ publish: {other}")),
    }
}

impl Side for KcpqSide {
    type Sub = Subscription;
    type Msg = Message;

    fn record(msg: &Message) -> Rec {
        let headers = msg.raw_headers.as_ref().map(|_| {
            let mut pairs: Vec<(String, String)> = (msg.headers().iter())
                .flat_map(|headers| headers.iter())
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect();
            pairs.sort();
            pairs
        });
        Rec {
            subject: msg.subject.to_string(),
            payload: String::from_utf8_lossy(&msg.payload).into_owned(),
            reply: msg.reply.is_some(),
            headers,
            status: None,
        }
    }

    fn reply_subject(msg: &Message) -> Option<&str> {
        msg.reply.as_deref()
    }

    async fn subscribe(
        &self,
        client: usize,
        filter: &str,
        queue: Option<&str>,
    ) -> Result<Result<Subscription, String>, Broken> {
        let client = &self.clients[client];
        let made = match queue {
            Some(queue) => client.queue_subscribe(filter, queue).await,
            None => client.subscribe(filter).await,
        };
        made.map_or_else(refused_subscription, |sub| Ok(Ok(sub)))
    }

    async fn unsubscribe(&self, sub: Subscription) -> Result<(), Broken> {
        sub.unsubscribe()
            .await
            .map_err(|e| format!("KCPQ unsubscribe: {e}"))
    }

    async fn unsubscribe_after(&self, sub: &mut Subscription, total: u64) -> Result<(), Broken> {
        sub.unsubscribe_after(total)
            .await
            .map_err(|e| format!("KCPQ unsubscribe_after: {e}"))
    }

    async fn publish(
        &self,
        client: usize,
        publish: &PublishSpec,
    ) -> Result<Result<(), String>, Broken> {
        let client = &self.clients[client];
        let (subject, reply) = (publish.subject.as_str(), publish.reply.as_deref());
        let payload = publish.payload.clone();
        let result = match (&publish.headers, reply) {
            (Some(headers), _) => {
                let pairs: Vec<(&str, &str)> = (headers.iter())
                    .map(|(name, value)| (name.as_str(), value.as_str()))
                    .collect();
                client
                    .publish_with_headers(subject, reply, &pairs, payload)
                    .await
            }
            (None, Some(reply)) => client.publish_with_reply(subject, reply, payload).await,
            (None, None) => client.publish(subject, payload).await,
        };
        refused_publish(result)
    }

    async fn reply(&self, client: usize, subject: &str, payload: String) -> Result<(), Broken> {
        let result = self.clients[client].publish(subject, payload).await;
        refused_publish(result)?.map_err(|e| format!("KCPQ reply refused: {e}"))
    }

    async fn request(
        &self,
        client: usize,
        subject: &str,
        payload: &str,
        timeout: Duration,
    ) -> Result<Answer, Broken> {
        let client = &self.clients[client];
        match client.request(subject, payload.to_owned(), timeout).await {
            Ok(reply) => Ok(Answer::Reply(
                String::from_utf8_lossy(&reply.payload).into_owned(),
            )),
            Err(RequestError::NoResponders) => Ok(Answer::NoResponders),
            Err(RequestError::TimedOut(_)) => Ok(Answer::TimedOut),
            Err(other) => Err(format!("KCPQ request: {other}")),
        }
    }

    async fn probe(&self, client: usize, probe: &Probe) -> Result<Result<(), String>, Broken> {
        let made = match probe {
            Probe::Publish(subject) => {
                let result = self.clients[client].publish(subject, "probe").await;
                return refused_publish(result);
            }
            Probe::Subscribe(filter) => self.subscribe(client, filter, None).await?,
            Probe::Queue(filter, group) => self.subscribe(client, filter, Some(group)).await?,
        };
        match made {
            Ok(sub) => self.unsubscribe(sub).await.map(Ok),
            Err(refused) => Ok(Err(refused)),
        }
    }

    async fn barrier(&self, client: usize) -> Result<(), Broken> {
        self.clients[client]
            .flush()
            .await
            .map_err(|e| format!("KCPQ flush: {e}"))
    }

    async fn settle(&self, client: usize) -> Result<(), Broken> {
        self.barrier(client).await
    }
}
