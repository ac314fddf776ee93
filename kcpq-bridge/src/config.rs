//! The bridge's TOML configuration file.
//!
//! ```toml
//! id = "edge1"                       # optional; a random id otherwise
//! queue_capacity = 1024              # optional; messages waiting per direction
//! stats_interval_secs = 60           # optional; 0 turns the periodic counters log off
//!
//! [kcpq]
//! url = "kcp://127.0.0.1:4000"
//! key_file = "kcpq.key"              # optional; relative to this file's directory
//!
//! [nats]                             # needed by routes from or to "nats"
//! url = ["nats://10.0.0.1:4222", "nats://10.0.0.2:4222"]   # or one string, comma-separated
//!
//! [kafka]                            # needed by routes from or to "kafka": see [`kafka`]
//! brokers = "10.0.0.9:9092"
//!
//! [[route]]
//! from = "kcpq"
//! subject = "telemetry.>"
//! to_subject = "edge1.telemetry.>"   # optional; the same subject otherwise
//!
//! [[route]]
//! from = "nats"
//! subject = "edge1.commands.*"
//! to_subject = "commands.*"
//!
//! [[route]]
//! from = "kcpq"
//! to = "kafka"                       # optional; "nats" for a route from "kcpq" otherwise
//! subject = "sensors.*.>"
//! topic = "sensors-{2}"              # {N}: the N-th token of the subject
//! key_token = 3                      # or key_header = "Device"; no key otherwise
//!
//! [[route]]
//! from = "kafka"
//! topic = "commands"
//! to_subject = "edge1.cmd.{key}"     # {topic}, {key}
//! ```

pub mod kafka;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::mapping::{MappingError, SubjectMap};
use crate::template::{SubjectTemplate, TemplateError, TopicTemplate};
use kafka::{KafkaConfig, KafkaInRoute, KafkaOutRoute, KafkaSection, KeySource};

/// Default bound of messages waiting to be published, per direction.
pub const DEFAULT_QUEUE_CAPACITY: usize = 1024;
/// Default period of the counters log line.
pub const DEFAULT_STATS_INTERVAL: Duration = Duration::from_secs(60);

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        source: std::io::Error,
    },
    /// The file is not valid TOML or holds unknown or mistyped fields.
    #[error("invalid configuration: {0}")]
    Parse(#[from] toml::de::Error),
    /// The KCPQ url is not `kcp://host:port`.
    #[error("the kcpq url {0:?} must look like kcp://host:port")]
    KcpqUrl(String),
    /// A route's subject mapping is invalid.
    #[error("route {index}: {source}")]
    Route {
        /// The route's position in the file, from 1.
        index: usize,
        /// What is wrong.
        source: MappingError,
    },
    /// The bridge id is empty or not a plain token.
    #[error("the bridge id {0:?} must be non-empty printable ASCII without spaces, ':' or ','")]
    Id(String),
    /// `[nats]` names a user without a password, or a password without a user.
    #[error("[nats] needs both user and password, or neither")]
    NatsCredentials,
    /// There is nothing to bridge.
    #[error("the configuration holds no route")]
    NoRoute,
    /// A route's fields do not fit its direction.
    #[error("route {index}: {reason}")]
    InvalidRoute {
        /// The route's position in the file, from 1.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// A route's topic or subject template is invalid.
    #[error("route {index}: {source}")]
    Template {
        /// The route's position in the file, from 1.
        index: usize,
        /// What is wrong.
        source: TemplateError,
    },
    /// A route uses a side whose table is missing.
    #[error("route {index} uses {side}, but the file has no [{side}] table")]
    MissingSection {
        /// The route's position in the file, from 1.
        index: usize,
        /// The table's name.
        side: &'static str,
    },
    /// `[kafka.properties]` sets a property the bridge sets itself.
    #[error("[kafka.properties] may not set {0:?}: the bridge sets it (see its [kafka] fields)")]
    ReservedKafkaProperty(String),
}

/// Which side a route listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The KCPQ server.
    Kcpq,
    /// The NATS server (or cluster).
    Nats,
    /// The Kafka cluster.
    Kafka,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Kcpq => "kcpq",
            Side::Nats => "nats",
            Side::Kafka => "kafka",
        }
    }
}

