//! The encoder and the decoder together: what is lost is rebuilt when enough shards arrive.

use std::time::Duration;

use super::*;
use crate::Instant;

/// A deterministic generator (xorshift64*), enough to decide losses.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// A datagram of `len` bytes that names itself.
fn datagram(n: u32, len: usize) -> Vec<u8> {
    let mut d = n.to_be_bytes().to_vec();
    d.resize(len.max(4), (n % 251) as u8);
    d
}

/// Sends `count` datagrams through an encoder with `config`, loses the shards `lose` picks, and
/// returns every datagram the decoder handed over (received or rebuilt) and the decoder.
fn run(
    config: FecConfig,
    count: u32,
    spacing: Duration,
    mut lose: impl FnMut(bool) -> bool,
) -> (Vec<Vec<u8>>, FecDecoder, FecEncoder) {
    let mut encoder = FecEncoder::new(config);
    let mut decoder = FecDecoder::new();
    let mut delivered = Vec::new();
    let mut buf = vec![0u8; 2048];
    let mut now = Instant::ZERO;
    let mut deliver = |decoder: &mut FecDecoder, shard: &[u8], now: Instant, parity: bool| {
        if lose(parity) {
            return;
        }
        if let Unwrapped::Data(d) = decoder.unwrap(now, shard) {
            delivered.push(d.to_vec());
        }
        while let Some(len) = decoder.poll_recovered(&mut buf) {
            delivered.push(buf[..len].to_vec());
        }
    };
    for n in 0..count {
        let body = datagram(n, 40 + (n as usize * 37) % 1300);
        let mut shard = vec![0u8; HEADER_LEN];
        shard.extend_from_slice(&body);
        encoder.on_data(now, &mut shard);
        deliver(&mut decoder, &shard, now, false);
        let mut out = vec![0u8; 2048];
        while let Some(len) = encoder.poll_parity(&mut out) {
            deliver(&mut decoder, &out[..len], now, true);
        }
        now += spacing;
        encoder.handle_timeout(now);
        while let Some(len) = encoder.poll_parity(&mut out) {
            deliver(&mut decoder, &out[..len], now, true);
        }
    }
    now += Duration::from_secs(1);
    encoder.handle_timeout(now);
    let mut out = vec![0u8; 2048];
    while let Some(len) = encoder.poll_parity(&mut out) {
        deliver(&mut decoder, &out[..len], now, true);
    }
    decoder.handle_timeout(now + Duration::from_secs(2));
    (delivered, decoder, encoder)
}

fn distinct(delivered: &[Vec<u8>]) -> std::collections::BTreeSet<Vec<u8>> {
    delivered.iter().cloned().collect()
}

#[test]
fn nothing_lost_nothing_rebuilt_and_every_datagram_arrives_once() {
    let fixed = FecConfig::with_mode(FecMode::Fixed {
        data: 10,
        parity: 3,
    });
    let (delivered, decoder, encoder) = run(fixed, 100, Duration::from_micros(100), |_| false);
    assert_eq!(delivered.len(), 100);
    assert_eq!(distinct(&delivered).len(), 100);
    assert_eq!(decoder.stats().recovered, 0);
    assert_eq!(encoder.stats().parity_shards, 30);
    assert_eq!(decoder.loss_ppm(), 0);
    assert_eq!(decoder.held_bytes(), 0);
}

#[test]
fn up_to_parity_losses_per_group_are_rebuilt() {
    // Lose exactly the first three data shards of every group of ten.
    let fixed = FecConfig::with_mode(FecMode::Fixed {
        data: 10,
        parity: 3,
    });
    let mut i = 0u32;
    let (delivered, decoder, _) = run(fixed, 200, Duration::from_micros(100), |parity| {
        if parity {
            return false;
        }
        i += 1;
        (i - 1) % 10 < 3
    });
    let want: std::collections::BTreeSet<Vec<u8>> = (0..200)
        .map(|n| datagram(n, 40 + (n as usize * 37) % 1300))
        .collect();
    assert_eq!(distinct(&delivered), want);
    assert_eq!(decoder.stats().recovered, 60);
    assert_eq!(decoder.loss_ppm(), 300_000);
}

#[test]
fn a_lone_datagram_is_protected_by_the_group_deadline() {
    // One datagram every 50 ms: each group closes by its deadline with one data shard.
    let fixed = FecConfig::with_mode(FecMode::Fixed {
        data: 10,
        parity: 2,
    });
    let mut i = 0u32;
    let (delivered, decoder, encoder) = run(fixed, 20, Duration::from_millis(50), |parity| {
        i += 1;
        !parity && i % 2 == 1
    });
    assert_eq!(distinct(&delivered).len(), 20);
    assert_eq!(encoder.stats().groups_timed_out, 20);
    assert!(decoder.stats().recovered >= 9);
}

