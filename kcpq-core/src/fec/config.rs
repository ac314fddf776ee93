//! FEC settings: off, adaptive, or a fixed ratio.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The most data shards one group may hold (the wire counts them in a byte; groups stay far
/// smaller in practice).
pub const MAX_GROUP_DATA: u8 = 128;
/// The most parity shards one group may get.
pub const MAX_GROUP_PARITY: u8 = 64;

/// How much parity a sender adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FecMode {
    /// No FEC: every shard is a plain data shard, no parity (the default).
    #[default]
    Off,
    /// Parity chosen per group from the loss the peer reports, within the configured bounds:
    /// none on a clean link, more as loss rises ([`ParityController`](super::ParityController)).
    Auto,
    /// A fixed ratio: groups of `data` shards, each followed by `parity` parity shards, as
    /// kcp-go's `10/3`.
    Fixed {
        /// Data shards per group.
        data: u8,
        /// Parity shards per group.
        parity: u8,
    },
}

/// Why a FEC setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FecConfigError {
    /// Not `off`, `auto` or `D/P`.
    #[error("FEC {0:?} is not off, auto or a ratio DATA/PARITY such as 10/3")]
    Syntax(String),
    /// A ratio outside the bounds.
    #[error(
        "FEC ratio {data}/{parity} is out of range: DATA must be 1 to {MAX_GROUP_DATA} and \
         PARITY 1 to {MAX_GROUP_PARITY} (use off for no parity)"
    )]
    Ratio {
        /// Data shards asked for.
        data: u32,
        /// Parity shards asked for.
        parity: u32,
    },
    /// An automatic bound outside the wire's limits.
    #[error(
        "FEC auto bounds are out of range: max_data must be 1 to {MAX_GROUP_DATA} and \
         max_parity 0 to {MAX_GROUP_PARITY}"
    )]
    Bounds,
    /// A zero group deadline would close every group at its first shard.
    #[error("the FEC group deadline must be above zero")]
    Deadline,
}

impl FromStr for FecMode {
    type Err = FecConfigError;

    fn from_str(text: &str) -> Result<FecMode, FecConfigError> {
        match text.trim() {
            "off" => return Ok(FecMode::Off),
            "auto" => return Ok(FecMode::Auto),
            _ => {}
        }
        let syntax = || FecConfigError::Syntax(text.to_owned());
        let (data, parity) = text.trim().split_once('/').ok_or_else(syntax)?;
        let data: u32 = data.trim().parse().map_err(|_| syntax())?;
        let parity: u32 = parity.trim().parse().map_err(|_| syntax())?;
        let in_range = (1..=u32::from(MAX_GROUP_DATA)).contains(&data)
            && (1..=u32::from(MAX_GROUP_PARITY)).contains(&parity);
        if !in_range {
            return Err(FecConfigError::Ratio { data, parity });
        }
        Ok(FecMode::Fixed {
            data: u8::try_from(data).expect("checked against MAX_GROUP_DATA"),
            parity: u8::try_from(parity).expect("checked against MAX_GROUP_PARITY"),
        })
    }
}

impl fmt::Display for FecMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FecMode::Off => f.write_str("off"),
            FecMode::Auto => f.write_str("auto"),
            FecMode::Fixed { data, parity } => write!(f, "{data}/{parity}"),
        }
    }
}

/// Everything FEC can be tuned with. Start from `FecConfig::default()` (off) or
/// [`FecConfig::auto`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FecConfig {
    /// Off, adaptive or fixed.
    pub mode: FecMode,
    /// Adaptive mode: data shards at which a group closes (default 10).
    pub max_data: u8,
    /// Adaptive mode: the most parity shards one group gets (default 6: what a full group needs
    /// at 5 % loss to meet the residual target; with 4, the earlier default, 5 % loss left one
    /// 100 KB frame in twenty waiting for a retransmission).
    pub max_parity: u8,
    /// A group closes this long after its first data shard even when not full, so that sparse
    /// traffic (a request, a frame's last datagrams, a heartbeat) is protected too (default
    /// 2 ms: a datagram lost from such a group is rebuilt this long after it was sent, where a
    /// retransmission takes a round trip or more; with 5 ms, the earlier default, a ping-pong
    /// across four lossy hops at 5 % loss had a p99 10 ms above the clean link's, with 2 ms 4 ms.
    /// Shorter groups cost sparse traffic more parity per datagram, within the byte budget).
    /// A group also closes a quarter of this after its last data shard, so the end of a burst
    /// (a frame's last datagrams) gets its parity at once while a steady stream on a slow link
    /// still fills groups up to the deadline (100 KB frames at 240 fps across 20 ms RTT and 5 %
    /// loss: p99 0.94x what the deadline alone gave).
    pub group_deadline: Duration,
    /// Adaptive mode: the loss a receiver should still see after recovery, in parts per
    /// million (default 10: 0.001 %, so that a 75-datagram video frame is rarely left waiting for
    /// a retransmission). Parity is the least that reaches it.
    pub target_residual_ppm: u32,
    /// Adaptive mode: the most parity bytes per second (default 32 MB/s: room for the ceiling of
    /// 6 parity per 10 on 100 KB frames at 240 fps, 14 MB/s, and for 5 per 10 on 1 MB frames at
    /// 60 fps; 8 MB/s, the earlier default, ran dry under 100 KB frames at 240 fps with 1 % loss,
    /// and the groups it starved were lost beyond repair). A group that would exceed it gets fewer parity shards, down to none.
    pub max_parity_bytes_per_sec: u64,
}

