//! The KCPQ side. This is the only module that names the KCPQ client crate (kcpq-tokio, whose
//! driver runs on the tokio runtime the bridge starts on): another adapter with the same API
//! would change the `use` below and Cargo.toml, nothing else ([`crate::StartError`] takes its
//! source types from here).

use std::sync::Arc;

use bytes::Bytes;
use futures_lite::StreamExt;
use kcpq_tokio as adapter;
use log::{info, warn};
use tokio::sync::broadcast;

use crate::bridge::{BridgeEvent, StartError, retry_delay};
use crate::config::Config;

pub(crate) use adapter::SubscribeError;
pub(crate) use adapter::keys::KeyDiscoveryError;

/// A connected KCPQ client (cheap to clone).
pub(crate) type Client = adapter::Client;
/// One subscription of [`Client`].
pub(crate) type Subscription = adapter::Subscription;

/// A message taken from KCPQ, owned.
#[derive(Debug)]
pub(crate) struct Incoming {
    pub(crate) subject: String,
    pub(crate) reply: Option<String>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) payload: Bytes,
}

/// Why KCPQ did not take a message.
#[derive(Debug)]
pub(crate) enum Refused {
    /// Payload and headers exceed the server's largest message: skip it.
    Oversized,
    /// The subject or a header is invalid: skip it.
    Invalid,
    /// The client is reconnecting or slower than the bridge: try again later.
    Transient(String),
    /// The client is closed.
    Closed,
}

/// Connects, retrying until the server answers (every failure is logged).
pub(crate) async fn connect(config: &Config) -> Result<Client, StartError> {
    let dir = std::env::current_dir().unwrap_or_default();
    let (keys, source) = adapter::keys::client_keys(config.kcpq_key_file.as_deref(), &dir)?;
    info!("bridge {}: kcpq key from {source}", config.id);
    let mut attempt = 0;
    loop {
        let addr = match tokio::net::lookup_host(&config.kcpq_addr).await {
            Ok(mut addrs) => addrs.next(),
            Err(e) => {
                warn!("bridge {}: kcpq {}: {e}", config.id, config.kcpq_addr);
                None
            }
        };
        if let Some(addr) = addr {
            let mut options = adapter::ClientOptions::new(addr, keys.clone());
            options.config.name = config.id.clone();
            match adapter::Client::connect_with(options).await {
                Ok(client) => return Ok(client),
                Err(e) => warn!("bridge {}: kcpq {addr}: {e}; retrying", config.id),
            }
        }
        tokio::time::sleep(retry_delay(attempt)).await;
        attempt += 1;
    }
}

/// Subscribes to `filter`; returns once the server confirmed it.
pub(crate) async fn subscribe(client: &Client, filter: &str) -> Result<Subscription, StartError> {
    client
        .subscribe(filter)
        .await
        .map_err(|source| StartError::KcpqSubscribe {
            filter: filter.to_owned(),
            source,
        })
}

/// The next message of `sub`; `None` once the subscription ended.
pub(crate) async fn next(sub: &mut Subscription) -> Option<Incoming> {
    let message = sub.next().await?;
    let headers = message
        .headers()
        .map(|headers| {
            headers
                .iter()
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect()
        })
        .unwrap_or_default();
    Some(Incoming {
        subject: message.subject.into(),
        reply: message.reply,
        headers,
        payload: message.payload,
    })
}

/// Publishes `payload` on `subject` with `headers`, asking for replies on `reply` if given.
pub(crate) async fn publish(
    client: &Client,
    subject: &str,
    reply: Option<&str>,
    headers: &[(String, String)],
    payload: Bytes,
) -> Result<(), Refused> {
    use adapter::core::client::PublishError as Core;
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let result = client
        .publish_with_headers(subject, reply, &pairs, payload)
        .await;
    match result {
        Ok(()) => Ok(()),
        Err(adapter::PublishError::Invalid(e)) => Err(match e {
            Core::PayloadTooLarge { .. } => Refused::Oversized,
            Core::InvalidSubject(_) | Core::InvalidHeaders(_) => Refused::Invalid,
            Core::Closed => Refused::Closed,
            other => Refused::Transient(other.to_string()),
        }),
        Err(adapter::PublishError::Closed) => Err(Refused::Closed),
        Err(e) => Err(Refused::Transient(e.to_string())),
    }
}

/// Waits until the server has processed everything published before; `Err` says why not.
pub(crate) async fn flush(client: &Client) -> Result<(), String> {
    client.flush().await.map_err(|e| e.to_string())
}

/// Closes the session.
pub(crate) async fn close(client: &Client) {
    client.close().await;
}

/// Logs the client's connection changes and surfaces them as [`BridgeEvent`]s, until the
/// client closes.
pub(crate) async fn watch(id: Arc<str>, client: Client, events: broadcast::Sender<BridgeEvent>) {
    let mut stream = client.events();
    drop(client);
    while let Some(event) = stream.next().await {
        let surfaced = match event {
            adapter::Event::Disconnected(reason) => {
                warn!("bridge {id}: kcpq disconnected ({reason:?}); reconnecting");
                Some(BridgeEvent::KcpqDisconnected)
            }
            adapter::Event::Reconnected { server_name, .. } => {
                info!("bridge {id}: kcpq reconnected to {server_name}");
                Some(BridgeEvent::KcpqReconnected)
            }
            adapter::Event::Closed => {
                info!("bridge {id}: kcpq client closed");
                None
            }
            other => {
                warn!("bridge {id}: kcpq {other:?}");
                None
            }
        };
        if let Some(event) = surfaced {
            let _ = events.send(event);
        }
    }
}