#[test]
fn random_loss_within_parity_is_always_rebuilt_and_beyond_it_is_counted() {
    for seed in 1..40u64 {
        let mut dice = Dice(seed);
        let config = FecConfig::with_mode(FecMode::Fixed { data: 8, parity: 2 });
        let (delivered, decoder, _) = run(config, 400, Duration::from_micros(200), |_| {
            dice.below(100) < 8
        });
        let got = distinct(&delivered).len() as u64;
        let s = decoder.stats();
        // Everything arrived or was rebuilt, except what groups with too many losses lost.
        assert!(got + s.unrecovered >= 400, "seed {seed}: {got} + {s:?}");
        assert!(s.recovered > 0, "seed {seed}");
    }
}

#[test]
fn auto_sends_no_parity_on_a_clean_link_and_some_once_loss_is_reported() {
    let (_, decoder, encoder) = run(FecConfig::auto(), 100, Duration::from_millis(1), |_| false);
    assert_eq!(encoder.stats().parity_shards, 0);
    assert_eq!(decoder.held_bytes(), 0, "unprotected groups keep no copies");
    let mut encoder = FecEncoder::new(FecConfig::auto());
    encoder.controller_mut().set_peer_loss_ppm(50_000);
    let mut now = Instant::ZERO;
    for n in 0..10 {
        let mut shard = vec![0u8; HEADER_LEN];
        shard.extend_from_slice(&datagram(n, 1000));
        encoder.on_data(now, &mut shard);
        now += Duration::from_micros(10);
    }
    // A full group at 5 % loss: six parity shards (the ceiling), three more than kcp-go's 10/3.
    assert_eq!(encoder.stats().parity_shards, 6);
}

#[test]
fn a_burst_s_last_group_closes_when_the_burst_ends_and_a_steady_stream_at_its_deadline() {
    let fixed = FecConfig::with_mode(FecMode::Fixed {
        data: 10,
        parity: 2,
    });
    let deadline = fixed.group_deadline;
    let send = |encoder: &mut FecEncoder, at: Instant, n: u32| {
        let mut shard = vec![0u8; HEADER_LEN];
        shard.extend_from_slice(&datagram(n, 1000));
        encoder.on_data(at, &mut shard);
    };
    // The end of a frame: four datagrams 10 us apart, then nothing. The group closes a
    // quarter of the deadline after the last, not a whole deadline after the first.
    let mut burst = FecEncoder::new(fixed.clone());
    let start = Instant::ZERO;
    for n in 0..4 {
        send(&mut burst, start + Duration::from_micros(10) * n, n);
    }
    let last = start + Duration::from_micros(30);
    assert_eq!(burst.poll_timeout(), Some(last + deadline / 4));
    burst.handle_timeout(last + deadline / 4 - Duration::from_micros(1));
    assert!(!burst.has_parity());
    burst.handle_timeout(last + deadline / 4);
    assert!(burst.has_parity());
    assert_eq!(burst.stats().groups_timed_out, 1);
    // A steady stream a little denser than that (a slow link): the group grows until its
    // deadline.
    let mut steady = FecEncoder::new(fixed);
    let gap = deadline / 5;
    let mut now = start;
    for n in 0..5 {
        send(&mut steady, now, n);
        steady.handle_timeout(now);
        assert!(!steady.has_parity(), "closed after {n} shards");
        now += gap;
    }
    assert_eq!(steady.poll_timeout(), Some(start + deadline));
    steady.handle_timeout(start + deadline);
    assert!(steady.has_parity());
}

#[test]
fn the_decoder_measures_loss_without_parity() {
    // Auto on a link that loses every fifth data shard but has sent no parity yet: the decoder
    // sees the gaps in each group's numbering.
    let mut i = 0u32;
    let (_, decoder, _) = run(FecConfig::auto(), 1000, Duration::from_millis(1), |_| {
        i += 1;
        i % 5 == 2
    });
    let loss = decoder.loss_ppm();
    assert!((150_000..=250_000).contains(&loss), "{loss}");
}

