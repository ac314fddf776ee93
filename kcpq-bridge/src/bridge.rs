//! The running bridge: one KCPQ client, one NATS client, a task per route that takes messages
//! from one side, and a task per direction that publishes them on the other.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_lite::StreamExt;
use kcpq_smol::keys::{KeyDiscoveryError, client_keys};
use log::{debug, info, warn};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

use crate::config::{Config, Side};
use crate::counters::{Direction, Stats};
use crate::mapping::SubjectMap;

/// The header every forwarded message carries, once per bridge it crossed, naming the bridge.
/// A bridge drops every message that already names it: see the crate documentation.
pub const ORIGIN_HEADER: &str = "Kcpq-Bridge-Origin";

/// Longest pause between two attempts of a first connection or a NATS reconnection.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(2);
/// Bound of undelivered [`BridgeEvent`]s per receiver; a slow receiver loses the oldest.
const EVENT_CAPACITY: usize = 64;

/// Why the bridge did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// No usable KCPQ key.
    #[error("kcpq key: {0}")]
    Keys(#[from] KeyDiscoveryError),
    /// The KCPQ server refused a route's subscription.
    #[error("kcpq subscribe {filter:?}: {source}")]
    KcpqSubscribe {
        /// The filter.
        filter: String,
        /// The client's reason.
        source: kcpq_smol::SubscribeError,
    },
    /// The NATS client refused a route's subscription.
    #[error("nats subscribe {filter:?}: {source}")]
    NatsSubscribe {
        /// The filter.
        filter: String,
        /// The client's reason.
        source: async_nats::SubscribeError,
    },
    /// The NATS subscriptions could not be written to the server.
    #[error("nats flush: {0}")]
    NatsFlush(#[from] async_nats::client::FlushError),
}

/// A change of either connection, from [`Bridge::events`] (also written to the log).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BridgeEvent {
    /// The KCPQ session ended; the client reconnects by itself.
    KcpqDisconnected,
    /// The KCPQ session is back, with every subscription.
    KcpqReconnected,
    /// The NATS connection is up (again); the client restores every subscription.
    NatsConnected,
    /// The NATS connection was lost; the client reconnects by itself.
    NatsDisconnected,
}

/// A message on its way to the other side.
#[derive(Debug)]
struct Outgoing {
    subject: String,
    headers: Vec<(String, String)>,
    payload: Bytes,
}

/// A running bridge. Dropping it stops the forwarding; [`Bridge::shutdown`] also closes both
/// connections cleanly.
#[derive(Debug)]
pub struct Bridge {
    id: Arc<str>,
    kcpq: kcpq_smol::Client,
    nats: async_nats::Client,
    kcpq_to_nats: Arc<Direction>,
    nats_to_kcpq: Arc<Direction>,
    events: broadcast::Sender<BridgeEvent>,
    tasks: Vec<JoinHandle<()>>,
}

impl Bridge {
    /// Connects to both sides (retrying until each answers, and logging every failure),
    /// subscribes every route, and returns once the KCPQ server has confirmed every KCPQ
    /// subscription and the NATS subscriptions are written to the NATS server (async-nats has
    /// no round trip to await: the server registers them before anything the bridge publishes
    /// later on that connection, but a message another client publishes right away may miss
    /// them).
    ///
    /// Runs on a multi-threaded tokio runtime. The KCPQ client needs no runtime of its own: its
    /// driver runs on smol's global executor threads and its futures are runtime-agnostic.
    pub async fn start(config: Config) -> Result<Bridge, StartError> {
        let id: Arc<str> = Arc::from(config.id.as_str());
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let kcpq = connect_kcpq(&config).await?;
        let nats = connect_nats(&config, &events).await;
        info!(
            "bridge {id}: kcpq {} and nats {} connected, {} routes",
            config.kcpq_addr,
            config.nats.url,
            config.routes.len()
        );
        let kcpq_to_nats = Arc::new(Direction::default());
        let nats_to_kcpq = Arc::new(Direction::default());
        let (to_nats, to_nats_rx) = mpsc::channel(config.queue_capacity);
        let (to_kcpq, to_kcpq_rx) = mpsc::channel(config.queue_capacity);
        let tasks = vec![
            tokio::spawn(publish_nats(nats.clone(), to_nats_rx, kcpq_to_nats.clone())),
            tokio::spawn(publish_kcpq(kcpq.clone(), to_kcpq_rx, nats_to_kcpq.clone())),
            tokio::spawn(watch_kcpq(id.clone(), kcpq.events(), events.clone())),
        ];
        // From here on, an error drops the bridge, which aborts the tasks already started.
        let mut bridge = Bridge {
            id: id.clone(),
            kcpq: kcpq.clone(),
            nats: nats.clone(),
            kcpq_to_nats: kcpq_to_nats.clone(),
            nats_to_kcpq: nats_to_kcpq.clone(),
            events,
            tasks,
        };
        for route in &config.routes {
            let filter = route.map.filter().to_owned();
            let task = match route.from {
                Side::Kcpq => {
                    let sub = kcpq.subscribe(&filter).await.map_err(|source| {
                        StartError::KcpqSubscribe {
                            filter: filter.clone(),
                            source,
                        }
                    })?;
                    let pump = Pump {
                        id: id.clone(),
                        map: route.map.clone(),
                        out: to_nats.clone(),
                        counters: kcpq_to_nats.clone(),
                    };
                    tokio::spawn(pump.kcpq(sub))
                }
                Side::Nats => {
                    let sub = nats.subscribe(filter.clone()).await.map_err(|source| {
                        StartError::NatsSubscribe {
                            filter: filter.clone(),
                            source,
                        }
                    })?;
                    let pump = Pump {
                        id: id.clone(),
                        map: route.map.clone(),
                        out: to_kcpq.clone(),
                        counters: nats_to_kcpq.clone(),
                    };
                    tokio::spawn(pump.nats(sub))
                }
            };
            bridge.tasks.push(task);
        }
        nats.flush().await?;
        if let Some(interval) = config.stats_interval {
            bridge.tasks.push(tokio::spawn(log_stats(
                id,
                interval,
                kcpq_to_nats,
                nats_to_kcpq,
            )));
        }
        Ok(bridge)
    }

