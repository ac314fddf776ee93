//! The `[kafka]` table and the validated Kafka settings and routes.
//!
//! ```toml
//! [kafka]
//! brokers = "k1:9092,k2:9092"        # bootstrap servers
//! client_id = "edge1"                # optional; the bridge id
//! group_id = "kcpq-bridge-edge1"     # optional; "kcpq-bridge-<id>"
//! compression = "zstd"               # none, gzip, snappy, lz4 (default) or zstd
//! linger_ms = 5                      # optional; how long a batch waits to fill
//! batch_bytes = 1048576              # optional; the largest batch
//! max_in_flight_bytes = 16777216     # optional; KCPQ -> Kafka bytes not yet acknowledged
//! delivery_timeout_ms = 120000       # optional; a record not acknowledged by then fails
//! commit_batch = 256                 # optional; Kafka -> KCPQ records per flush and commit
//! [kafka.properties]                 # optional; passed to librdkafka as they are
//! "security.protocol" = "SASL_SSL"
//! "sasl.mechanism" = "SCRAM-SHA-512"
//! "sasl.username" = "edge1"
//! "sasl.password" = "secret"         # never logged: see KafkaConfig's Debug
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::template::{SubjectTemplate, TopicTemplate};

/// Default bound of KCPQ -> Kafka bytes handed to the producer and not yet acknowledged.
pub const DEFAULT_MAX_IN_FLIGHT_BYTES: u64 = 16 << 20;
/// Default number of Kafka -> KCPQ records handed to KCPQ before a flush and an offset commit.
pub const DEFAULT_COMMIT_BATCH: usize = 256;
/// Default time librdkafka keeps retrying a record before reporting it failed.
pub const DEFAULT_DELIVERY_TIMEOUT: Duration = Duration::from_secs(120);
/// Default time a batch waits for more records.
pub const DEFAULT_LINGER: Duration = Duration::from_millis(5);
/// Default largest batch, in bytes.
pub const DEFAULT_BATCH_BYTES: u64 = 1 << 20;

/// librdkafka properties the bridge sets itself, for its guarantees; `[kafka.properties]` may
/// not hold them.
pub const RESERVED_PROPERTIES: &[&str] = &[
    "bootstrap.servers",
    "client.id",
    "group.id",
    "enable.idempotence",
    "acks",
    "request.required.acks",
    "compression.type",
    "compression.codec",
    "linger.ms",
    "queue.buffering.max.ms",
    "batch.size",
    "message.timeout.ms",
    "delivery.timeout.ms",
    "queue.buffering.max.kbytes",
    "queue.buffering.max.messages",
    "enable.auto.commit",
    "enable.auto.offset.store",
];

/// The compression codec of produced batches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// No compression.
    None,
    /// Gzip.
    Gzip,
    /// Snappy.
    Snappy,
    /// LZ4, the default: cheap on the edge's CPU.
    #[default]
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Compression {
    /// librdkafka's name for it (`compression.type`).
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

/// The `[kafka]` table as written.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSection {
    /// Bootstrap servers, comma-separated `host:port`.
    pub brokers: String,
    /// The Kafka client id; the bridge id when absent.
    pub client_id: Option<String>,
    /// The consumer group of the `kafka -> kcpq` routes; `kcpq-bridge-<id>` when absent.
    pub group_id: Option<String>,
    /// The compression codec of produced batches.
    #[serde(default)]
    pub compression: Compression,
    /// How long a batch waits to fill, in milliseconds.
    pub linger_ms: Option<u64>,
    /// The largest batch, in bytes.
    pub batch_bytes: Option<u64>,
    /// Bound of KCPQ -> Kafka bytes not yet acknowledged; beyond it records are dropped.
    pub max_in_flight_bytes: Option<u64>,
    /// How long librdkafka retries a record before it counts as failed, in milliseconds.
    pub delivery_timeout_ms: Option<u64>,
    /// Kafka -> KCPQ records handed to KCPQ before a flush and an offset commit.
    pub commit_batch: Option<usize>,
    /// Further librdkafka properties (security settings, timeouts), passed as they are.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

impl fmt::Debug for KafkaSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaSection")
            .field("brokers", &self.brokers)
            .field("client_id", &self.client_id)
            .field("group_id", &self.group_id)
            .field("compression", &self.compression)
            .field("properties", &Redacted(&self.properties))
            .finish_non_exhaustive()
    }
}

