//! Forward error correction: rebuild lost datagrams from parity instead of waiting a round trip.
//!
//! Sits between KCP and packet protection (KCP -> FEC -> seal): every datagram KCP sends becomes
//! a *data shard* that leaves at once (FEC adds no delay when nothing is lost), and the sender
//! closes a *group* of data shards when it holds [`FecConfig::max_data`] of them or when
//! [`FecConfig::group_deadline`] has passed since its first (or a quarter of it since its last:
//! the end of a burst), then sends *parity shards* computed
//! over the group with Reed-Solomon coding. Each shard travels in its own sealed datagram, so a
//! parity shard is authenticated and replay-checked like any packet and a forged shard cannot
//! inject data. The receiver hands data shards to KCP as they come and, as soon as a group has as
//! many shards as it had data shards, rebuilds the missing ones and hands them to KCP as if they
//! had arrived.
//!
//! - [`FecConfig`]: off, adaptive (`auto`) or a fixed ratio such as `10/3`, parsed from text.
//! - [`FecEncoder`]: the sender's side: wraps data shards, closes groups, makes parity.
//! - [`FecDecoder`]: the receiver's side: unwraps shards, rebuilds what was lost, measures loss.
//! - [`ParityController`]: how many parity shards a group gets, from the loss the peer reports.
//!
//! Wire format of a shard (the payload of one protected datagram), all integers big-endian:
//!
//! | bytes | field                                                                      |
//! |-------|----------------------------------------------------------------------------|
//! | 1     | kind: 0 data, 1 parity                                                     |
//! | 4     | group number (wraps)                                                       |
//! | 1     | index in the group (data: 0.., parity: 0..)                                |
//! | 1     | parity: data shards in the group; data: the sender's observed loss (0.1 %) |
//! | 1     | parity shards in the group (in data shards: the parity planned, 0 for none) |
//! | rest  | data: the KCP datagram; parity: Reed-Solomon parity over the framed data   |
//!
//! Parity is computed over *framed* data shards (`length u16` then the bytes, zero-padded to the
//! group's longest framed shard), so a rebuilt shard knows its length.
//!
//! Bounded: the encoder holds one group (at most `max_data` shards), the decoder at most
//! [`MAX_OPEN_GROUPS`] groups and [`MAX_HELD_BYTES`] bytes; beyond that the oldest group is
//! forgotten (counted). Malformed shards are dropped and counted, never a panic.

use reed_solomon_erasure::galois_8::ReedSolomon;

mod config;
mod controller;
mod decoder;
mod encoder;
mod stats;
mod wire;

pub use config::{FecConfig, FecConfigError, FecMode, MAX_GROUP_DATA, MAX_GROUP_PARITY};
pub use controller::{
    ParityController, STARTUP, STARTUP_LOSS_PPM, STARTUP_MIN, STARTUP_MIN_DATA, STARTUP_RTTS,
};
pub use decoder::{FecDecoder, FecDecoderStats, MAX_HELD_BYTES, MAX_OPEN_GROUPS, Unwrapped};
pub use encoder::{FecEncoder, FecEncoderStats};
pub use stats::FecStats;
pub use wire::{HEADER_LEN, ShardHeader, ShardKind};

/// The most group shapes whose Reed-Solomon codecs are kept (traffic alternates between full
/// groups and groups closed early by their deadline, a few shapes at most).
const CODEC_CACHE: usize = 4;

/// The Reed-Solomon codecs of the last group shapes used (data and parity counts), most recent
/// first, at most [`CODEC_CACHE`]: a codec is made again only for a shape not used lately.
#[derive(Debug, Default)]
struct Codec(Vec<(usize, usize, ReedSolomon)>);

impl Codec {
    /// The codec for `data` + `parity` shards (both at least 1, at most 256 together).
    fn get(&mut self, data: usize, parity: usize) -> Option<&ReedSolomon> {
        match self
            .0
            .iter()
            .position(|(k, m, _)| (*k, *m) == (data, parity))
        {
            Some(at) => self.0[..=at].rotate_right(1),
            None => {
                let codec = ReedSolomon::new(data, parity).ok()?;
                if self.0.len() >= CODEC_CACHE {
                    self.0.pop();
                }
                self.0.insert(0, (data, parity, codec));
            }
        }
        self.0.first().map(|(_, _, rs)| rs)
    }
}

#[cfg(test)]
mod tests;