    /// This bridge's id, as written in [`ORIGIN_HEADER`].
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The counters of both directions.
    pub fn stats(&self) -> Stats {
        Stats {
            kcpq_to_nats: self.kcpq_to_nats.snapshot(),
            nats_to_kcpq: self.nats_to_kcpq.snapshot(),
        }
    }

    /// The connection events from now on.
    pub fn events(&self) -> broadcast::Receiver<BridgeEvent> {
        self.events.subscribe()
    }

    /// Stops forwarding, flushes what NATS holds, and closes the KCPQ session.
    pub async fn shutdown(mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
        match tokio::time::timeout(Duration::from_secs(5), self.nats.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!("bridge {}: nats flush at shutdown: {e}", self.id),
            Err(_) => warn!("bridge {}: nats flush at shutdown took over 5 s", self.id),
        }
        self.kcpq.close().await;
        info!("bridge {}: stopped; {}", self.id, self.stats());
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The pause before attempt `attempt` (from 0): 100 ms doubling up to [`MAX_RETRY_DELAY`].
fn retry_delay(attempt: usize) -> Duration {
    let shift = u32::try_from(attempt.min(8)).unwrap_or(8);
    (Duration::from_millis(100) * 2u32.pow(shift)).min(MAX_RETRY_DELAY)
}

async fn connect_kcpq(config: &Config) -> Result<kcpq_smol::Client, StartError> {
    let dir = std::env::current_dir().unwrap_or_default();
    let (keys, source) = client_keys(config.kcpq_key_file.as_deref(), &dir)?;
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
            let mut options = kcpq_smol::ClientOptions::new(addr, keys.clone());
            options.config.name = config.id.clone();
            match kcpq_smol::Client::connect_with(options).await {
                Ok(client) => return Ok(client),
                Err(e) => warn!("bridge {}: kcpq {addr}: {e}; retrying", config.id),
            }
        }
        tokio::time::sleep(retry_delay(attempt)).await;
        attempt += 1;
    }
}

fn nats_options(
    config: &Config,
    events: &broadcast::Sender<BridgeEvent>,
) -> async_nats::ConnectOptions {
    let id = config.id.clone();
    let events = events.clone();
    // While the server is unreachable every reconnection attempt reports an error: the first
    // one of an outage is a warning, the others are debug lines.
    let erring = Arc::new(AtomicBool::new(false));
    let mut options = async_nats::ConnectOptions::new()
        .name(&config.id)
        .max_reconnects(None)
        .subscription_capacity(config.queue_capacity)
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
    if let (Some(user), Some(password)) = (&config.nats.user, &config.nats.password) {
        options = options.user_and_password(user.clone(), password.clone());
    }
    if let Some(token) = &config.nats.token {
        options = options.token(token.clone());
    }
    options
}