impl Default for FecConfig {
    fn default() -> Self {
        FecConfig {
            mode: FecMode::Off,
            max_data: 10,
            max_parity: 6,
            group_deadline: Duration::from_millis(2),
            target_residual_ppm: 10,
            max_parity_bytes_per_sec: 32_000_000,
        }
    }
}

impl FecConfig {
    /// The default settings in `mode`.
    pub fn with_mode(mode: FecMode) -> FecConfig {
        FecConfig {
            mode,
            ..FecConfig::default()
        }
    }

    /// The default settings in adaptive mode.
    pub fn auto() -> FecConfig {
        FecConfig::with_mode(FecMode::Auto)
    }

    /// Checks that the settings fit the wire format.
    pub fn validate(&self) -> Result<(), FecConfigError> {
        if let FecMode::Fixed { data, parity } = self.mode
            && !((1..=MAX_GROUP_DATA).contains(&data) && (1..=MAX_GROUP_PARITY).contains(&parity))
        {
            return Err(FecConfigError::Ratio {
                data: u32::from(data),
                parity: u32::from(parity),
            });
        }
        if !(1..=MAX_GROUP_DATA).contains(&self.max_data) || self.max_parity > MAX_GROUP_PARITY {
            return Err(FecConfigError::Bounds);
        }
        if self.group_deadline.is_zero() {
            return Err(FecConfigError::Deadline);
        }
        Ok(())
    }

    /// Data shards at which a group closes.
    pub(crate) fn group_size(&self) -> u8 {
        match self.mode {
            FecMode::Fixed { data, .. } => data,
            FecMode::Off | FecMode::Auto => self.max_data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_print() {
        assert_eq!("off".parse(), Ok(FecMode::Off));
        assert_eq!(" auto ".parse(), Ok(FecMode::Auto));
        assert_eq!(
            "10/3".parse(),
            Ok(FecMode::Fixed {
                data: 10,
                parity: 3
            })
        );
        for mode in ["off", "auto", "10/3", "1/1"] {
            assert_eq!(mode.parse::<FecMode>().unwrap().to_string(), mode);
        }
    }

    #[test]
    fn invalid_settings_are_refused_with_a_message_that_says_what_fits() {
        assert_eq!(
            "ten/3".parse::<FecMode>(),
            Err(FecConfigError::Syntax("ten/3".into()))
        );
        assert!(matches!(
            "on".parse::<FecMode>(),
            Err(FecConfigError::Syntax(_))
        ));
        let zero = "10/0".parse::<FecMode>().unwrap_err();
        assert_eq!(
            zero,
            FecConfigError::Ratio {
                data: 10,
                parity: 0
            }
        );
        assert!(zero.to_string().contains("use off for no parity"));
        assert!(matches!(
            "0/3".parse::<FecMode>(),
            Err(FecConfigError::Ratio { .. })
        ));
        assert!(matches!(
            "200/3".parse::<FecMode>(),
            Err(FecConfigError::Ratio { .. })
        ));
        let mut config = FecConfig::auto();
        assert_eq!(config.validate(), Ok(()));
        config.max_data = 0;
        assert_eq!(config.validate(), Err(FecConfigError::Bounds));
        let mut config = FecConfig::auto();
        config.group_deadline = Duration::ZERO;
        assert_eq!(config.validate(), Err(FecConfigError::Deadline));
        let fixed = FecConfig::with_mode(FecMode::Fixed { data: 0, parity: 1 });
        assert!(matches!(
            fixed.validate(),
            Err(FecConfigError::Ratio { .. })
        ));
    }
}
