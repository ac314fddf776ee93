//! The `kcpq.toml` file and its merge with the command line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kcpq_smol::core::fec::{FecConfig, FecMode};
use kcpq_smol::core::server::{DuplicateNames, ServerConfig};
use kcpq_smol::preset::Preset;
use serde::Deserialize;

/// Everything `kcpq.toml` may set; every field is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    /// UDP address to listen on.
    pub(crate) listen: Option<SocketAddr>,
    /// Key file.
    pub(crate) key_file: Option<PathBuf>,
    /// HTTP monitoring address.
    pub(crate) monitor: Option<SocketAddr>,
    /// Server name sent to clients.
    pub(crate) server_name: Option<String>,
    /// KCP preset.
    pub(crate) preset: Option<Preset>,
    /// Largest payload, headers included, in bytes.
    pub(crate) max_payload: Option<usize>,
    /// Most sessions at once.
    pub(crate) max_sessions: Option<usize>,
    /// Most subscriptions per session.
    pub(crate) max_subscriptions_per_session: Option<usize>,
    /// Per-session send buffer, in bytes (pending bytes per session).
    pub(crate) send_buffer_bytes: Option<usize>,
    /// Heartbeat interval clients are told to use, in seconds.
    pub(crate) ping_interval_secs: Option<u64>,
    /// Silence after which a session is dead at the latest, in seconds (a client is found dead
    /// after about two of its ping intervals, when that is shorter).
    pub(crate) dead_after_secs: Option<u64>,
    /// A CONNECT with a client name another instance holds: `take-over` (default) or `refuse`.
    pub(crate) duplicate_names: Option<DuplicateNamesSetting>,
    /// At the session limit, evict the session silent the longest if it missed a PING
    /// (default true).
    pub(crate) evict_silent_when_full: Option<bool>,
    /// Messages of at least this many payload bytes go cut-through (forwarded as their bytes
    /// arrive); 0 turns it off (default 16384).
    pub(crate) cut_through_min_bytes: Option<usize>,
    /// Forward error correction for clients that offer it: `off` (default), `auto` (parity
    /// from measured loss) or a fixed ratio `DATA/PARITY` such as `10/3`.
    #[serde(default, deserialize_with = "fec_mode")]
    pub(crate) fec: Option<FecMode>,
    /// Worker threads (default: the available cores, at most 16); 1 runs everything on one
    /// thread.
    pub(crate) workers: Option<usize>,
    /// Time given to CLOSE frames at shutdown, in milliseconds.
    pub(crate) shutdown_linger_ms: Option<u64>,
    /// At SIGINT/SIGTERM, how long queued messages may still be delivered before the sessions
    /// are closed, in milliseconds (0: close at once).
    pub(crate) drain_timeout_ms: Option<u64>,
    /// Requested socket receive buffer, in bytes.
    pub(crate) socket_recv_buffer: Option<usize>,
    /// Requested socket send buffer, in bytes.
    pub(crate) socket_send_buffer: Option<usize>,
    /// Batched UDP system calls and segmentation offload (recvmmsg, GRO, GSO); default on.
    pub(crate) socket_offload: Option<bool>,
}

/// `duplicate_names` in `kcpq.toml` and `--duplicate-names`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum DuplicateNamesSetting {
    /// The new connection takes the name over; the old one is closed and told not to return.
    TakeOver,
    /// The new connection is refused until the old session ends.
    Refuse,
}

/// Why the configuration file could not be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    /// Unreadable.
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not valid TOML or unknown keys.
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
}