/// The `[kcpq]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KcpqSection {
    /// `kcp://host:port`.
    pub url: String,
    /// The pre-shared key file; without it, `KCPQ_AES256_KEY_HEX` then `./kcpq.key`.
    pub key_file: Option<PathBuf>,
}

/// One or more NATS server urls: a list, or one string with the urls comma-separated.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum NatsUrls {
    /// `"nats://a:4222,nats://b:4222"`.
    One(String),
    /// `["nats://a:4222", "nats://b:4222"]`.
    List(Vec<String>),
}

impl NatsUrls {
    /// Every url, in order.
    pub fn to_vec(&self) -> Vec<String> {
        let parts: Vec<&str> = match self {
            NatsUrls::One(urls) => urls.split(',').collect(),
            NatsUrls::List(urls) => urls.iter().flat_map(|u| u.split(',')).collect(),
        };
        parts
            .into_iter()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

impl fmt::Display for NatsUrls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_vec().join(","))
    }
}

/// The `[nats]` table. Its `Debug` shows neither the password nor the token.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsSection {
    /// The server urls; the client connects to one and moves to another when it is lost.
    pub url: NatsUrls,
    /// User name, with `password`.
    pub user: Option<String>,
    /// Password, with `user`.
    pub password: Option<String>,
    /// Authentication token.
    pub token: Option<String>,
}

impl fmt::Debug for NatsSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsSection")
            .field("url", &self.url)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// One `[[route]]` table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSection {
    /// The side whose messages are forwarded.
    pub from: Side,
    /// The side they go to: `nats` for a route from `kcpq` when absent, else `kcpq`.
    pub to: Option<Side>,
    /// The filter subscribed to on the KCPQ or NATS side.
    pub subject: Option<String>,
    /// The subject published on the other side (a template for a route from `kafka`);
    /// `subject` when absent.
    pub to_subject: Option<String>,
    /// The topic: a template for a route to `kafka`, the topic consumed for one from `kafka`.
    pub topic: Option<String>,
    /// A route to `kafka`: the record key is this token of the subject (from 1).
    pub key_token: Option<usize>,
    /// A route to `kafka`: the record key is the value of this header.
    pub key_header: Option<String>,
}

/// The file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// This bridge's id, written in the loop marker of every message it forwards.
    pub id: Option<String>,
    /// Bound of messages waiting to be published, per direction.
    pub queue_capacity: Option<usize>,
    /// Period of the counters log line, in seconds; 0 turns it off.
    pub stats_interval_secs: Option<u64>,
    /// The KCPQ side.
    pub kcpq: KcpqSection,
    /// The NATS side, for routes from or to NATS.
    pub nats: Option<NatsSection>,
    /// The Kafka side, for routes from or to Kafka.
    pub kafka: Option<KafkaSection>,
    /// The routes.
    #[serde(default, rename = "route")]
    pub routes: Vec<RouteSection>,
}

/// A validated route between KCPQ and NATS.
#[derive(Debug, Clone)]
pub struct Route {
    /// The side whose messages are forwarded: [`Side::Kcpq`] or [`Side::Nats`].
    pub from: Side,
    /// The filter and its mapping to the other side.
    pub map: SubjectMap,
}

