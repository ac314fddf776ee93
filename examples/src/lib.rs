//! Runnable KCPQ examples live in `examples/examples/`; run one with
//! `cargo run -p kcpq-examples --example NAME`. This library holds what several examples share:
//! the key they connect with, latency percentiles, and the frame format of the video relay.
#![warn(missing_docs)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kcpq_core::crypto::key::KEY_ENV_VAR;
use kcpq_core::crypto::{Key, KeySet};

/// The error type of the examples: anything, across threads.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// A fresh random key, for a server the example embeds (clients in the same process share it).
pub fn random_keys() -> Result<KeySet, Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no OS randomness: {e}"))?;
    Ok(KeySet::single(Key::from_bytes(bytes)))
}

/// The key to reach an external server: the environment variable `KCPQ_AES256_KEY_HEX`.
pub fn env_keys() -> Result<KeySet, Error> {
    KeySet::from_env().map_err(|e| format!("{e} (set {KEY_ENV_VAR} to the server's key)").into())
}

/// The value following `flag` in `args` (`--count 10`), parsed; `default` when absent.
pub fn arg<T: std::str::FromStr>(args: &[String], flag: &str, default: T) -> Result<T, Error>
where
    T::Err: std::fmt::Display,
{
    match args.iter().position(|a| a == flag) {
        None => Ok(default),
        Some(i) => {
            let text = args.get(i + 1).ok_or(format!("{flag} needs a value"))?;
            text.parse()
                .map_err(|e| format!("{flag} {text}: {e}").into())
        }
    }
}

/// The value following `flag` in `args`, if present.
pub fn opt_arg(args: &[String], flag: &str) -> Option<String> {
    let i = args.iter().position(|a| a == flag)?;
    args.get(i + 1).cloned()
}

/// Latency samples and their percentiles.
#[derive(Debug, Clone, Default)]
pub struct Latencies(Vec<Duration>);

impl Latencies {
    /// Records one sample.
    pub fn push(&mut self, sample: Duration) {
        self.0.push(sample);
    }

    /// How many samples.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `p`-th percentile (0..=100, nearest rank); zero without samples.
    pub fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    }

    /// `p50 .. p90 .. p99 .. max` in a line.
    pub fn summary(&self) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        format!(
            "p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            ms(self.percentile(50.0)),
            ms(self.percentile(90.0)),
            ms(self.percentile(99.0)),
            ms(self.percentile(100.0)),
        )
    }
}

/// The header the frame relay puts in front of every frame it publishes: a sequence number and
/// the send time, so receivers count gaps and measure latency (the wall clock: relay and
/// receivers on one host, or hosts with synchronised clocks).
pub mod frame {
    use super::{Duration, SystemTime, UNIX_EPOCH};

    /// Bytes of the header: sequence number then send time in µs since the Unix epoch, both
    /// little-endian `u64`.
    pub const HEADER_LEN: usize = 16;

    /// Microseconds since the Unix epoch now.
    pub fn now_micros() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
    }

    /// Writes the header for frame `seq` sent now into the first [`HEADER_LEN`] bytes of `frame`.
    pub fn stamp(frame: &mut [u8], seq: u64) {
        frame[..8].copy_from_slice(&seq.to_le_bytes());
        frame[8..HEADER_LEN].copy_from_slice(&now_micros().to_le_bytes());
    }

    /// The sequence number and the age of a received frame; `None` if it is too short.
    pub fn read(frame: &[u8]) -> Option<(u64, Duration)> {
        let seq = u64::from_le_bytes(frame.get(..8)?.try_into().ok()?);
        let sent = u64::from_le_bytes(frame.get(8..HEADER_LEN)?.try_into().ok()?);
        Some((
            seq,
            Duration::from_micros(now_micros().saturating_sub(sent)),
        ))
    }
}

/// Settings for live video: the `video` KCP preset on both ends and a payload limit that fits
/// the frames.
pub mod video {
    use kcpq_core::client::ClientConfig;
    use kcpq_core::kcp::KcpConfig;
    use kcpq_core::server::{DEFAULT_MAX_PAYLOAD, ServerConfig};

    /// The payload limit for frames of up to `frame_len` bytes (header included): never below
    /// the default 1 MiB, raised with room for headers above it.
    pub fn max_payload(frame_len: usize) -> usize {
        DEFAULT_MAX_PAYLOAD.max(frame_len + 4096)
    }

    /// The `video` preset, its send buffer raised when a frame of `max_payload` would not fit
    /// beside a window in flight and the low watermark (frames of several MB).
    fn kcp(max_payload: usize) -> KcpConfig {
        let mut kcp = KcpConfig::video();
        let window = usize::from(kcp.send_window) * kcp.mtu;
        kcp.send_buffer_limit = kcp.send_buffer_limit.max(2 * window + 2 * max_payload);
        kcp
    }

    /// A server for frames of up to `frame_len` bytes.
    pub fn server_config(frame_len: usize) -> ServerConfig {
        let max_payload = max_payload(frame_len);
        let mut config = ServerConfig::default();
        config.max_payload = max_payload;
        config.kcp = kcp(max_payload);
        config
    }

    /// A client publishing or receiving frames of up to `frame_len` bytes.
    pub fn client_config(frame_len: usize) -> ClientConfig {
        let max_payload = max_payload(frame_len);
        let mut config = ClientConfig::default();
        config.kcp = kcp(max_payload);
        config.max_outbox_bytes = config.max_outbox_bytes.max(4 * max_payload);
        config
    }
}
