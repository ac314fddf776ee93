//! The FEC decoder fed arbitrary shards: never a panic, memory within its bound, and every
//! datagram it hands over fits the largest shard.
#![no_main]

use kcpq_core::Instant;
use kcpq_core::fec::{FecDecoder, MAX_HELD_BYTES, Unwrapped};
use std::time::Duration;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut decoder = FecDecoder::new();
    let mut now = Instant::ZERO;
    let mut out = vec![0u8; 70_000];
    // Input: a sequence of (time step u8, length u16, shard bytes).
    let mut rest = data;
    while let [step, hi, lo, tail @ ..] = rest {
        now += Duration::from_millis(u64::from(*step));
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        let (shard, next) = tail.split_at(len);
        rest = next;
        if let Unwrapped::Data(d) = decoder.unwrap(now, shard) {
            assert!(d.len() < shard.len());
        }
        while let Some(n) = decoder.poll_recovered(&mut out) {
            assert!(n <= u16::MAX as usize);
        }
        assert!(decoder.held_bytes() <= MAX_HELD_BYTES);
        decoder.handle_timeout(now);
    }
});