/// A validated configuration, ready for [`crate::Bridge::start`].
#[derive(Debug, Clone)]
pub struct Config {
    /// This bridge's id.
    pub id: String,
    /// `host:port` of the KCPQ server.
    pub kcpq_addr: String,
    /// The KCPQ key file, if named.
    pub kcpq_key_file: Option<PathBuf>,
    /// The NATS side, if a route uses it.
    pub nats: Option<NatsSection>,
    /// The Kafka side, if a route uses it.
    pub kafka: Option<KafkaConfig>,
    /// The routes between KCPQ and NATS.
    pub routes: Vec<Route>,
    /// The routes from KCPQ to Kafka.
    pub kafka_out: Vec<KafkaOutRoute>,
    /// The routes from Kafka to KCPQ.
    pub kafka_in: Vec<KafkaInRoute>,
    /// Bound of messages waiting to be published, per direction.
    pub queue_capacity: usize,
    /// Period of the counters log line; `None` turns it off.
    pub stats_interval: Option<Duration>,
}

impl Config {
    /// Reads and validates the file at `path`; a relative key file is taken relative to the
    /// file's directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Config::from_toml(&text, dir)
    }

    /// Parses and validates `text`; a relative key file is taken relative to `dir`.
    pub fn from_toml(text: &str, dir: &Path) -> Result<Config, ConfigError> {
        let file: FileConfig = toml::from_str(text)?;
        Config::from_file(file, dir)
    }

    /// Validates `file`; a relative key file is taken relative to `dir`.
    pub fn from_file(file: FileConfig, dir: &Path) -> Result<Config, ConfigError> {
        let kcpq_addr = file
            .kcpq
            .url
            .strip_prefix("kcp://")
            .filter(|rest| {
                rest.rsplit_once(':')
                    .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
            })
            .ok_or_else(|| ConfigError::KcpqUrl(file.kcpq.url.clone()))?
            .to_owned();
        let id = match file.id {
            Some(id) => {
                let plain = !id.is_empty()
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_graphic() && b != b':' && b != b',');
                if !plain {
                    return Err(ConfigError::Id(id));
                }
                id
            }
            None => random_id(),
        };
        if let Some(nats) = &file.nats
            && nats.user.is_some() != nats.password.is_some()
        {
            return Err(ConfigError::NatsCredentials);
        }
        if file.routes.is_empty() {
            return Err(ConfigError::NoRoute);
        }
        let kafka = file
            .kafka
            .map(|section| KafkaConfig::new(section, &id))
            .transpose()
            .map_err(ConfigError::ReservedKafkaProperty)?;
        let mut routes = Vec::new();
        let mut kafka_out = Vec::new();
        let mut kafka_in = Vec::new();
        for (i, section) in file.routes.iter().enumerate() {
            let index = i + 1;
            let to = section.to.unwrap_or(match section.from {
                Side::Kcpq => Side::Nats,
                Side::Nats | Side::Kafka => Side::Kcpq,
            });
            for side in [section.from, to] {
                let present = match side {
                    Side::Kcpq => true,
                    Side::Nats => file.nats.is_some(),
                    Side::Kafka => kafka.is_some(),
                };
                if !present {
                    return Err(ConfigError::MissingSection {
                        index,
                        side: side.name(),
                    });
                }
            }
            match (section.from, to) {
                (Side::Kcpq, Side::Nats) | (Side::Nats, Side::Kcpq) => {
                    routes.push(nats_route(index, section)?);
                }
                (Side::Kcpq, Side::Kafka) => kafka_out.push(kafka_out_route(index, section)?),
                (Side::Kafka, Side::Kcpq) => kafka_in.push(kafka_in_route(index, section)?),
                (from, to) => {
                    return Err(ConfigError::InvalidRoute {
                        index,
                        reason: format!(
                            "from {} to {}: every route has KCPQ on one end",
                            from.name(),
                            to.name()
                        ),
                    });
                }
            }
        }
        let stats_secs = file
            .stats_interval_secs
            .unwrap_or(DEFAULT_STATS_INTERVAL.as_secs());
        Ok(Config {
            id,
            kcpq_addr,
            kcpq_key_file: file.kcpq.key_file.map(|key| dir.join(key)),
            nats: file.nats,
            kafka,
            routes,
            kafka_out,
            kafka_in,
            queue_capacity: file.queue_capacity.unwrap_or(DEFAULT_QUEUE_CAPACITY).max(1),
            stats_interval: (stats_secs > 0).then(|| Duration::from_secs(stats_secs)),
        })
    }
}