impl FileConfig {
    /// Reads `path`.
    pub(crate) fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })
    }

    /// The core server configuration these settings describe.
    pub(crate) fn server_config(&self) -> ServerConfig {
        let mut config = ServerConfig::default();
        if let Some(name) = &self.server_name {
            config.server_name.clone_from(name);
        }
        config.kcp = self.preset.unwrap_or(Preset::Fast).kcp();
        if let Some(bytes) = self.send_buffer_bytes {
            config.kcp.send_buffer_limit = bytes;
        }
        if let Some(max) = self.max_payload {
            config.max_payload = max;
        }
        if let Some(max) = self.max_sessions {
            config.max_sessions = max;
        }
        if let Some(max) = self.max_subscriptions_per_session {
            config.max_subscriptions_per_session = max;
        }
        if let Some(secs) = self.ping_interval_secs {
            config.ping_interval = Duration::from_secs(secs);
        }
        if let Some(secs) = self.dead_after_secs {
            config.dead_after = Duration::from_secs(secs);
        }
        if let Some(setting) = self.duplicate_names {
            config.duplicate_names = match setting {
                DuplicateNamesSetting::TakeOver => DuplicateNames::TakeOver,
                DuplicateNamesSetting::Refuse => DuplicateNames::Refuse,
            };
        }
        if let Some(evict) = self.evict_silent_when_full {
            config.evict_silent_when_full = evict;
        }
        if let Some(min) = self.cut_through_min_bytes {
            config.cut_through.min_payload = (min > 0).then_some(min);
        }
        if let Some(mode) = self.fec {
            config.fec = FecConfig::with_mode(mode);
        }
        config
    }
}

/// Reads `fec = "off" | "auto" | "D/P"`, refusing anything else with the reason.
fn fec_mode<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<FecMode>, D::Error> {
    let text = String::deserialize(d)?;
    text.parse().map(Some).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::FileConfig;

    #[test]
    fn socket_settings_parse_and_offload_is_unset_by_default() {
        let file: FileConfig = toml::from_str(
            "socket_recv_buffer = 1024\nsocket_send_buffer = 2048\nsocket_offload = false\n",
        )
        .expect("valid config");
        assert_eq!(file.socket_recv_buffer, Some(1024));
        assert_eq!(file.socket_send_buffer, Some(2048));
        assert_eq!(file.socket_offload, Some(false));
        let empty: FileConfig = toml::from_str("").expect("empty config");
        assert_eq!(empty.socket_offload, None);
        assert!(toml::from_str::<FileConfig>("socket_offload = \"no\"\n").is_err());
    }

    #[test]
    fn fec_is_off_by_default_and_invalid_ratios_are_refused() {
        use kcpq_smol::core::fec::FecMode;
        assert_eq!(FileConfig::default().server_config().fec.mode, FecMode::Off);
        let file: FileConfig = toml::from_str("fec = \"10/3\"\n").expect("valid");
        assert_eq!(
            file.server_config().fec.mode,
            FecMode::Fixed {
                data: 10,
                parity: 3
            }
        );
        let file: FileConfig = toml::from_str("fec = \"auto\"\n").expect("valid");
        assert_eq!(file.server_config().fec.mode, FecMode::Auto);
        let err = toml::from_str::<FileConfig>("fec = \"10/0\"\n").unwrap_err();
        assert!(err.to_string().contains("use off for no parity"), "{err}");
    }

    #[test]
    fn cut_through_is_on_by_default_and_zero_turns_it_off() {
        let default = FileConfig::default().server_config();
        assert_eq!(default.cut_through.min_payload, Some(16 * 1024));
        let file: FileConfig = toml::from_str("cut_through_min_bytes = 0\n").expect("valid");
        assert_eq!(file.server_config().cut_through.min_payload, None);
        let file: FileConfig = toml::from_str("cut_through_min_bytes = 4096\n").expect("valid");
        assert_eq!(file.server_config().cut_through.min_payload, Some(4096));
    }

    #[test]
    fn the_example_in_the_operations_guide_parses() {
        let guide = include_str!("../../../../docs/operations.md");
        let start = guide.find("```toml\n").expect("a toml block") + "```toml\n".len();
        let end = start + guide[start..].find("```").expect("its end");
        let file: FileConfig = toml::from_str(&guide[start..end]).expect("the example parses");
        assert_eq!(file.drain_timeout_ms, Some(5000));
        assert_eq!(file.shutdown_linger_ms, Some(1000));
        assert!(file.socket_offload.is_some() && file.dead_after_secs.is_some());
    }
}
