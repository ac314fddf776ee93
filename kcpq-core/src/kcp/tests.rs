//! Behaviour tests of the endpoint over a hand-driven link (the seeded simulator with loss,
//! reordering and duplication is in `kcpq-core/tests/kcp_support`).

use std::time::Duration;

use super::*;
use crate::Instant;

const CONV: u32 = 0x1234_5678;

fn small(stream: bool) -> KcpConfig {
    KcpConfig {
        mtu: 200,
        stream,
        ..KcpConfig::fast()
    }
}

fn drain(kcp: &mut Kcp, now: Instant) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; kcp.config().mtu];
    while let Some(n) = kcp.poll_transmit(now, &mut buf) {
        assert!(n <= kcp.config().mtu);
        out.push(buf[..n].to_vec());
    }
    out
}

fn deliver(kcp: &mut Kcp, now: Instant, datagrams: &[Vec<u8>]) {
    for d in datagrams {
        kcp.handle_datagram(now, d);
    }
}

/// Exchanges datagrams over a perfect, instantaneous link until both sides are quiet.
fn settle(a: &mut Kcp, b: &mut Kcp, now: Instant) {
    for _ in 0..10_000 {
        let ab = drain(a, now);
        deliver(b, now, &ab);
        let ba = drain(b, now);
        deliver(a, now, &ba);
        if ab.is_empty() && ba.is_empty() {
            return;
        }
    }
    panic!("link never settled");
}