/// Refuses a field this route's direction does not use.
fn refuse(index: usize, present: bool, field: &str, route: &str) -> Result<(), ConfigError> {
    if present {
        return Err(ConfigError::InvalidRoute {
            index,
            reason: format!("a route {route} has no `{field}`"),
        });
    }
    Ok(())
}

/// The field this route's direction needs.
fn need<'a>(index: usize, value: Option<&'a str>, field: &str) -> Result<&'a str, ConfigError> {
    value.ok_or_else(|| ConfigError::InvalidRoute {
        index,
        reason: format!("`{field}` is missing"),
    })
}

fn nats_route(index: usize, section: &RouteSection) -> Result<Route, ConfigError> {
    let route = "between kcpq and nats";
    refuse(index, section.topic.is_some(), "topic", route)?;
    refuse(index, section.key_token.is_some(), "key_token", route)?;
    refuse(index, section.key_header.is_some(), "key_header", route)?;
    let subject = need(index, section.subject.as_deref(), "subject")?;
    let target = section.to_subject.as_deref().unwrap_or(subject);
    SubjectMap::new(subject, target)
        .map(|map| Route {
            from: section.from,
            map,
        })
        .map_err(|source| ConfigError::Route { index, source })
}

fn kafka_out_route(index: usize, section: &RouteSection) -> Result<KafkaOutRoute, ConfigError> {
    refuse(
        index,
        section.to_subject.is_some(),
        "to_subject",
        "to kafka",
    )?;
    let filter = need(index, section.subject.as_deref(), "subject")?;
    // A filter maps onto itself exactly when it is valid.
    SubjectMap::new(filter, filter).map_err(|source| ConfigError::Route { index, source })?;
    let topic = TopicTemplate::new(need(index, section.topic.as_deref(), "topic")?)
        .map_err(|source| ConfigError::Template { index, source })?;
    let key = match (section.key_token, &section.key_header) {
        (None, None) => KeySource::None,
        (Some(0), None) => {
            return Err(ConfigError::InvalidRoute {
                index,
                reason: "key_token counts tokens from 1".to_owned(),
            });
        }
        (Some(n), None) => KeySource::Token(n),
        (None, Some(header)) => KeySource::Header(header.clone()),
        (Some(_), Some(_)) => {
            return Err(ConfigError::InvalidRoute {
                index,
                reason: "key_token and key_header exclude each other".to_owned(),
            });
        }
    };
    Ok(KafkaOutRoute {
        filter: filter.to_owned(),
        topic,
        key,
    })
}

fn kafka_in_route(index: usize, section: &RouteSection) -> Result<KafkaInRoute, ConfigError> {
    let route = "from kafka";
    refuse(
        index,
        section.subject.is_some(),
        "subject (use topic)",
        route,
    )?;
    refuse(index, section.key_token.is_some(), "key_token", route)?;
    refuse(index, section.key_header.is_some(), "key_header", route)?;
    let topic = need(index, section.topic.as_deref(), "topic")?;
    if !crate::template::valid_topic(topic) {
        return Err(ConfigError::InvalidRoute {
            index,
            reason: format!("{topic:?} is not a valid Kafka topic name"),
        });
    }
    let subject = SubjectTemplate::new(need(index, section.to_subject.as_deref(), "to_subject")?)
        .map_err(|source| ConfigError::Template { index, source })?;
    Ok(KafkaInRoute {
        topic: topic.to_owned(),
        subject,
    })
}