#[test]
fn malformed_and_stale_shards_are_dropped_and_memory_stays_bounded() {
    let mut decoder = FecDecoder::new();
    let now = Instant::ZERO;
    assert_eq!(decoder.unwrap(now, &[1, 2, 3]), Unwrapped::Dropped);
    // Parity shards for many groups that never complete: the oldest are forgotten.
    let mut shard = vec![0u8; HEADER_LEN + 1400];
    for group in 0..1000u32 {
        ShardHeader {
            kind: ShardKind::Parity,
            group,
            index: 0,
            data_count: 10,
            loss_report: 0,
            parity_count: 3,
        }
        .write(&mut shard);
        assert_eq!(decoder.unwrap(now, &shard), Unwrapped::Parity);
        assert!(decoder.held_bytes() <= MAX_HELD_BYTES);
    }
    assert!(decoder.stats().groups_forgotten > 900);
    // A shard for a group long forgotten is dropped.
    ShardHeader {
        kind: ShardKind::Parity,
        group: 3,
        index: 1,
        data_count: 10,
        loss_report: 0,
        parity_count: 3,
    }
    .write(&mut shard);
    assert_eq!(decoder.unwrap(now, &shard), Unwrapped::Dropped);
    // A parity shard whose shape disagrees with its group's is dropped.
    ShardHeader {
        kind: ShardKind::Parity,
        group: 999,
        index: 1,
        data_count: 9,
        loss_report: 0,
        parity_count: 3,
    }
    .write(&mut shard);
    assert_eq!(decoder.unwrap(now, &shard), Unwrapped::Dropped);
}

#[test]
fn the_loss_report_travels_in_data_shards() {
    let mut encoder = FecEncoder::new(FecConfig::auto());
    let mut decoder = FecDecoder::new();
    assert_eq!(decoder.peer_loss_ppm(), None);
    encoder.set_loss_report_ppm(52_300);
    let mut shard = vec![0u8; HEADER_LEN + 10];
    encoder.on_data(Instant::ZERO, &mut shard);
    assert!(matches!(
        decoder.unwrap(Instant::ZERO, &shard),
        Unwrapped::Data(_)
    ));
    assert_eq!(decoder.peer_loss_ppm(), Some(52_000));
    // Beyond 25.5 % the report saturates.
    encoder.set_loss_report_ppm(900_000);
    encoder.on_data(Instant::ZERO, &mut shard);
    decoder.unwrap(Instant::ZERO, &shard);
    assert_eq!(decoder.peer_loss_ppm(), Some(255_000));
}

#[test]
fn a_warm_decoder_reuses_its_buffers_and_an_idle_one_frees_them() {
    let fixed = FecConfig::with_mode(FecMode::Fixed {
        data: 10,
        parity: 3,
    });
    let mut i = 0u32;
    let (_, mut decoder, _) = run(fixed, 300, Duration::from_micros(100), |parity| {
        i += 1;
        !parity && i.is_multiple_of(7)
    });
    assert!(decoder.stats().recovered > 0);
    assert!(decoder.memory() <= MAX_HELD_BYTES);
    let idle = Instant::ZERO + Duration::from_secs(60);
    decoder.handle_timeout(idle);
    assert_eq!(decoder.memory(), 0);
    assert_eq!(decoder.poll_timeout(), None);
}

#[test]
fn a_memory_limit_of_zero_keeps_nothing_but_passes_data() {
    let mut encoder = FecEncoder::new(FecConfig::with_mode(FecMode::Fixed { data: 4, parity: 2 }));
    let mut decoder = FecDecoder::new();
    decoder.set_memory_limit(0);
    for n in 0..8 {
        let mut shard = vec![0u8; HEADER_LEN];
        shard.extend_from_slice(&datagram(n, 500));
        encoder.on_data(Instant::ZERO, &mut shard);
        assert!(matches!(
            decoder.unwrap(Instant::ZERO, &shard),
            Unwrapped::Data(_)
        ));
        assert_eq!(decoder.memory(), 0);
    }
}

#[test]
fn a_rebuilt_shard_too_short_for_its_length_prefix_is_dropped() {
    // A one-byte parity shard for a group of one whose data shard was lost: the "rebuilt"
    // framed shard has no room for its 2-byte length.
    let mut decoder = FecDecoder::new();
    let mut shard = vec![0u8; HEADER_LEN + 1];
    ShardHeader {
        kind: ShardKind::Parity,
        group: 0,
        index: 0,
        data_count: 1,
        loss_report: 0,
        parity_count: 1,
    }
    .write(&mut shard);
    assert_eq!(decoder.unwrap(Instant::ZERO, &shard), Unwrapped::Parity);
    assert_eq!(decoder.poll_recovered(&mut [0u8; 64]), None);
    assert_eq!(decoder.stats().recovered, 0);
    assert_eq!(decoder.stats().dropped, 1);
}

/// Takes an `auto` encoder on a clean link through its start-up; returns the instant it ended.
fn past_startup(encoder: &mut FecEncoder) -> Instant {
    let mut shard = vec![0u8; HEADER_LEN + 100];
    // A dense burst starts the start-up window...
    for _ in 0..crate::fec::STARTUP_MIN_DATA {
        encoder.on_plain(Instant::ZERO);
    }
    assert!(encoder.needs_shards(), "start-up plans parity");
    // ...and the first group closing after it ends start-up.
    let now = Instant::ZERO + crate::fec::STARTUP;
    for _ in 0..10 {
        encoder.on_data(now, &mut shard);
    }
    while encoder.poll_parity(&mut [0u8; 256]).is_some() {}
    now
}

