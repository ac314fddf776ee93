//! Command-line arguments.

use std::time::Duration;

use clap::Parser;
use kcpq_impair::Params;

use crate::sys::tun::TunSpec;

/// Forward raw IP packets between two TUN devices, applying loss, delay, jitter and reordering
/// to each direction. Prints counters and its own CPU time on SIGINT/SIGTERM (and on SIGUSR1,
/// without exiting).
#[derive(Debug, Parser)]
#[command(name = "kcpq-impair", version)]
pub(crate) struct Args {
    /// Device on side A (the clients' side).
    #[arg(long, default_value = "tun-a")]
    pub(crate) a_dev: String,
    /// Named network namespace of side A's device; "" for the forwarder's own namespace.
    #[arg(long, default_value = "kcpq-a")]
    pub(crate) a_netns: String,
    /// Device on side B (the servers' side).
    #[arg(long, default_value = "tun-b")]
    pub(crate) b_dev: String,
    /// Named network namespace of side B's device; "" for the forwarder's own namespace.
    #[arg(long, default_value = "kcpq-b")]
    pub(crate) b_netns: String,
    /// Packet loss in percent, each direction (independent Bernoulli trials).
    #[arg(long, default_value_t = 0.0, value_name = "PCT")]
    pub(crate) loss: f64,
    /// Mean number of consecutive packets lost (Gilbert model: losses in runs of this mean
    /// length, `--loss` percent of packets in the long run); 1: independent losses.
    #[arg(long, default_value_t = 1.0, value_name = "PACKETS")]
    pub(crate) burst: f64,
    /// One-way delay in milliseconds, each direction (RTT = 2 x delay).
    #[arg(long, default_value_t = 0.0, value_name = "MS")]
    pub(crate) delay: f64,
    /// Jitter in milliseconds: the delay is uniform in [delay - jitter, delay + jitter].
    #[arg(long, default_value_t = 0.0, value_name = "MS")]
    pub(crate) jitter: f64,
    /// Percentage of packets held back by --reorder-gap so that later packets overtake them.
    #[arg(long, default_value_t = 0.0, value_name = "PCT")]
    pub(crate) reorder: f64,
    /// Extra delay in milliseconds of a packet picked for reordering.
    #[arg(long, default_value_t = 10.0, value_name = "MS")]
    pub(crate) reorder_gap: f64,
    /// Seed of the random generators (ChaCha8; direction A->B uses stream 0, B->A stream 1).
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Most packets in flight per direction; packets arriving at a full queue are dropped.
    #[arg(long, default_value_t = 1000, value_name = "PACKETS")]
    pub(crate) limit: usize,
}

impl Args {
    /// Side A's device.
    pub(crate) fn side_a(&self) -> TunSpec {
        spec(&self.a_dev, &self.a_netns)
    }

    /// Side B's device.
    pub(crate) fn side_b(&self) -> TunSpec {
        spec(&self.b_dev, &self.b_netns)
    }

    /// The impairment parameters (same for both directions), or why they are invalid.
    pub(crate) fn params(&self) -> Result<Params, String> {
        Ok(Params {
            loss: self.loss / 100.0,
            burst: self.burst,
            delay: millis("delay", self.delay)?,
            jitter: millis("jitter", self.jitter)?,
            reorder: self.reorder / 100.0,
            reorder_gap: millis("reorder-gap", self.reorder_gap)?,
        })
    }
}

fn spec(name: &str, netns: &str) -> TunSpec {
    TunSpec {
        name: name.to_owned(),
        netns: (!netns.is_empty()).then(|| netns.to_owned()),
    }
}

fn millis(what: &str, ms: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(ms / 1000.0)
        .map_err(|_| format!("--{what} {ms}: not a non-negative number of milliseconds"))
}