/// A fresh id: `kcpq-bridge-` and 16 hex digits (a time-based fallback if the system's random
/// source fails, which only weakens uniqueness).
fn random_id() -> String {
    let n = getrandom::u64().unwrap_or_else(|_| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64 ^ u64::from(std::process::id()))
            .unwrap_or(u64::from(std::process::id()))
    });
    format!("kcpq-bridge-{n:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
        id = "edge1"
        [kcpq]
        url = "kcp://127.0.0.1:4000"
        key_file = "kcpq.key"
        [nats]
        url = "nats://127.0.0.1:4222"
        [[route]]
        from = "kcpq"
        subject = "telemetry.>"
        to_subject = "edge1.telemetry.>"
        [[route]]
        from = "nats"
        subject = "cmd.*"
    "#;

    #[test]
    fn a_sample_file_loads() {
        let config = Config::from_toml(SAMPLE, Path::new("/etc/kcpq")).expect("valid");
        assert_eq!(config.id, "edge1");
        assert_eq!(config.kcpq_addr, "127.0.0.1:4000");
        assert_eq!(
            config.kcpq_key_file.as_deref(),
            Some(Path::new("/etc/kcpq/kcpq.key"))
        );
        assert_eq!(config.routes.len(), 2);
        assert_eq!(config.routes[1].from, Side::Nats);
        assert_eq!(config.routes[1].map.map("cmd.x").as_deref(), Some("cmd.x"));
        assert_eq!(config.queue_capacity, DEFAULT_QUEUE_CAPACITY);
    }

    #[test]
    fn the_example_file_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("example.toml");
        let config = Config::load(&path).expect("a valid example");
        assert_eq!(config.id, "edge1");
        assert_eq!(config.kcpq_addr, "127.0.0.1:4000");
        assert_eq!(config.kcpq_key_file, None);
        assert_eq!(
            config.routes[0].map.map("telemetry.cpu.load").as_deref(),
            Some("edge1.telemetry.cpu.load")
        );
        assert_eq!(
            config.routes[1].map.map("edge1.cmd.reboot").as_deref(),
            Some("cmd.reboot")
        );
    }

    #[test]
    fn the_kafka_example_file_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("example-kafka.toml");
        let config = Config::load(&path).expect("a valid example");
        assert!(config.nats.is_none());
        assert_eq!(config.kafka_out.len(), 1);
        assert_eq!(
            config.kafka_out[0]
                .topic
                .render("sensors.temp.d7")
                .as_deref(),
            Ok("sensors-temp")
        );
        assert_eq!(
            config.kafka_in[0]
                .subject
                .render("edge1-commands", Some(b"d7"))
                .as_deref(),
            Ok("cmd.d7")
        );
    }

    #[test]
    fn bad_urls_ids_and_routes_are_refused() {
        let bad_url = SAMPLE.replace("kcp://127.0.0.1:4000", "udp://127.0.0.1:4000");
        assert!(matches!(
            Config::from_toml(&bad_url, Path::new(".")),
            Err(ConfigError::KcpqUrl(_))
        ));
        let bad_id = SAMPLE.replace("\"edge1\"", "\"a b\"");
        assert!(matches!(
            Config::from_toml(&bad_id, Path::new(".")),
            Err(ConfigError::Id(_))
        ));
        let bad_route = SAMPLE.replace("\"edge1.telemetry.>\"", "\"edge1.*\"");
        assert!(matches!(
            Config::from_toml(&bad_route, Path::new(".")),
            Err(ConfigError::Route { index: 1, .. })
        ));
        let lone_user = SAMPLE.replace("4222\"", "4222\"\nuser = \"u\"");
        assert!(matches!(
            Config::from_toml(&lone_user, Path::new(".")),
            Err(ConfigError::NatsCredentials)
        ));
        let unknown = format!("{SAMPLE}\n[extra]\n");
        assert!(matches!(
            Config::from_toml(&unknown, Path::new(".")),
            Err(ConfigError::Parse(_))
        ));
    }

    const KAFKA: &str = r#"
        id = "edge1"
        [kcpq]
        url = "kcp://127.0.0.1:4000"
        [kafka]
        brokers = "127.0.0.1:9092"
        compression = "zstd"
        [kafka.properties]
        "security.protocol" = "SASL_SSL"
        "sasl.password" = "hunter2"
        [[route]]
        from = "kcpq"
        to = "kafka"
        subject = "sensors.*.>"
        topic = "sensors-{2}"
        key_token = 3
        [[route]]
        from = "kafka"
        topic = "commands"
        to_subject = "cmd.{key}"
    "#;

    #[test]
    fn kafka_routes_load_without_nats() {
        let config = Config::from_toml(KAFKA, Path::new(".")).expect("valid");
        assert!(config.nats.is_none() && config.routes.is_empty());
        let kafka = config.kafka.as_ref().expect("[kafka]");
        assert_eq!(kafka.group_id, "kcpq-bridge-edge1");
        assert_eq!(kafka.client_id, "edge1");
        assert_eq!(kafka.compression, kafka::Compression::Zstd);
        assert_eq!(config.kafka_out.len(), 1);
        assert_eq!(config.kafka_out[0].key, KeySource::Token(3));
        assert_eq!(
            config.kafka_out[0].topic.render("sensors.t1.a").as_deref(),
            Ok("sensors-t1")
        );
        assert_eq!(config.kafka_in[0].topic, "commands");
        // Credentials stay out of every Debug rendering.
        let shown = format!("{config:?}");
        assert!(
            shown.contains("sasl.password") && !shown.contains("hunter2"),
            "{shown}"
        );
    }

    #[test]
    fn nats_urls_come_as_a_list_or_a_string() {
        let list = SAMPLE.replace(
            "url = \"nats://127.0.0.1:4222\"",
            "url = [\"nats://a:1\", \"nats://b:2\"]\npassword = \"p\"\nuser = \"u\"",
        );
        let config = Config::from_toml(&list, Path::new(".")).expect("valid");
        let nats = config.nats.expect("[nats]");
        assert_eq!(nats.url.to_vec(), ["nats://a:1", "nats://b:2"]);
        assert!(!format!("{nats:?}").contains("\"p\""));
        let one = NatsUrls::One("nats://a:1, nats://b:2".into());
        assert_eq!(one.to_vec(), ["nats://a:1", "nats://b:2"]);
    }

    #[test]
    fn bad_kafka_routes_are_refused() {
        let error = |text: &str| Config::from_toml(text, Path::new(".")).expect_err("refused");
        let reserved = KAFKA.replace("\"security.protocol\"", "\"enable.idempotence\"");
        assert!(matches!(
            error(&reserved),
            ConfigError::ReservedKafkaProperty(_)
        ));
        let bad_topic = KAFKA.replace("sensors-{2}", "sensors {2}");
        assert!(matches!(
            error(&bad_topic),
            ConfigError::Template { index: 1, .. }
        ));
        let both_keys = KAFKA.replace("key_token = 3", "key_token = 3\nkey_header = \"K\"");
        assert!(matches!(
            error(&both_keys),
            ConfigError::InvalidRoute { index: 1, .. }
        ));
        let bad_subject = KAFKA.replace("cmd.{key}", "cmd.{partition}");
        assert!(matches!(
            error(&bad_subject),
            ConfigError::Template { index: 2, .. }
        ));
        let no_section = KAFKA.replace("[kafka]", "[kafka_x]");
        assert!(matches!(error(&no_section), ConfigError::Parse(_)));
        let to_nats = KAFKA.replace("to = \"kafka\"", "to = \"nats\"");
        assert!(matches!(
            error(&to_nats),
            ConfigError::MissingSection {
                index: 1,
                side: "nats"
            }
        ));
        let kafka_to_nats = KAFKA.replace("from = \"kafka\"", "from = \"kafka\"\nto = \"nats\"");
        assert!(matches!(
            error(&kafka_to_nats),
            ConfigError::MissingSection { index: 2, .. }
        ));
    }
}
