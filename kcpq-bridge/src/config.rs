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
//! [nats]
//! url = "nats://127.0.0.1:4222"
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
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::mapping::{MappingError, SubjectMap};

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
}

/// Which side a route listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The KCPQ server.
    Kcpq,
    /// The NATS server.
    Nats,
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

/// The `[nats]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsSection {
    /// One or more server urls, comma-separated (`nats://host:4222`).
    pub url: String,
    /// User name, with `password`.
    pub user: Option<String>,
    /// Password, with `user`.
    pub password: Option<String>,
    /// Authentication token.
    pub token: Option<String>,
}

/// One `[[route]]` table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSection {
    /// The side whose messages are forwarded.
    pub from: Side,
    /// The filter subscribed to on that side.
    pub subject: String,
    /// The subject published on the other side; `subject` when absent.
    pub to_subject: Option<String>,
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
    /// The NATS side.
    pub nats: NatsSection,
    /// The routes.
    #[serde(default, rename = "route")]
    pub routes: Vec<RouteSection>,
}

/// A validated route.
#[derive(Debug, Clone)]
pub struct Route {
    /// The side whose messages are forwarded.
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
    /// The NATS side.
    pub nats: NatsSection,
    /// The routes.
    pub routes: Vec<Route>,
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
        if file.nats.user.is_some() != file.nats.password.is_some() {
            return Err(ConfigError::NatsCredentials);
        }
        if file.routes.is_empty() {
            return Err(ConfigError::NoRoute);
        }
        let routes = file
            .routes
            .iter()
            .enumerate()
            .map(|(i, route)| {
                let target = route.to_subject.as_deref().unwrap_or(&route.subject);
                SubjectMap::new(&route.subject, target)
                    .map(|map| Route {
                        from: route.from,
                        map,
                    })
                    .map_err(|source| ConfigError::Route {
                        index: i + 1,
                        source,
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let stats_secs = file
            .stats_interval_secs
            .unwrap_or(DEFAULT_STATS_INTERVAL.as_secs());
        Ok(Config {
            id,
            kcpq_addr,
            kcpq_key_file: file.kcpq.key_file.map(|key| dir.join(key)),
            nats: file.nats,
            routes,
            queue_capacity: file.queue_capacity.unwrap_or(DEFAULT_QUEUE_CAPACITY).max(1),
            stats_interval: (stats_secs > 0).then(|| Duration::from_secs(stats_secs)),
        })
    }
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
}
