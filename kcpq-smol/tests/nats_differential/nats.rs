//! The NATS side: async-nats clients of a real nats-server, on tokio.
//!
//! async-nats's `flush` only writes out the client's buffer, so round trips go through a
//! sync connection: a barrier is a message from the client to the sync connection (nats-server
//! handles a connection's operations in order and routes a publish while handling it, so once
//! the sync connection has it, everything the client sent before has been routed), and
//! settling is a marker from the sync connection to the client's own marker subject (it
//! follows, on the client's connection, every message routed to it before; the client reads
//! its connection in order). Control subjects live under `c<seed>`.

use std::cell::Cell;
use std::time::Duration;

use async_nats::client::RequestErrorKind;
use async_nats::{Client, ConnectOptions, HeaderMap, Message, Request, Subscriber};
use futures_lite::StreamExt;
use tokio::sync::Mutex;
use tokio::time::timeout;

use super::nats_server::{RawConnection, WAIT};
use super::scenario::{Probe, PublishSpec, Scenario};
use super::side::{Answer, Broken, Rec, Side};

/// A scenario's clients on nats-server, with the sync connection.
pub(crate) struct NatsSide {
    clients: Vec<Client>,
    markers: Vec<Mutex<Subscriber>>,
    sync: Client,
    sync_sub: Mutex<Subscriber>,
    control: String,
    next_token: Cell<u64>,
    raw: Mutex<RawConnection>,
}

fn broken(what: &str) -> impl Fn(&dyn std::fmt::Display) -> Broken + '_ {
    move |e| format!("NATS {what}: {e}")
}

async fn connect(url: &str, no_echo: bool) -> Result<Client, Broken> {
    let mut options = ConnectOptions::new();
    if no_echo {
        options = options.no_echo();
    }
    timeout(WAIT, options.connect(url))
        .await
        .map_err(|_| "NATS connect timed out".to_owned())?
        .map_err(|e| broken("connect")(&e))
}

/// Waits for the message `token` on `sub`.
async fn wait_for(sub: &mut Subscriber, token: &str) -> Result<(), Broken> {
    let next = timeout(WAIT, sub.next())
        .await
        .map_err(|_| format!("NATS: control message {token} did not arrive within 10 s"))?
        .ok_or_else(|| "NATS: a control subscription ended".to_owned())?;
    if next.payload != token.as_bytes() {
        return Err(format!(
            "NATS: control message {:?} arrived instead of {token}",
            String::from_utf8_lossy(&next.payload)
        ));
    }
    Ok(())
}

impl NatsSide {
    /// Connects the scenario's clients, the sync connection and a raw connection to the
    /// nats-server at `url` and `port`.
    pub(crate) async fn open(url: &str, port: u16, scenario: &Scenario) -> Result<Self, Broken> {
        let control = format!("c{}", scenario.seed);
        let sync = connect(url, false).await?;
        let mut sync_sub = (sync.subscribe(format!("{control}.sync")).await)
            .map_err(|e| broken("subscribe")(&e))?;
        // The sync connection's own message shows that its subscription is in place.
        (sync
            .publish(format!("{control}.sync"), "ready".into())
            .await)
            .map_err(|e| broken("publish")(&e))?;
        wait_for(&mut sync_sub, "ready").await?;
        let mut side = NatsSide {
            clients: Vec::new(),
            markers: Vec::new(),
            sync,
            sync_sub: Mutex::new(sync_sub),
            control,
            next_token: Cell::new(0),
            raw: Mutex::new(RawConnection::open(port).await?),
        };
        for (i, spec) in scenario.clients.iter().enumerate() {
            let client = connect(url, spec.no_echo).await?;
            let marker = (client.subscribe(format!("{}.m.{i}", side.control)).await)
                .map_err(|e| broken("subscribe")(&e))?;
            side.clients.push(client);
            side.markers.push(Mutex::new(marker));
            side.barrier(i).await?;
        }
        Ok(side)
    }

    fn token(&self) -> String {
        let token = self.next_token.get() + 1;
        self.next_token.set(token);
        format!("t{token}")
    }
}

fn headers_of(pairs: &[(String, String)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        headers.append(name.as_str(), value.as_str());
    }
    headers
}

impl Side for NatsSide {
    type Sub = Subscriber;
    type Msg = Message;

