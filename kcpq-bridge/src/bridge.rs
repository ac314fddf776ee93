//! The running bridge: one KCPQ client, and as the routes need them a NATS client and a Kafka
//! producer and consumer; a task per route that takes messages from one side, and a task per
//! direction that publishes them on the other (towards Kafka, the producer is that task).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use log::{info, warn};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::{Config, Side};
use crate::counters::{Direction, Stats};
use crate::kafka::inbound::{self, KafkaConsumer};
use crate::kafka::{Sink, outbound};
use crate::kcpq::{self, KeyDiscoveryError, SubscribeError};
use crate::mapping::SubjectMap;
use crate::nats;
use crate::relay::{self, Pump};

/// The header every forwarded message carries, once per bridge it crossed, naming the bridge.
/// A bridge drops every message that already names it: see the crate documentation.
pub const ORIGIN_HEADER: &str = "Kcpq-Bridge-Origin";

/// Longest pause between two attempts of a first connection or a NATS reconnection.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(2);
/// Bound of undelivered [`BridgeEvent`]s per receiver; a slow receiver loses the oldest.
const EVENT_CAPACITY: usize = 64;
/// Bound of each wait of [`Bridge::shutdown`].
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// Why the bridge did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// No usable KCPQ key.
    #[error("kcpq key: {0}")]
    Keys(#[from] KeyDiscoveryError),
    /// The bridge id cannot be part of a reply subject.
    #[error("the bridge id {0:?} cannot be part of a subject")]
    InvalidId(String),
    /// The KCPQ server refused a route's subscription.
    #[error("kcpq subscribe {filter:?}: {source}")]
    KcpqSubscribe {
        /// The filter.
        filter: String,
        /// The client's reason.
        source: SubscribeError,
    },
    /// librdkafka refused the Kafka settings (a `[kafka.properties]` entry, most often).
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
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
pub(crate) struct Outgoing {
    pub(crate) subject: String,
    pub(crate) reply: Option<String>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) payload: Bytes,
}

/// Whether a header `name: value` is the origin header naming bridge `id`.
pub(crate) fn names_bridge(name: &str, value: &str, id: &str) -> bool {
    name.eq_ignore_ascii_case(ORIGIN_HEADER) && value == id
}

/// The pause before attempt `attempt` (from 0): 100 ms doubling up to [`MAX_RETRY_DELAY`].
pub(crate) fn retry_delay(attempt: usize) -> Duration {
    let shift = u32::try_from(attempt.min(8)).unwrap_or(8);
    (Duration::from_millis(100) * 2u32.pow(shift)).min(MAX_RETRY_DELAY)
}

/// The counters of every direction.
#[derive(Debug, Default)]
struct Counters {
    kcpq_to_nats: Arc<Direction>,
    nats_to_kcpq: Arc<Direction>,
    kcpq_to_kafka: Arc<Direction>,
    kafka_to_kcpq: Arc<Direction>,
    kafka_in_flight: Arc<AtomicU64>,
}

impl Counters {
    fn snapshot(&self) -> Stats {
        Stats {
            kcpq_to_nats: self.kcpq_to_nats.snapshot(),
            nats_to_kcpq: self.nats_to_kcpq.snapshot(),
            kcpq_to_kafka: self.kcpq_to_kafka.snapshot(),
            kafka_to_kcpq: self.kafka_to_kcpq.snapshot(),
            kafka_in_flight_bytes: self.kafka_in_flight.load(Ordering::Relaxed),
        }
    }
}

/// The Kafka consumer's task and the switch that stops it.
struct InboundTask {
    stop: watch::Sender<bool>,
    task: JoinHandle<KafkaConsumer>,
}

/// A running bridge. Dropping it stops the forwarding; [`Bridge::shutdown`] also flushes what
/// the clients hold, commits what KCPQ confirmed, and closes every connection cleanly.
pub struct Bridge {
    id: Arc<str>,
    kcpq: kcpq::Client,
    nats: Option<async_nats::Client>,
    sink: Option<Arc<Sink>>,
    inbound: Option<InboundTask>,
    counters: Arc<Counters>,
    events: broadcast::Sender<BridgeEvent>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge")
            .field("id", &self.id)
            .field("stats", &self.counters.snapshot())
            .finish_non_exhaustive()
    }
}