async fn connect_nats(
    config: &Config,
    events: &broadcast::Sender<BridgeEvent>,
) -> async_nats::Client {
    let mut attempt = 0;
    loop {
        match nats_options(config, events)
            .connect(config.nats.url.as_str())
            .await
        {
            Ok(client) => return client,
            Err(e) => warn!(
                "bridge {}: nats {}: {e}; retrying",
                config.id, config.nats.url
            ),
        }
        tokio::time::sleep(retry_delay(attempt)).await;
        attempt += 1;
    }
}

/// Whether `value` of an origin header names `id`.
fn names(name: &str, value: &str, id: &str) -> bool {
    name.eq_ignore_ascii_case(ORIGIN_HEADER) && value == id
}

/// Takes the messages of one route and queues them, mapped and marked, for the other side.
struct Pump {
    id: Arc<str>,
    map: SubjectMap,
    out: mpsc::Sender<Outgoing>,
    counters: Arc<Direction>,
}

impl Pump {
    async fn kcpq(self, mut sub: kcpq_smol::Subscription) {
        while let Some(message) = sub.next().await {
            let headers: Vec<(String, String)> = message
                .headers()
                .map(|headers| {
                    headers
                        .iter()
                        .map(|(n, v)| (n.to_owned(), v.to_owned()))
                        .collect()
                })
                .unwrap_or_default();
            self.forward(&message.subject, headers, message.payload);
        }
        debug!(
            "bridge {}: kcpq subscription {} ended",
            self.id,
            self.map.filter()
        );
    }

    async fn nats(self, mut sub: async_nats::Subscriber) {
        while let Some(message) = sub.next().await {
            let headers: Vec<(String, String)> = message
                .headers
                .iter()
                .flat_map(|map| map.iter())
                .flat_map(|(name, values)| {
                    values
                        .iter()
                        .map(move |v| (name.to_string(), v.as_str().to_owned()))
                })
                .collect();
            self.forward(message.subject.as_str(), headers, message.payload);
        }
        debug!(
            "bridge {}: nats subscription {} ended",
            self.id,
            self.map.filter()
        );
    }

    fn forward(&self, subject: &str, mut headers: Vec<(String, String)>, payload: Bytes) {
        self.counters.received.fetch_add(1, Ordering::Relaxed);
        if headers.iter().any(|(n, v)| names(n, v, &self.id)) {
            self.counters.looped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let Some(subject) = self.map.map(subject) else {
            self.counters.unmapped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        headers.push((ORIGIN_HEADER.to_owned(), self.id.to_string()));
        let outgoing = Outgoing {
            subject,
            headers,
            payload,
        };
        if self.out.try_send(outgoing).is_err() {
            self.counters.queue_full.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn publish_nats(
    nats: async_nats::Client,
    mut queue: mpsc::Receiver<Outgoing>,
    counters: Arc<Direction>,
) {
    while let Some(out) = queue.recv().await {
        let mut headers = async_nats::HeaderMap::new();
        for (name, value) in &out.headers {
            headers.append(name.as_str(), value.as_str());
        }
        let result = nats
            .publish_with_headers(out.subject.clone(), headers, out.payload)
            .await;
        counters.record(result.map_err(|e| e.to_string()), "nats", &out.subject);
    }
}

async fn publish_kcpq(
    kcpq: kcpq_smol::Client,
    mut queue: mpsc::Receiver<Outgoing>,
    counters: Arc<Direction>,
) {
    while let Some(out) = queue.recv().await {
        let pairs: Vec<(&str, &str)> = out
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let result = kcpq
            .publish_with_headers(&out.subject, None, &pairs, out.payload)
            .await;
        counters.record(result.map_err(|e| e.to_string()), "kcpq", &out.subject);
    }
}

async fn watch_kcpq(
    id: Arc<str>,
    mut stream: kcpq_smol::Events,
    events: broadcast::Sender<BridgeEvent>,
) {
    while let Some(event) = stream.next().await {
        let surfaced = match event {
            kcpq_smol::Event::Disconnected(reason) => {
                warn!("bridge {id}: kcpq disconnected ({reason:?}); reconnecting");
                Some(BridgeEvent::KcpqDisconnected)
            }
            kcpq_smol::Event::Reconnected { server_name, .. } => {
                info!("bridge {id}: kcpq reconnected to {server_name}");
                Some(BridgeEvent::KcpqReconnected)
            }
            kcpq_smol::Event::Closed => {
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

async fn log_stats(
    id: Arc<str>,
    interval: Duration,
    kcpq_to_nats: Arc<Direction>,
    nats_to_kcpq: Arc<Direction>,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let stats = Stats {
            kcpq_to_nats: kcpq_to_nats.snapshot(),
            nats_to_kcpq: nats_to_kcpq.snapshot(),
        };
        info!("bridge {id}: {stats}");
    }
}