    fn record(msg: &Message) -> Rec {
        let headers = msg.headers.as_ref().map(|headers| {
            let mut pairs: Vec<(String, String)> = (headers.iter())
                .flat_map(|(name, values)| {
                    values
                        .iter()
                        .map(move |value| (name.to_string(), value.as_str().to_owned()))
                })
                .collect();
            pairs.sort();
            pairs
        });
        Rec {
            subject: msg.subject.to_string(),
            payload: String::from_utf8_lossy(&msg.payload).into_owned(),
            reply: msg.reply.is_some(),
            headers,
            status: msg.status.map(|status| status.as_u16()),
        }
    }

    fn reply_subject(msg: &Message) -> Option<&str> {
        msg.reply.as_ref().map(|reply| reply.as_str())
    }

    async fn subscribe(
        &self,
        client: usize,
        filter: &str,
        queue: Option<&str>,
    ) -> Result<Result<Subscriber, String>, Broken> {
        let client = &self.clients[client];
        let made = match queue {
            Some(queue) => (client.queue_subscribe(filter.to_owned(), queue.to_owned())).await,
            None => client.subscribe(filter.to_owned()).await,
        };
        made.map(Ok).map_err(|e| broken("subscribe")(&e))
    }

    async fn unsubscribe(&self, mut sub: Subscriber) -> Result<(), Broken> {
        sub.unsubscribe()
            .await
            .map_err(|e| broken("unsubscribe")(&e))
    }

    async fn unsubscribe_after(&self, sub: &mut Subscriber, total: u64) -> Result<(), Broken> {
        (sub.unsubscribe_after(total).await).map_err(|e| broken("unsubscribe_after")(&e))
    }

    async fn publish(
        &self,
        client: usize,
        publish: &PublishSpec,
    ) -> Result<Result<(), String>, Broken> {
        let client = &self.clients[client];
        let subject = publish.subject.clone();
        let payload = publish.payload.clone().into();
        let reply = publish.reply.clone();
        let result = match (&publish.headers, reply) {
            (Some(pairs), Some(reply)) => {
                let headers = headers_of(pairs);
                (client.publish_with_reply_and_headers(subject, reply, headers, payload)).await
            }
            (Some(pairs), None) => {
                (client.publish_with_headers(subject, headers_of(pairs), payload)).await
            }
            (None, Some(reply)) => client.publish_with_reply(subject, reply, payload).await,
            (None, None) => client.publish(subject, payload).await,
        };
        result.map(Ok).map_err(|e| broken("publish")(&e))
    }

    async fn reply(&self, client: usize, subject: &str, payload: String) -> Result<(), Broken> {
        (self.clients[client]
            .publish(subject.to_owned(), payload.into())
            .await)
            .map_err(|e| broken("reply")(&e))
    }

    async fn request(
        &self,
        client: usize,
        subject: &str,
        payload: &str,
        wait: Duration,
    ) -> Result<Answer, Broken> {
        let request = Request::new()
            .payload(payload.to_owned().into())
            .timeout(Some(wait));
        let result = self.clients[client]
            .send_request(subject.to_owned(), request)
            .await;
        match result {
            Ok(reply) => Ok(Answer::Reply(
                String::from_utf8_lossy(&reply.payload).into_owned(),
            )),
            Err(e) => match e.kind() {
                RequestErrorKind::NoResponders => Ok(Answer::NoResponders),
                RequestErrorKind::TimedOut => Ok(Answer::TimedOut),
                RequestErrorKind::Other => Err(broken("request")(&e)),
            },
        }
    }

    async fn probe(&self, _client: usize, probe: &Probe) -> Result<Result<(), String>, Broken> {
        self.raw.lock().await.probe(probe).await
    }

    async fn barrier(&self, client: usize) -> Result<(), Broken> {
        let token = self.token();
        let client = &self.clients[client];
        let subject = format!("{}.sync", self.control);
        (client.publish(subject, token.clone().into()).await).map_err(|e| broken("publish")(&e))?;
        client.flush().await.map_err(|e| broken("flush")(&e))?;
        wait_for(&mut *self.sync_sub.lock().await, &token).await
    }

    async fn settle(&self, client: usize) -> Result<(), Broken> {
        let token = self.token();
        let subject = format!("{}.m.{client}", self.control);
        (self.sync.publish(subject, token.clone().into()).await)
            .map_err(|e| broken("publish")(&e))?;
        self.sync.flush().await.map_err(|e| broken("flush")(&e))?;
        wait_for(&mut *self.markers[client].lock().await, &token).await
    }
}
