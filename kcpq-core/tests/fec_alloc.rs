//! No heap allocation per datagram in FEC's steady state: after a warm-up, thousands of
//! datagrams go through an encoder and a decoder, groups full or closed by their deadline, with
//! every group's losses rebuilt, without a single allocation (buffers and codecs are reused),
//! counted by a wrapping global allocator.

use std::time::Duration;

use kcpq_core::Instant;
use kcpq_core::fec::{FecConfig, FecDecoder, FecEncoder, FecMode, HEADER_LEN, Unwrapped};

mod alloc_count;

use alloc_count::Counting;

#[global_allocator]
static GLOBAL: Counting = Counting;

/// An encoder and a decoder back to back through fixed buffers.
struct Rig {
    encoder: FecEncoder,
    decoder: FecDecoder,
    now: Instant,
    shard: Vec<u8>,
    out: Vec<u8>,
    sent: u64,
    delivered: u64,
    /// Every `lose_every`-th data shard is lost (0: none).
    lose_every: u64,
}

impl Rig {
    fn new(lose_every: u64) -> Rig {
        let config = FecConfig::with_mode(FecMode::Fixed {
            data: 10,
            parity: 3,
        });
        Rig {
            encoder: FecEncoder::new(config),
            decoder: FecDecoder::new(),
            now: Instant::ZERO,
            shard: vec![0x5A; 1400],
            out: vec![0; 1500],
            sent: 0,
            delivered: 0,
            lose_every,
        }
    }

    /// `burst` datagrams of varying length, then 6 ms (closing a partial group by deadline).
    fn round(&mut self, burst: usize) {
        for i in 0..burst {
            let len = HEADER_LEN + 100 + (i * 97) % 1200;
            self.encoder.on_data(self.now, &mut self.shard[..len]);
            self.sent += 1;
            let lost = self.lose_every > 0 && self.sent.is_multiple_of(self.lose_every);
            if !lost && let Unwrapped::Data(_) = self.decoder.unwrap(self.now, &self.shard[..len]) {
                self.delivered += 1;
            }
            self.drain();
        }
        self.now += Duration::from_millis(6);
        self.encoder.handle_timeout(self.now);
        self.decoder.handle_timeout(self.now);
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(len) = self.encoder.poll_parity(&mut self.out) {
            self.decoder.unwrap(self.now, &self.out[..len]);
        }
        while self.decoder.poll_recovered(&mut self.out).is_some() {
            self.delivered += 1;
        }
    }
}

/// Allocations and rebuilt groups over 2 000 rounds after a warm-up.
fn measure(lose_every: u64) -> (usize, u64, u64) {
    let mut rig = Rig::new(lose_every);
    for _ in 0..200 {
        rig.round(13);
    }
    let recovered_before = rig.decoder.stats().recovered;
    let ((), allocations) = alloc_count::allocations_of(|| {
        for _ in 0..2000 {
            rig.round(13);
        }
    });
    assert_eq!(
        rig.delivered, rig.sent,
        "every datagram delivered or rebuilt"
    );
    (
        allocations,
        rig.sent,
        rig.decoder.stats().recovered - recovered_before,
    )
}

#[test]
fn no_allocation_per_datagram_without_loss() {
    let (allocations, sent, _) = measure(0);
    assert!(sent > 20_000);
    assert_eq!(
        allocations, 0,
        "{allocations} allocations for {sent} datagrams"
    );
}

#[test]
fn no_allocation_per_datagram_while_rebuilding_losses() {
    let (allocations, sent, recovered) = measure(7);
    assert!(recovered > 2_000, "{recovered}");
    assert_eq!(
        allocations, 0,
        "{allocations} allocations for {recovered} rebuilt of {sent} datagrams"
    );
}