#[test]
fn startup_protects_dense_groups_only_and_ends_by_time_or_reported_loss() {
    let mut encoder = FecEncoder::new(FecConfig::auto());
    assert!(
        !encoder.needs_shards(),
        "a clean link starts with plain datagrams"
    );
    // Sparse traffic (a CONNECT, a SUB, requests now and then) does not start start-up.
    let mut now = Instant::ZERO;
    for _ in 0..20 {
        encoder.on_plain(now);
        now += Duration::from_millis(3);
    }
    assert!(!encoder.needs_shards(), "sparse traffic stays plain");
    // A dense burst (a frame's first datagrams) does, for STARTUP.
    for _ in 0..crate::fec::STARTUP_MIN_DATA {
        encoder.on_plain(now);
    }
    assert!(encoder.needs_shards(), "start-up plans parity");
    let mut shard = vec![0u8; HEADER_LEN + 100];
    // A lone shard (sparse traffic) gets no parity, even in start-up.
    encoder.on_data(now, &mut shard);
    let deadline = encoder.poll_timeout().unwrap();
    encoder.handle_timeout(deadline);
    assert!(
        !encoder.has_parity(),
        "a lone shard gets no start-up parity"
    );
    // A full group (dense traffic) gets what 1 % loss asks for.
    for _ in 0..10 {
        encoder.on_data(deadline, &mut shard);
    }
    let mut parity = 0;
    while encoder.poll_parity(&mut [0u8; 256]).is_some() {
        parity += 1;
    }
    assert_eq!(parity, 3, "a full group in start-up");
    // After STARTUP, a clean link gets nothing again.
    let later = now + crate::fec::STARTUP;
    for _ in 0..10 {
        encoder.on_data(later, &mut shard);
    }
    assert!(!encoder.has_parity(), "start-up is over");
    assert!(!encoder.needs_shards());
    // Reported loss ends start-up at once; a report of none does not.
    let mut reported = FecEncoder::new(FecConfig::auto());
    for _ in 0..crate::fec::STARTUP_MIN_DATA {
        reported.on_plain(Instant::ZERO);
    }
    reported.controller_mut().set_peer_loss_ppm(0);
    assert!(
        reported.needs_shards(),
        "a report of none is not trusted in start-up"
    );
    reported.controller_mut().set_peer_loss_ppm(1_000);
    for _ in 0..10 {
        reported.on_data(Instant::ZERO, &mut shard);
    }
    let mut parity = 0;
    while reported.poll_parity(&mut [0u8; 256]).is_some() {
        parity += 1;
    }
    assert_eq!(parity, 1, "the reported 0.1 % rules");
}

#[test]
fn a_group_without_parity_has_no_deadline_and_ends_when_loss_appears() {
    let mut encoder = FecEncoder::new(FecConfig::auto());
    let now = past_startup(&mut encoder);
    let mut shard = vec![0u8; HEADER_LEN + 100];
    encoder.on_data(now, &mut shard);
    assert_eq!(encoder.poll_timeout(), None, "no parity planned: no timer");
    let first = ShardHeader::read(&shard).unwrap().0.group;
    encoder.controller_mut().set_peer_loss_ppm(50_000);
    encoder.on_data(now, &mut shard);
    let (header, _) = ShardHeader::read(&shard).unwrap();
    assert_eq!((header.group, header.index), (first + 1, 0), "a new group");
    assert!(header.parity_count > 0);
    assert!(encoder.poll_timeout().is_some());
}

#[test]
fn auto_needs_no_shards_on_a_clean_link_and_repeats_the_end_of_loss() {
    let mut encoder = FecEncoder::new(FecConfig::auto());
    past_startup(&mut encoder);
    assert!(!encoder.needs_shards(), "clean link, nothing to report");
    encoder.set_loss_report_ppm(20_000);
    assert!(encoder.needs_shards(), "loss to report");
    encoder.set_loss_report_ppm(0);
    let mut shard = vec![0u8; HEADER_LEN + 10];
    for _ in 0..16 {
        assert!(encoder.needs_shards(), "the end of loss is reported");
        encoder.on_data(Instant::ZERO, &mut shard);
        assert_eq!(ShardHeader::read(&shard).unwrap().0.loss_report, 0);
    }
    assert!(!encoder.needs_shards());
    encoder.controller_mut().set_peer_loss_ppm(10_000);
    assert!(encoder.needs_shards(), "parity planned");
    let fixed = FecEncoder::new(FecConfig::with_mode(FecMode::Fixed { data: 4, parity: 1 }));
    assert!(fixed.needs_shards());
}