impl Bridge {
    /// Connects to KCPQ and to NATS (retrying until each answers, and logging every failure),
    /// creates the Kafka clients (they connect in the background), subscribes every route, and
    /// returns once the KCPQ server has confirmed every KCPQ subscription and the NATS
    /// subscriptions are written to the NATS server (async-nats has no round trip to await: the
    /// server registers them before anything the bridge publishes later on that connection, but
    /// a message another client publishes right away may miss them). The Kafka consumer joins
    /// its group in the background, which takes a few seconds.
    ///
    /// Call it within a tokio runtime with its I/O and time drivers enabled (`enable_all`, or
    /// `#[tokio::main]`): the KCPQ client's driver and every task of the bridge are spawned on
    /// that runtime, so a multi-threaded one spreads them over its workers.
    pub async fn start(config: Config) -> Result<Bridge, StartError> {
        let id: Arc<str> = Arc::from(config.id.as_str());
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let kcpq = kcpq::connect(&config).await?;
        let nats = match &config.nats {
            Some(section) if !config.routes.is_empty() => {
                Some(nats::connect(&id, section, config.queue_capacity, &events).await)
            }
            _ => None,
        };
        info!(
            "bridge {id}: kcpq {} connected{}; {} nats routes, {} routes to kafka, {} from kafka",
            config.kcpq_addr,
            match (&config.nats, &nats) {
                (Some(section), Some(_)) => format!(", nats {} connected", section.url),
                _ => String::new(),
            },
            config.routes.len(),
            config.kafka_out.len(),
            config.kafka_in.len()
        );
        let counters = Arc::new(Counters::default());
        let mut bridge = Bridge {
            id: id.clone(),
            kcpq: kcpq.clone(),
            nats: nats.clone(),
            sink: None,
            inbound: None,
            counters: counters.clone(),
            events: events.clone(),
            tasks: vec![tokio::spawn(kcpq::watch(
                id.clone(),
                kcpq.clone(),
                events.clone(),
            ))],
        };
        // From here on, an error drops the bridge, which aborts the tasks already started.
        if let Some(nats) = &nats {
            bridge.start_nats_routes(&config, nats).await?;
        }
        if let Some(kafka) = &config.kafka {
            if !config.kafka_out.is_empty() {
                let sink = Arc::new(Sink::new(
                    id.clone(),
                    kafka,
                    counters.kcpq_to_kafka.clone(),
                    counters.kafka_in_flight.clone(),
                )?);
                for route in &config.kafka_out {
                    let sub = kcpq::subscribe(&kcpq, &route.filter).await?;
                    bridge.tasks.push(tokio::spawn(outbound::pump(
                        id.clone(),
                        route.clone(),
                        sub,
                        sink.clone(),
                        counters.kcpq_to_kafka.clone(),
                    )));
                }
                bridge.tasks.push(tokio::spawn(renew_stale(sink.clone())));
                bridge.sink = Some(sink);
            }
            if !config.kafka_in.is_empty() {
                let consumer = inbound::consumer(id.clone(), kafka, &config.kafka_in)?;
                let (stop, stopped) = watch::channel(false);
                let flow = inbound::Flow {
                    id: id.clone(),
                    consumer,
                    routes: config.kafka_in.clone(),
                    kcpq: kcpq.clone(),
                    counters: counters.kafka_to_kcpq.clone(),
                    commit_batch: kafka.commit_batch,
                };
                bridge.inbound = Some(InboundTask {
                    stop,
                    task: tokio::spawn(inbound::run(flow, stopped)),
                });
            }
        }
        if let Some(interval) = config.stats_interval {
            bridge.tasks.push(tokio::spawn(log_stats(
                id,
                interval,
                bridge.counters.clone(),
            )));
        }
        Ok(bridge)
    }

