//! Fuzz entry point for the FEC decoder.

use std::time::Duration;

use crate::Instant;
use crate::fec::{FecDecoder, MAX_HELD_BYTES, Unwrapped};

/// Feeds a [`FecDecoder`] arbitrary shards and checks that it never panics, holds at most
/// [`MAX_HELD_BYTES`], and hands over only datagrams that fit a shard.
///
/// Input: a sequence of (time step in ms `u8`, length `u16` big-endian, that many bytes).
pub fn fec_decoder(data: &[u8]) {
    let mut decoder = FecDecoder::new();
    let mut now = Instant::ZERO;
    let mut out = vec![0u8; 70_000];
    let mut rest = data;
    while let [step, hi, lo, tail @ ..] = rest {
        now += Duration::from_millis(u64::from(*step));
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        let (shard, next) = tail.split_at(len);
        rest = next;
        if let Unwrapped::Data(d) = decoder.unwrap(now, shard) {
            assert!(
                d.len() < shard.len(),
                "a data shard's datagram follows its header"
            );
        }
        while let Some(n) = decoder.poll_recovered(&mut out) {
            assert!(
                n <= usize::from(u16::MAX),
                "a rebuilt datagram fits its length prefix"
            );
        }
        assert!(
            decoder.held_bytes() <= MAX_HELD_BYTES,
            "held bytes within the bound"
        );
        decoder.handle_timeout(now);
    }
}