/// Shows property names only: their values may be credentials.
struct Redacted<'a>(&'a BTreeMap<String, String>);

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|k| (k, "<redacted>")))
            .finish()
    }
}

/// The validated Kafka settings. Its `Debug` shows no property value (they may be credentials).
#[derive(Clone)]
pub struct KafkaConfig {
    /// Bootstrap servers.
    pub brokers: String,
    /// The Kafka client id.
    pub client_id: String,
    /// The consumer group.
    pub group_id: String,
    /// The compression codec.
    pub compression: Compression,
    /// How long a batch waits to fill.
    pub linger: Duration,
    /// The largest batch, in bytes.
    pub batch_bytes: u64,
    /// Bound of KCPQ -> Kafka bytes not yet acknowledged.
    pub max_in_flight_bytes: u64,
    /// How long a record is retried before it counts as failed.
    pub delivery_timeout: Duration,
    /// Kafka -> KCPQ records per flush and commit: the bound of records taken from Kafka whose
    /// offsets are not committed yet.
    pub commit_batch: usize,
    /// Further librdkafka properties.
    pub properties: BTreeMap<String, String>,
}

impl fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaConfig")
            .field("brokers", &self.brokers)
            .field("client_id", &self.client_id)
            .field("group_id", &self.group_id)
            .field("compression", &self.compression)
            .field("linger", &self.linger)
            .field("batch_bytes", &self.batch_bytes)
            .field("max_in_flight_bytes", &self.max_in_flight_bytes)
            .field("delivery_timeout", &self.delivery_timeout)
            .field("commit_batch", &self.commit_batch)
            .field("properties", &Redacted(&self.properties))
            .finish()
    }
}

impl KafkaConfig {
    /// Validates `section` for the bridge `id`; `Err` names a reserved property.
    pub(crate) fn new(section: KafkaSection, id: &str) -> Result<KafkaConfig, String> {
        if let Some(reserved) = section
            .properties
            .keys()
            .find(|k| RESERVED_PROPERTIES.contains(&k.as_str()))
        {
            return Err(reserved.clone());
        }
        Ok(KafkaConfig {
            brokers: section.brokers,
            client_id: section.client_id.unwrap_or_else(|| id.to_owned()),
            group_id: section
                .group_id
                .unwrap_or_else(|| format!("kcpq-bridge-{id}")),
            compression: section.compression,
            linger: section
                .linger_ms
                .map_or(DEFAULT_LINGER, Duration::from_millis),
            batch_bytes: section.batch_bytes.unwrap_or(DEFAULT_BATCH_BYTES).max(1),
            max_in_flight_bytes: section
                .max_in_flight_bytes
                .unwrap_or(DEFAULT_MAX_IN_FLIGHT_BYTES)
                .max(1),
            delivery_timeout: section
                .delivery_timeout_ms
                .map_or(DEFAULT_DELIVERY_TIMEOUT, Duration::from_millis),
            commit_batch: section.commit_batch.unwrap_or(DEFAULT_COMMIT_BATCH).max(1),
            properties: section.properties,
        })
    }
}

/// Where the key of a record produced to Kafka comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// No key: librdkafka's partitioner spreads the records.
    None,
    /// The n-th token (from 1) of the KCPQ subject.
    Token(usize),
    /// The value of this KCPQ header (no key when the message lacks it).
    Header(String),
}

/// A validated `kcpq -> kafka` route.
#[derive(Debug, Clone)]
pub struct KafkaOutRoute {
    /// The KCPQ filter subscribed to.
    pub filter: String,
    /// The topic each message goes to.
    pub topic: TopicTemplate,
    /// The record key.
    pub key: KeySource,
}

/// A validated `kafka -> kcpq` route.
#[derive(Debug, Clone)]
pub struct KafkaInRoute {
    /// The Kafka topic consumed.
    pub topic: String,
    /// The KCPQ subject each record is published on.
    pub subject: SubjectTemplate,
}