fn read_all(kcp: &mut Kcp) -> Vec<u8> {
    let mut out = Vec::new();
    kcp.read_chunks(|c| {
        out.extend_from_slice(c);
        c.len()
    });
    out
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn header_at(datagram: &[u8]) -> Vec<SegmentHeader> {
    Segments::new(datagram).map(|s| s.unwrap().0).collect()
}

#[test]
fn stream_transfer_and_idle_endpoints_sleep() {
    let now = Instant::from_millis(5);
    let mut a = Kcp::new(CONV, small(true), now);
    let mut b = Kcp::new(CONV, small(true), now);
    assert_eq!(a.poll_timeout(), None);
    let data = pattern(10_000, 1);
    a.write(&data).unwrap();
    assert_eq!(a.unsent_bytes(), 10_000);
    settle(&mut a, &mut b, now);
    assert_eq!(read_all(&mut b), data);
    assert_eq!(a.unacked_segments(), 0);
    assert_eq!(a.buffered_bytes(), 0);
    assert_eq!(
        a.poll_timeout(),
        None,
        "sender idle after everything was acknowledged"
    );
    assert_eq!(b.poll_timeout(), None, "receiver idle after its ACKs left");
    // Spurious timeouts change nothing and produce nothing.
    for ms in [5, 6, 100, 100_000] {
        a.handle_timeout(Instant::from_millis(ms));
        assert!(drain(&mut a, Instant::from_millis(ms)).is_empty());
        assert_eq!(a.poll_timeout(), None);
    }
    assert_eq!(a.state(), KcpState::Alive);
}

#[test]
fn small_writes_coalesce_into_full_datagrams() {
    let now = Instant::ZERO;
    let mut a = Kcp::new(CONV, KcpConfig::fast(), now);
    for i in 0..1000u32 {
        a.write(&i.to_le_bytes()).unwrap();
    }
    let out = drain(&mut a, now);
    // 4000 bytes in 1343-byte segments: 3 datagrams, each as large as the MTU allows.
    assert_eq!(out.len(), 3);
    assert_eq!(out[0].len(), 1367);
    assert_eq!(
        out.iter().map(|d| d.len() - HEADER_LEN).sum::<usize>(),
        4000
    );
}

#[test]
fn several_segments_share_a_datagram() {
    let now = Instant::ZERO;
    let mut a = Kcp::new(
        CONV,
        KcpConfig {
            stream: false,
            ..KcpConfig::fast()
        },
        now,
    );
    for _ in 0..10 {
        a.write(&[7; 100]).unwrap();
    }
    let out = drain(&mut a, now);
    assert_eq!(out.len(), 1);
    let headers = header_at(&out[0]);
    assert_eq!(headers.len(), 10);
    assert!(
        headers
            .iter()
            .enumerate()
            .all(|(i, h)| h.sn == i as u32 && h.cmd == Command::Push)
    );
}

#[test]
fn message_mode_fragments_and_reassembles() {
    let now = Instant::ZERO;
    let mut a = Kcp::new(CONV, small(false), now);
    let mut b = Kcp::new(CONV, small(false), now);
    let big = pattern(1000, 9); // 176-byte MSS: 6 fragments
    a.write(&big).unwrap();
    a.write(b"").unwrap();
    a.write(b"tail").unwrap();
    let out = drain(&mut a, now);
    let frgs: Vec<u8> = out
        .iter()
        .flat_map(|d| header_at(d))
        .map(|h| h.frg)
        .collect();
    assert_eq!(frgs, [5, 4, 3, 2, 1, 0, 0, 0]);
    // Deliver all but the last fragment of the big message: nothing is complete yet.
    let last_big = out
        .iter()
        .position(|d| header_at(d).iter().any(|h| h.sn == 5))
        .unwrap();
    for (i, d) in out.iter().enumerate() {
        if i != last_big {
            b.handle_datagram(now, d);
        }
    }
    assert_eq!(b.peek_size(), None);
    b.handle_datagram(now, &out[last_big]);
    assert_eq!(b.peek_size(), Some(1000));
    let mut small_buf = [0u8; 999];
    assert_eq!(
        b.read_message(&mut small_buf),
        Err(KcpReadError::BufferTooSmall {
            needed: 1000,
            available: 999
        })
    );
    let mut buf = [0u8; 2000];
    assert_eq!(b.read_message(&mut buf), Ok(Some(1000)));
    assert_eq!(&buf[..1000], &big[..]);
    assert_eq!(b.read_message(&mut buf), Ok(Some(0)));
    assert_eq!(b.read_message(&mut buf), Ok(Some(4)));
    assert_eq!(&buf[..4], b"tail");
    assert_eq!(b.read_message(&mut buf), Ok(None));
}

#[test]
fn message_larger_than_the_window_is_refused() {
    let config = KcpConfig {
        recv_window: 4,
        ..small(false)
    };
    let mut a = Kcp::new(CONV, config, Instant::ZERO);
    let mss = a.mss();
    assert_eq!(a.write(&vec![0; 4 * mss]), Ok(()));
    assert_eq!(
        a.write(&vec![0; 4 * mss + 1]),
        Err(KcpWriteError::TooLarge {
            len: 4 * mss + 1,
            max: 4 * mss
        })
    );
    let mut wide = Kcp::new(
        CONV,
        KcpConfig {
            recv_window: 4096,
            ..small(false)
        },
        Instant::ZERO,
    );
    // At most 127 fragments, as the reference (which cannot receive more), whatever the window.
    assert_eq!(wide.write(&vec![0; 127 * mss]), Ok(()));
    assert_eq!(
        wide.write(&vec![0; 127 * mss + 1]),
        Err(KcpWriteError::TooLarge {
            len: 127 * mss + 1,
            max: 127 * mss
        })
    );
}

#[test]
fn send_buffer_refuses_whole_writes_when_full() {
    let config = KcpConfig {
        send_buffer_limit: 1000,
        ..small(true)
    };
    let mut a = Kcp::new(CONV, config, Instant::ZERO);
    // 176-byte MSS: 1000 bytes of budget hold 5 segments (5 * 200) of payload 880.
    assert_eq!(a.send_capacity(), 880);
    assert_eq!(
        a.write(&[0; 881]),
        Err(KcpWriteError::TooLarge { len: 881, max: 880 })
    );
    a.write(&[1; 100]).unwrap();
    // 76 bytes of room in the last segment need no new header.
    assert_eq!(a.send_capacity(), 76 + 3 * 176 + 176);
    a.write(&[2; 700]).unwrap();
    assert_eq!(a.send_capacity(), 80);
    assert_eq!(
        a.write(&[3; 81]),
        Err(KcpWriteError::Full {
            len: 81,
            available: 80
        })
    );
    assert_eq!(a.unsent_bytes(), 800, "a refused write queues nothing");
    assert!(a.buffered_bytes() <= 1000);
    // Once acknowledged, the space is free again.
    let mut b = Kcp::new(CONV, small(true), Instant::ZERO);
    settle(&mut a, &mut b, Instant::ZERO);
    assert_eq!(a.send_capacity(), 880);
}

#[test]
fn empty_message_costs_a_header() {
    // Found by fuzzing: an empty message is a segment and must fit the byte bound too.
    let config = KcpConfig {
        send_buffer_limit: 210,
        ..small(false)
    };
    let mut a = Kcp::new(CONV, config, Instant::ZERO);
    a.write(&[0; 176]).unwrap();
    assert_eq!(a.buffered_bytes(), 200);
    assert_eq!(a.send_capacity(), 0);
    assert_eq!(
        a.write(b""),
        Err(KcpWriteError::Full {
            len: 0,
            available: 0
        })
    );
    assert!(a.buffered_bytes() <= 210);
}

#[test]
fn short_output_buffer_is_refused_without_loss() {
    let mut a = Kcp::new(CONV, small(true), Instant::ZERO);
    a.write(b"abc").unwrap();
    assert_eq!(a.poll_transmit(Instant::ZERO, &mut [0u8; 199]), None);
    assert_eq!(drain(&mut a, Instant::ZERO).len(), 1);
}

#[test]
fn lost_segment_is_retransmitted_at_its_rto_with_backoff() {
    let t0 = Instant::from_millis(1000);
    let mut a = Kcp::new(CONV, small(true), t0);
    a.write(b"x").unwrap();
    assert_eq!(drain(&mut a, t0).len(), 1); // lost
    // First RTO: the initial 200 ms (nodelay: no extra slack).
    assert_eq!(a.poll_timeout(), Some(Instant::from_millis(1200)));
    a.handle_timeout(Instant::from_millis(1199));
    assert!(drain(&mut a, Instant::from_millis(1199)).is_empty());
    a.handle_timeout(Instant::from_millis(1200));
    assert_eq!(a.stats().retransmits_timeout, 1);
    assert_eq!(drain(&mut a, Instant::from_millis(1200)).len(), 1);
    assert_eq!(
        a.poll_timeout(),
        Some(Instant::from_millis(1500)),
        "1.5x backoff: 200 + 100"
    );

    let mut normal = Kcp::new(
        CONV,
        KcpConfig {
            mtu: 200,
            ..KcpConfig::normal()
        },
        t0,
    );
    normal.write(b"x").unwrap();
    drain(&mut normal, t0);
    // Without nodelay the first deadline has rto/8 of slack, and each timeout doubles.
    assert_eq!(normal.poll_timeout(), Some(Instant::from_millis(1225)));
    normal.handle_timeout(Instant::from_millis(1225));
    drain(&mut normal, Instant::from_millis(1225));
    assert_eq!(normal.poll_timeout(), Some(Instant::from_millis(1625)));
}

#[test]
fn rtt_samples_drive_the_rto() {
    let t0 = Instant::ZERO;
    let mut a = Kcp::new(CONV, small(true), t0);
    let mut b = Kcp::new(CONV, small(true), t0);
    for round in 0..20u64 {
        let sent = Instant::from_millis(round * 100);
        a.write(b"ping").unwrap();
        let out = drain(&mut a, sent);
        let back = Instant::from_millis(round * 100 + 40);
        deliver(&mut b, back, &out);
        let acks = drain(&mut b, back);
        deliver(&mut a, back, &acks);
        read_all(&mut b);
    }
    assert_eq!(a.srtt(), Duration::from_millis(40));
    // rto = srtt + max(interval, 4 * rttvar), rttvar decays towards 0 on a steady RTT.
    assert!(a.rto() >= Duration::from_millis(50) && a.rto() <= Duration::from_millis(60));
}

#[test]
fn fast_resend_after_two_skipping_acks() {
    let now = Instant::ZERO;
    let config = KcpConfig {
        mtu: 200,
        stream: false,
        ..KcpConfig::fast()
    };
    let mut a = Kcp::new(CONV, config.clone(), now);
    let mut b = Kcp::new(CONV, config, now);
    for i in 0..4u8 {
        a.write(&[i; 150]).unwrap(); // one segment per datagram
    }
    let out = drain(&mut a, now);
    assert_eq!(out.len(), 4);
    // Segment 0 is lost; 1, 2, 3 arrive one by one, each ACK processed separately.
    for d in &out[1..] {
        b.handle_datagram(now, d);
        let acks = drain(&mut b, now);
        deliver(&mut a, now, &acks);
    }
    assert_eq!(a.stats().retransmits_fast, 1);
    let again = drain(&mut a, now);
    assert_eq!(again.len(), 1);
    assert_eq!(header_at(&again[0])[0].sn, 0);
    deliver(&mut b, now, &again);
    settle(&mut a, &mut b, now);
    let mut buf = [0u8; 200];
    for i in 0..4u8 {
        assert_eq!(b.read_message(&mut buf), Ok(Some(150)));
        assert_eq!(buf[0], i);
    }
    assert_eq!(a.stats().retransmits_timeout, 0);
}

#[test]
fn zero_window_is_probed_and_reopened() {
    let t0 = Instant::ZERO;
    let config = KcpConfig {
        recv_window: 4,
        send_window: 4,
        ..small(true)
    };
    let mut a = Kcp::new(CONV, config.clone(), t0);
    let mut b = Kcp::new(CONV, config, t0);
    a.write(&pattern(176 * 10, 3)).unwrap();
    settle(&mut a, &mut b, t0);
    // b never read: its window is full and a knows it.
    assert_eq!(b.recv_buffered_segments(), 4);
    assert_eq!(a.remote_window(), 0);
    assert_eq!(a.unacked_segments(), 0);
    assert_eq!(
        a.poll_timeout(),
        Some(Instant::from_millis(7000)),
        "probe after 7 s"
    );
    a.handle_timeout(Instant::from_millis(7000));
    let probe = drain(&mut a, Instant::from_millis(7000));
    assert_eq!(header_at(&probe[0])[0].cmd, Command::WindowProbe);
    assert_eq!(
        a.poll_timeout(),
        Some(Instant::from_millis(7000 + 10_500)),
        "1.5x backoff"
    );
    deliver(&mut b, Instant::from_millis(7000), &probe);
    let wins = drain(&mut b, Instant::from_millis(7000));
    assert_eq!(header_at(&wins[0])[0].cmd, Command::WindowSize);
    assert_eq!(header_at(&wins[0])[0].wnd, 0);
    // Reading reopens the window and b tells a at once.
    let mut got = read_all(&mut b);
    let update = drain(&mut b, Instant::from_millis(7001));
    assert_eq!(header_at(&update[0])[0].cmd, Command::WindowSize);
    assert_eq!(header_at(&update[0])[0].wnd, 4);
    deliver(&mut a, Instant::from_millis(7001), &update);
    assert_eq!(
        a.poll_timeout(),
        None,
        "probe disarmed once the window opened"
    );
    for ms in 7001..7100 {
        settle(&mut a, &mut b, Instant::from_millis(ms));
        got.extend(read_all(&mut b));
    }
    assert_eq!(got, pattern(176 * 10, 3));
    assert!(b.stats().window_updates_out >= 2);
}

#[test]
fn receive_side_never_exceeds_its_window() {
    let now = Instant::ZERO;
    let tx = KcpConfig {
        send_window: 64,
        ..small(true)
    };
    let rx = KcpConfig {
        recv_window: 8,
        ..small(true)
    };
    let mut a = Kcp::new(CONV, tx, now);
    let mut b = Kcp::new(CONV, rx, now);
    a.rmt_wnd = 64; // pretend the peer advertised more than it has
    a.write(&pattern(176 * 40, 5)).unwrap();
    let out = drain(&mut a, now);
    deliver(&mut b, now, &out);
    assert_eq!(b.recv_buffered_segments(), 8);
    assert_eq!(
        b.stats().drops.receive_window_full + b.stats().drops.beyond_window,
        32
    );
    assert_eq!(b.wnd_unused(), 0);
}

#[test]
fn dead_link_after_dead_link_transmissions() {
    let config = KcpConfig {
        dead_link: 5,
        ..small(true)
    };
    let mut a = Kcp::new(CONV, config, Instant::ZERO);
    a.write(b"into the void").unwrap();
    let mut sends = drain(&mut a, Instant::ZERO).len();
    let mut last = Instant::ZERO;
    while a.state() == KcpState::Alive {
        let at = a
            .poll_timeout()
            .expect("a deadline while data is unacknowledged");
        assert!(at > last, "deadlines always advance");
        last = at;
        a.handle_timeout(at);
        sends += drain(&mut a, at).len();
        assert!(sends < 100);
    }
    assert_eq!(sends, 5);
    assert_eq!(a.state(), KcpState::DeadLink);
}

fn raw(cmd: u8, conv: u32, sn: u32, una: u32, len: u32, payload: &[u8]) -> Vec<u8> {
    let h = SegmentHeader {
        conv,
        cmd: Command::Push,
        frg: 0,
        wnd: 32,
        ts: 0,
        sn,
        una,
        len,
    };
    let mut v = h.encode().to_vec();
    v[4] = cmd;
    v.extend_from_slice(payload);
    v
}

#[test]
fn malformed_input_is_counted_per_reason_and_stops_the_datagram() {
    let mut k = Kcp::new(CONV, small(true), Instant::ZERO);
    let now = Instant::ZERO;
    k.handle_datagram(now, &[]);
    assert_eq!(k.stats().drops.truncated_header, 1);
    let good = raw(81, CONV, 0, 0, 1, b"a");
    type Counter = fn(&KcpDrops) -> u64;
    let cases: Vec<(Vec<u8>, Counter)> = vec![
        (raw(81, CONV, 0, 0, 100, b"short"), |d| d.truncated_payload),
        (raw(99, CONV, 0, 0, 0, b""), |d| d.unknown_command),
        (raw(81, CONV ^ 1, 0, 0, 0, b""), |d| d.wrong_conv),
        (raw(81, CONV, 0, 0, 177, &[0; 177]), |d| d.oversized_segment),
        (raw(81, CONV, 0, 5, 0, b""), |d| d.invalid_una),
        (raw(82, CONV, 0, 0, 0, b""), |d| d.invalid_ack),
    ];
    for (bad, counter) in cases {
        let before = counter(&k.stats().drops);
        let mut datagram = bad.clone();
        datagram.extend_from_slice(&good);
        k.handle_datagram(now, &datagram);
        assert_eq!(counter(&k.stats().drops), before + 1, "case {bad:?}");
        assert_eq!(k.readable(), 0, "parsing stopped at the bad segment");
    }
    // Truncation after a good segment: the good one stays processed.
    let mut tail = good.clone();
    tail.extend_from_slice(&[0; 10]);
    k.handle_datagram(now, &tail);
    assert_eq!(k.readable(), 1);
    assert_eq!(k.stats().drops.truncated_header, 2);
    // Far outside the window: dropped, counted, parsing goes on.
    let mut far = raw(81, CONV, 0x4000_0000, 0, 0, b"");
    far.extend_from_slice(&raw(81, CONV, 1, 0, 1, b"b"));
    k.handle_datagram(now, &far);
    assert_eq!(k.stats().drops.beyond_window, 1);
    assert_eq!(k.readable(), 2);
    assert_eq!(k.stats().drops.malformed(), 8);
    assert_eq!(k.stats().duplicate_segments, 0);
    k.handle_datagram(now, &good);
    assert_eq!(k.stats().duplicate_segments, 1);
}

/// Two endpoints, `b` with `ack_delay`, after one round trip each way at `rtt_ms` so both have
/// an RTT sample; returns them and the time reached.
fn warmed_with_ack_delay(ack_delay: u32, rtt_ms: u64) -> (Kcp, Kcp, Instant) {
    let mut now = Instant::from_millis(100);
    let mut a = Kcp::new(
        CONV,
        KcpConfig {
            ack_delay: 0,
            ..small(true)
        },
        now,
    );
    let mut b = Kcp::new(
        CONV,
        KcpConfig {
            ack_delay,
            ..small(true)
        },
        now,
    );
    for (from_a, text) in [(true, b"ping"), (false, b"pong")] {
        let (src, dst) = if from_a {
            (&mut a, &mut b)
        } else {
            (&mut b, &mut a)
        };
        src.write(text).unwrap();
        let out = drain(src, now);
        now += Duration::from_millis(rtt_ms / 2);
        deliver(dst, now, &out);
        // The receiver acknowledges at once: two fresh endpoints hold nothing yet, or the
        // data went the other way.
        dst.handle_timeout(now + Duration::from_millis(50));
        let acks = drain(dst, now + Duration::from_millis(50));
        now += Duration::from_millis(rtt_ms / 2);
        deliver(src, now, &acks);
        now += Duration::from_millis(50);
        a.handle_timeout(now);
        b.handle_timeout(now);
        drain(&mut a, now);
        drain(&mut b, now);
    }
    (a, b, now)
}

#[test]
fn ack_delay_holds_a_lone_ack_until_data_or_the_deadline() {
    let (mut a, mut b, t0) = warmed_with_ack_delay(15, 0);
    a.write(b"hello").unwrap();
    let out = drain(&mut a, t0);
    deliver(&mut b, t0, &out);
    assert!(drain(&mut b, t0).is_empty(), "ACK waits for its delay");
    assert_eq!(b.poll_timeout(), Some(t0 + Duration::from_millis(15)));
    // Data written meanwhile carries the ACK at once.
    b.write(b"reply").unwrap();
    let t1 = t0 + Duration::from_millis(4);
    let both = drain(&mut b, t1);
    let headers = header_at(&both[0]);
    let cmds: Vec<Command> = headers.iter().map(|h| h.cmd).collect();
    assert_eq!(cmds, [Command::Ack, Command::Push]);
    assert_eq!(
        headers[0].ts,
        t1.as_millis() as u32,
        "the echoed timestamp moves on by the 4 ms the ACK was held"
    );
    // Without data, the deadline releases the ACK.
    a.write(b"again").unwrap();
    let t2 = t1 + Duration::from_millis(1);
    let out = drain(&mut a, t2);
    deliver(&mut b, t2, &out);
    assert!(drain(&mut b, t2).is_empty());
    b.handle_timeout(t2 + Duration::from_millis(15));
    let acks = drain(&mut b, t2 + Duration::from_millis(15));
    assert_eq!(acks.len(), 1);
    assert_eq!(header_at(&acks[0])[0].cmd, Command::Ack);
}

#[test]
fn ack_delay_acknowledges_at_once_what_tcp_would() {
    // No RTT sample yet: nothing is known of the peer's timer, so nothing waits.
    let t0 = Instant::from_millis(100);
    let mut a = Kcp::new(
        CONV,
        KcpConfig {
            ack_delay: 0,
            ..small(true)
        },
        t0,
    );
    let mut fresh = Kcp::new(
        CONV,
        KcpConfig {
            ack_delay: 15,
            ..small(true)
        },
        t0,
    );
    a.write(b"hello").unwrap();
    deliver(&mut fresh, t0, &drain(&mut a, t0));
    assert_eq!(drain(&mut fresh, t0).len(), 1, "no sample, no wait");

    // Two segments waiting.
    let (mut a, mut b, t0) = warmed_with_ack_delay(15, 0);
    a.write(&pattern(300, 1)).unwrap();
    let out = drain(&mut a, t0);
    assert_eq!(out.len(), 2);
    deliver(&mut b, t0, &out);
    assert_eq!(drain(&mut b, t0).len(), 1, "two segments: ACK at once");

    // A segment past a gap, then the one that fills it.
    let (mut a, mut b, t0) = warmed_with_ack_delay(15, 0);
    a.write(&pattern(300, 2)).unwrap();
    let out = drain(&mut a, t0);
    deliver(&mut b, t0, &out[1..]);
    assert_eq!(drain(&mut b, t0).len(), 1, "out of order: ACK at once");
    deliver(&mut b, t0, &out[..1]);
    assert_eq!(drain(&mut b, t0).len(), 1, "gap filled: ACK at once");
    // A duplicate.
    deliver(&mut b, t0, &out[..1]);
    assert_eq!(drain(&mut b, t0).len(), 1, "duplicate: ACK at once");
}

#[test]
fn ack_delay_shrinks_so_a_held_ack_beats_the_peers_timer() {
    // min RTO 30 ms: with a smoothed RTT of 8 ms, (30 - 10) / 2 = 10 ms; from 24 ms on, none.
    let (mut a, mut b, t0) = warmed_with_ack_delay(15, 8);
    a.write(b"hello").unwrap();
    deliver(&mut b, t0, &drain(&mut a, t0));
    assert!(drain(&mut b, t0).is_empty());
    assert_eq!(b.poll_timeout(), Some(t0 + Duration::from_millis(10)));

    let (mut a, mut b, t0) = warmed_with_ack_delay(15, 24);
    a.write(b"hello").unwrap();
    deliver(&mut b, t0, &drain(&mut a, t0));
    assert_eq!(
        drain(&mut b, t0).len(),
        1,
        "a long RTT leaves no room to wait"
    );
}

#[test]
fn sequence_numbers_and_timestamps_wrap() {
    // Clock 300 ms before the u32 millisecond wrap, sequence numbers 50 before theirs.
    let t0 = Instant::from_millis(u64::from(u32::MAX) - 300);
    let sn0 = u32::MAX - 50;
    let config = KcpConfig {
        send_window: 16,
        recv_window: 16,
        ..small(true)
    };
    let mut a = Kcp::with_initial_sn(CONV, config.clone(), t0, sn0).unwrap();
    let mut b = Kcp::with_initial_sn(CONV, config, t0, sn0).unwrap();
    let data = pattern(176 * 300, 11);
    let mut written = 0;
    let mut got = Vec::new();
    let mut now = t0;
    let mut n = 0u64;
    while got.len() < data.len() {
        let cap = a.send_capacity().min(data.len() - written);
        a.write(&data[written..written + cap]).unwrap();
        written += cap;
        now += Duration::from_millis(7);
        a.handle_timeout(now);
        b.handle_timeout(now);
        for d in drain(&mut a, now) {
            n += 1;
            if !n.is_multiple_of(5) {
                b.handle_datagram(now, &d); // every fifth datagram lost
            }
        }
        let acks = drain(&mut b, now);
        deliver(&mut a, now, &acks);
        got.extend(read_all(&mut b));
        assert!(now < t0 + Duration::from_secs(60), "transfer stalled");
    }
    assert_eq!(got, data);
    assert!(now.as_millis() > u64::from(u32::MAX), "the clock wrapped");
    assert!(b.rcv_nxt < sn0, "sequence numbers wrapped");
    assert!(
        a.srtt() < Duration::from_millis(100),
        "RTT estimate sane across the wrap"
    );
}

/// Ten one-segment messages from `a`, sent at `t0`; returns the datagrams (one segment each).
fn ten_segments(a: &mut Kcp, t0: Instant) -> Vec<Vec<u8>> {
    for i in 0..10u8 {
        a.write(&[i; 150]).unwrap();
    }
    let out = drain(a, t0);
    assert_eq!(out.len(), 10);
    out
}

fn data_sns(datagrams: &[Vec<u8>]) -> Vec<u32> {
    datagrams
        .iter()
        .flat_map(|d| header_at(d))
        .filter(|h| h.cmd == Command::Push)
        .map(|h| h.sn)
        .collect()
}

#[test]
fn ack_arriving_with_the_expired_timer_prevents_the_retransmission() {
    let t0 = Instant::from_millis(1000);
    let config = small(false);
    let mut a = Kcp::new(CONV, config.clone(), t0);
    let mut b = Kcp::new(CONV, config, t0);
    let out = ten_segments(&mut a, t0);
    deliver(&mut b, t0, &out);
    let acks = drain(&mut b, t0);
    // `a` stalls past every RTO; the ACKs were waiting for it and are handled first.
    let late = t0 + Duration::from_millis(500);
    deliver(&mut a, late, &acks);
    assert!(drain(&mut a, late).is_empty());
    assert_eq!(a.stats().retransmits_timeout, 0);
    assert_eq!(a.unacked_segments(), 0);
    assert_eq!(a.poll_timeout(), None);
}

#[test]
fn a_stall_sends_two_probes_and_holds_the_rest_of_the_window() {
    let t0 = Instant::from_millis(1000);
    let config = small(false);
    let mut a = Kcp::new(CONV, config.clone(), t0);
    let mut b = Kcp::new(CONV, config, t0);
    let out = ten_segments(&mut a, t0);
    deliver(&mut b, t0, &out);
    let acks = drain(&mut b, t0);
    // Both hosts stall; `a` wakes first and its timers fire before any ACK arrived.
    let late = t0 + Duration::from_millis(500);
    a.handle_timeout(late);
    let probes = drain(&mut a, late);
    assert_eq!(
        data_sns(&probes),
        vec![0, 1],
        "only the oldest two are resent"
    );
    assert_eq!(a.stats().retransmits_timeout, 2);
    assert_eq!(a.stats().timeouts_held, 8);
    // The peer's ACKs of the originals arrive: nothing else is ever resent.
    deliver(&mut a, late, &acks);
    assert!(drain(&mut a, late).is_empty());
    assert_eq!(a.unacked_segments(), 0);
    deliver(&mut b, late, &probes);
    let dup_acks = drain(&mut b, late);
    deliver(&mut a, late, &dup_acks);
    assert!(drain(&mut a, late).is_empty());
    assert_eq!(a.stats().retransmits_timeout, 2);
    assert_eq!(a.poll_timeout(), None);
    let mut buf = [0u8; 200];
    for i in 0..10u8 {
        assert_eq!(b.read_message(&mut buf), Ok(Some(150)));
        assert_eq!(buf[0], i);
    }
}

#[test]
fn a_lost_window_is_resent_once_the_probes_are_answered() {
    let t0 = Instant::from_millis(1000);
    let config = small(false);
    let mut a = Kcp::new(CONV, config.clone(), t0);
    let mut b = Kcp::new(CONV, config, t0);
    let _lost = ten_segments(&mut a, t0);
    let first_rto = t0 + Duration::from_millis(200);
    a.handle_timeout(first_rto);
    let probes = drain(&mut a, first_rto);
    assert_eq!(data_sns(&probes), vec![0, 1]);
    // The held segments wait for the probes' answer (or the probes' own timer), not their own.
    let held_deadline = a.poll_timeout().unwrap();
    assert!(held_deadline > first_rto);
    // The probes arrive 20 ms later and their ACKs 20 ms after that.
    let t1 = first_rto + Duration::from_millis(20);
    deliver(&mut b, t1, &probes);
    let acks = drain(&mut b, t1);
    let t2 = t1 + Duration::from_millis(20);
    assert!(t2 < held_deadline);
    deliver(&mut a, t2, &acks);
    let resent = drain(&mut a, t2);
    assert_eq!(data_sns(&resent), (2..10).collect::<Vec<u32>>());
    assert_eq!(a.stats().retransmits_timeout, 10);
    assert_eq!(a.stats().timeouts_held, 8);
    deliver(&mut b, t2, &resent);
    settle(&mut a, &mut b, t2);
    assert_eq!(a.unacked_segments(), 0);
    let mut buf = [0u8; 200];
    for i in 0..10u8 {
        assert_eq!(b.read_message(&mut buf), Ok(Some(150)));
        assert_eq!(buf[0], i);
    }
}

#[test]
fn lost_probes_back_off_and_keep_the_window_held() {
    let t0 = Instant::from_millis(1000);
    let mut a = Kcp::new(CONV, small(false), t0);
    let _lost = ten_segments(&mut a, t0);
    let mut now = t0;
    let mut sent = 0;
    for round in 0..4 {
        now = a.poll_timeout().unwrap();
        a.handle_timeout(now);
        let probes = drain(&mut a, now);
        assert_eq!(data_sns(&probes), vec![0, 1], "round {round}");
        sent += 2;
    }
    assert_eq!(a.stats().retransmits_timeout, sent);
    assert_eq!(
        a.stats().timeouts_held,
        8,
        "each held segment is counted once"
    );
    // Backed off: the next deadline is further away than the first RTO.
    assert!(a.poll_timeout().unwrap() - now > Duration::from_millis(200));
}

#[test]
fn write_parts_equals_one_write_of_the_concatenation() {
    let t0 = Instant::from_millis(5);
    let head = pattern(7, 1);
    let body = pattern(500, 2);
    let joined = [head.as_slice(), body.as_slice()].concat();
    for stream in [true, false] {
        let mut one = Kcp::new(CONV, small(stream), t0);
        let mut parts = Kcp::new(CONV, small(stream), t0);
        // A short write first, so stream mode fills the room left in its last segment.
        one.write(b"abc").unwrap();
        parts.write(b"abc").unwrap();
        one.write(&joined).unwrap();
        parts.write_parts(&[&head, &[], &body]).unwrap();
        assert_eq!(
            drain(&mut one, t0),
            drain(&mut parts, t0),
            "stream {stream}"
        );
        assert_eq!(one.buffered_bytes(), parts.buffered_bytes());
    }
    let mut full = Kcp::new(
        CONV,
        KcpConfig {
            send_buffer_limit: 700,
            ..small(true)
        },
        t0,
    );
    full.write(&[9; 300]).unwrap();
    let before = full.buffered_bytes();
    assert!(matches!(
        full.write_parts(&[&head, &body]),
        Err(KcpWriteError::Full { len: 507, .. })
    ));
    assert_eq!(full.buffered_bytes(), before, "refused whole");
}

#[test]
fn send_headroom_shrinks_sent_datagrams_only() {
    let now = Instant::ZERO;
    let mut a = Kcp::new(CONV, small(true), now);
    a.set_send_headroom(10);
    let mut b = Kcp::new(CONV, small(true), now);
    assert_eq!(a.mss(), 200 - 24 - 10);
    let data = pattern(2000, 3);
    a.write(&data).unwrap();
    b.write(&data).unwrap();
    let from_a = drain(&mut a, now);
    assert!(from_a.iter().all(|d| d.len() <= 190));
    assert!(from_a.iter().any(|d| d.len() == 190));
    // b sends full 200-byte datagrams, and a (with headroom) still accepts them.
    let from_b = drain(&mut b, now);
    assert!(from_b.iter().any(|d| d.len() == 200));
    deliver(&mut a, now, &from_b);
    deliver(&mut b, now, &from_a);
    settle(&mut a, &mut b, now);
    assert_eq!(read_all(&mut a), data);
    assert_eq!(read_all(&mut b), data);
    assert_eq!(a.stats().drops.oversized_segment, 0);
}