    /// Subscribes the KCPQ <-> NATS routes and this bridge's reply subjects, and starts the
    /// publishing task of each direction.
    async fn start_nats_routes(
        &mut self,
        config: &Config,
        nats: &async_nats::Client,
    ) -> Result<(), StartError> {
        let id = self.id.clone();
        let counters = self.counters.clone();
        let prefix: Arc<str> = Arc::from(relay::reply_prefix(&id));
        let (to_nats, to_nats_rx) = mpsc::channel(config.queue_capacity);
        let (to_kcpq, to_kcpq_rx) = mpsc::channel(config.queue_capacity);
        self.tasks.push(tokio::spawn(relay::publish_nats(
            nats.clone(),
            to_nats_rx,
            counters.kcpq_to_nats.clone(),
        )));
        self.tasks.push(tokio::spawn(relay::publish_kcpq(
            self.kcpq.clone(),
            to_kcpq_rx,
            counters.nats_to_kcpq.clone(),
        )));
        let pump = |map: SubjectMap, from: Side| match from {
            Side::Kcpq => Pump {
                id: id.clone(),
                map,
                reply_prefix: prefix.clone(),
                out: to_nats.clone(),
                counters: counters.kcpq_to_nats.clone(),
            },
            Side::Nats | Side::Kafka => Pump {
                id: id.clone(),
                map,
                reply_prefix: prefix.clone(),
                out: to_kcpq.clone(),
                counters: counters.nats_to_kcpq.clone(),
            },
        };
        // Replies to the requests forwarded from one side arrive on the other side under this
        // bridge's reply prefix, and go back without it.
        let replies = SubjectMap::new(&format!("{prefix}.>"), ">")
            .map_err(|_| StartError::InvalidId(id.to_string()))?;
        let mut kcpq_filters: Vec<(SubjectMap, Side)> = Vec::new();
        let mut nats_filters: Vec<(SubjectMap, Side)> = Vec::new();
        for route in &config.routes {
            match route.from {
                Side::Kcpq => kcpq_filters.push((route.map.clone(), Side::Kcpq)),
                Side::Nats | Side::Kafka => nats_filters.push((route.map.clone(), Side::Nats)),
            }
        }
        if !kcpq_filters.is_empty() {
            nats_filters.push((replies.clone(), Side::Nats));
        }
        if config.routes.iter().any(|r| r.from == Side::Nats) {
            kcpq_filters.push((replies, Side::Kcpq));
        }
        for (map, from) in kcpq_filters {
            let sub = kcpq::subscribe(&self.kcpq, map.filter()).await?;
            self.tasks.push(tokio::spawn(pump(map, from).kcpq(sub)));
        }
        for (map, from) in nats_filters {
            let filter = map.filter().to_owned();
            let sub = nats
                .subscribe(filter.clone())
                .await
                .map_err(|source| StartError::NatsSubscribe { filter, source })?;
            self.tasks.push(tokio::spawn(pump(map, from).nats(sub)));
        }
        nats.flush().await?;
        Ok(())
    }

    /// This bridge's id, as written in [`ORIGIN_HEADER`].
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The counters of every direction.
    pub fn stats(&self) -> Stats {
        self.counters.snapshot()
    }

    /// The connection events from now on.
    pub fn events(&self) -> broadcast::Receiver<BridgeEvent> {
        self.events.subscribe()
    }

    /// Stops forwarding; waits (bounded) for Kafka to acknowledge what the producer holds,
    /// commits the offsets of what KCPQ confirmed, flushes what NATS holds, and closes every
    /// connection.
    pub async fn shutdown(mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
        if let Some(inbound) = self.inbound.take() {
            let _ = inbound.stop.send(true);
            match tokio::time::timeout(SHUTDOWN_WAIT, inbound.task).await {
                Ok(Ok(consumer)) => {
                    // Closing leaves the group, a blocking call: off the runtime, bounded.
                    let close = tokio::task::spawn_blocking(move || drop(consumer));
                    if tokio::time::timeout(SHUTDOWN_WAIT, close).await.is_err() {
                        warn!(
                            "bridge {}: kafka consumer close took over {SHUTDOWN_WAIT:?}",
                            self.id
                        );
                    }
                }
                Ok(Err(e)) => warn!("bridge {}: kafka consumer task: {e}", self.id),
                Err(_) => warn!(
                    "bridge {}: kafka consumer stop took over {SHUTDOWN_WAIT:?}",
                    self.id
                ),
            }
        }
        if let Some(sink) = self.sink.take() {
            let flush = tokio::task::spawn_blocking(move || sink.flush(SHUTDOWN_WAIT));
            let _ = tokio::time::timeout(SHUTDOWN_WAIT * 2, flush).await;
        }
        if let Some(nats) = &self.nats {
            match tokio::time::timeout(SHUTDOWN_WAIT, nats.flush()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => warn!("bridge {}: nats flush at shutdown: {e}", self.id),
                Err(_) => warn!("bridge {}: nats flush at shutdown took over 5 s", self.id),
            }
        }
        kcpq::close(&self.kcpq).await;
        info!("bridge {}: stopped; {}", self.id, self.stats());
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        if let Some(inbound) = &self.inbound {
            inbound.task.abort();
        }
    }
}

/// Replaces the Kafka producer after a delivery timed out (see [`Sink::renew_if_stale`]).
async fn renew_stale(sink: Arc<Sink>) {
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    loop {
        ticks.tick().await;
        if sink.is_stale() {
            let sink = sink.clone();
            let _ = tokio::task::spawn_blocking(move || sink.renew_if_stale()).await;
        }
    }
}

async fn log_stats(id: Arc<str>, interval: Duration, counters: Arc<Counters>) {
    let mut ticks = tokio::time::interval(interval);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        info!("bridge {id}: {}", counters.snapshot());
    }
}
