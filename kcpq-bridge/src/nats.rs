//! The NATS side: the async-nats client's options, its connection, and the messages it
//! delivers, turned into the bridge's own type.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use futures_lite::StreamExt;
use log::{debug, info, warn};
use tokio::sync::broadcast;

use crate::bridge::{BridgeEvent, Outgoing, retry_delay};
use crate::config::NatsSection;

/// A message taken from NATS, owned.
pub(crate) struct Incoming {
    pub(crate) subject: String,
    pub(crate) reply: Option<String>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) payload: Bytes,
}

fn options(
    id: &str,
    nats: &NatsSection,
    capacity: usize,
    events: &broadcast::Sender<BridgeEvent>,
) -> async_nats::ConnectOptions {
    let id = id.to_owned();
    let events = events.clone();
    // While the servers are unreachable every reconnection attempt reports an error: the first
    // one of an outage is a warning, the others are debug lines.
    let erring = Arc::new(AtomicBool::new(false));
    let mut options = async_nats::ConnectOptions::new()
        .name(&id)
        .max_reconnects(None)
        // The first url that answers is used, in the order given (each bridge may list its
        // nearest node first); the others, and the nodes the cluster announces, on failure.
        .retain_servers_order()
        .subscription_capacity(capacity)
        .reconnect_delay_callback(retry_delay)
        .event_callback(move |event| {
            let id = id.clone();
            let events = events.clone();
            let erring = erring.clone();
            async move {
                let surfaced = match event {
                    async_nats::Event::Connected => {
                        erring.store(false, Ordering::Relaxed);
                        info!("bridge {id}: nats connected");
                        Some(BridgeEvent::NatsConnected)
                    }
                    async_nats::Event::Disconnected => {
                        warn!("bridge {id}: nats disconnected; reconnecting");
                        Some(BridgeEvent::NatsDisconnected)
                    }
                    error @ async_nats::Event::ClientError(_) => {
                        if erring.swap(true, Ordering::Relaxed) {
                            debug!("bridge {id}: nats {error}");
                        } else {
                            warn!("bridge {id}: nats {error} (until reconnected: debug log only)");
                        }
                        None
                    }
                    other => {
                        warn!("bridge {id}: nats {other}");
                        None
                    }
                };
                if let Some(event) = surfaced {
                    let _ = events.send(event);
                }
            }
        });
    if let (Some(user), Some(password)) = (&nats.user, &nats.password) {
        options = options.user_and_password(user.clone(), password.clone());
    }
    if let Some(token) = &nats.token {
        options = options.token(token.clone());
    }
    options
}

/// Connects to one of the servers, retrying until one answers (every failure is logged).
/// The client then moves to another server of the list (or one the cluster announced) when it
/// loses its connection.
pub(crate) async fn connect(
    id: &str,
    nats: &NatsSection,
    capacity: usize,
    events: &broadcast::Sender<BridgeEvent>,
) -> async_nats::Client {
    // async-nats takes a list of addresses, not one comma-separated string.
    let addrs: Vec<async_nats::ServerAddr> = nats
        .url
        .to_vec()
        .iter()
        .filter_map(|url| match url.parse() {
            Ok(addr) => Some(addr),
            Err(e) => {
                warn!("bridge {id}: nats url {url:?} skipped: {e}");
                None
            }
        })
        .collect();
    let mut attempt = 0;
    loop {
        match options(id, nats, capacity, events)
            .connect(addrs.clone())
            .await
        {
            Ok(client) => return client,
            Err(e) => warn!("bridge {id}: nats {}: {e}; retrying", nats.url),
        }
        tokio::time::sleep(retry_delay(attempt)).await;
        attempt += 1;
    }
}

/// The next message of `sub`; `None` once the subscription ended.
pub(crate) async fn next(sub: &mut async_nats::Subscriber) -> Option<Incoming> {
    let message = sub.next().await?;
    let headers = message
        .headers
        .iter()
        .flat_map(|map| map.iter())
        .flat_map(|(name, values)| {
            values
                .iter()
                .map(move |v| (name.to_string(), v.as_str().to_owned()))
        })
        .collect();
    Some(Incoming {
        subject: message.subject.to_string(),
        reply: message.reply.map(|r| r.to_string()),
        headers,
        payload: message.payload,
    })
}

/// Publishes `out` on NATS.
pub(crate) async fn publish(client: &async_nats::Client, out: Outgoing) -> Result<(), String> {
    let mut headers = async_nats::HeaderMap::new();
    for (name, value) in &out.headers {
        headers.append(name.as_str(), value.as_str());
    }
    let result = match out.reply {
        Some(reply) => {
            client
                .publish_with_reply_and_headers(out.subject, reply, headers, out.payload)
                .await
        }
        None => {
            client
                .publish_with_headers(out.subject, headers, out.payload)
                .await
        }
    };
    result.map_err(|e| e.to_string())
}
