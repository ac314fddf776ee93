//! Property: any sequence of writes over any seeded lossy, reordering, duplicating link is
//! delivered exactly once and in order (stream mode: the same bytes; message mode: the same
//! messages), and both sides stay within their bounds at every step.

mod kcp_support;

use kcp_support::{LinkConfig, Pair};
use kcpq_core::Instant;
use kcpq_core::kcp::{Kcp, KcpConfig, KcpWriteError};
use proptest::prelude::*;

const CONV: u32 = 77;
const MAX_STEPS: u64 = 400_000;

#[derive(Clone, Debug)]
struct Setup {
    stream: bool,
    mtu: usize,
    send_window: u16,
    recv_window: u16,
    buffer_slack: usize,
    fast: bool,
    link: LinkConfig,
    seed: u64,
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        any::<bool>(),
        60usize..800,
        2u16..48,
        2u16..48,
        0usize..20_000,
        any::<bool>(),
        (0u32..250, 0u32..150, 0u64..30, 0u64..30),
        any::<u64>(),
    )
        .prop_map(
            |(stream, mtu, sw, rw, slack, fast, (loss, dup, delay, jitter), seed)| Setup {
                stream,
                mtu,
                send_window: sw,
                recv_window: rw,
                buffer_slack: slack,
                fast,
                link: LinkConfig::lossy(loss, dup, delay, jitter),
                seed,
            },
        )
}

fn config(s: &Setup, max_message: usize) -> KcpConfig {
    let mut c = if s.fast {
        KcpConfig::fast()
    } else {
        KcpConfig::normal()
    };
    c.stream = s.stream;
    c.mtu = s.mtu;
    c.send_window = s.send_window;
    c.recv_window = s.recv_window;
    // Room for the largest message (payload plus a header per fragment) and then some.
    let fragments = max_message.div_ceil(s.mtu - 24).max(1);
    c.send_buffer_limit = max_message + 24 * fragments + s.mtu + s.buffer_slack;
    c
}

fn check_bounds(p: &Pair<Kcp, Kcp>) {
    for k in [&p.a, &p.b] {
        let c = k.config();
        assert!(
            k.buffered_bytes() <= c.send_buffer_limit,
            "send side over its byte bound"
        );
        assert!(
            k.recv_buffered_segments() <= usize::from(c.recv_window),
            "receive side over its window"
        );
        assert!(
            k.unacked_segments() <= usize::from(c.send_window),
            "more in flight than the send window"
        );
        if let Some(t) = k.poll_timeout() {
            assert!(
                t + std::time::Duration::from_millis(1) >= p.now,
                "deadline left in the past after a drain"
            );
        }
    }
}

/// Runs messages `ab` from a to b and `ba` from b to a; returns what each side received.
fn run(s: &Setup, ab: &[Vec<u8>], ba: &[Vec<u8>]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let largest = ab.iter().chain(ba).map(Vec::len).max().unwrap_or(0);
    let c = config(s, largest);
    let mut pair = Pair::new(
        Kcp::new(CONV, c.clone(), Instant::ZERO),
        Kcp::new(CONV, c, Instant::ZERO),
        s.link.clone(),
        s.seed,
    );
    let (mut next_ab, mut next_ba) = (0, 0);
    let (mut got_b, mut got_a) = (Vec::new(), Vec::new());
    let (mut bytes_b, mut bytes_a) = (Vec::new(), Vec::new());
    let total_ab: usize = ab.iter().map(Vec::len).sum();
    let total_ba: usize = ba.iter().map(Vec::len).sum();
    let stream = s.stream;
    let mut buf = vec![0u8; largest.max(1)];
    let result = pair.run(MAX_STEPS, |p| {
        check_bounds(p);
        for (k, msgs, next) in [(&mut p.a, ab, &mut next_ab), (&mut p.b, ba, &mut next_ba)] {
            while let Some(m) = msgs.get(*next) {
                match k.write(m) {
                    Ok(()) => *next += 1,
                    Err(KcpWriteError::Full { .. }) => break,
                    Err(e) => panic!("unexpected write error {e}"),
                }
            }
        }
        for (k, got, bytes) in [
            (&mut p.b, &mut got_b, &mut bytes_b),
            (&mut p.a, &mut got_a, &mut bytes_a),
        ] {
            if stream {
                k.read_chunks(|c| {
                    bytes.extend_from_slice(c);
                    c.len()
                });
            } else {
                while let Some(n) = k
                    .read_message(&mut buf)
                    .expect("buffer fits the largest message")
                {
                    got.push(buf[..n].to_vec());
                }
            }
        }
        if stream {
            bytes_b.len() >= total_ab
                && bytes_a.len() >= total_ba
                && next_ab == ab.len()
                && next_ba == ba.len()
        } else {
            got_b.len() >= ab.len() && got_a.len() >= ba.len()
        }
    });
    result.unwrap_or_else(|e| panic!("run did not finish: {e:?} after {} steps", pair.steps));
    if stream {
        (vec![bytes_b], vec![bytes_a])
    } else {
        (got_b, got_a)
    }
}

fn messages() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(
        prop_oneof![
            3 => prop::collection::vec(any::<u8>(), 0..64),
            2 => prop::collection::vec(any::<u8>(), 64..1500),
            1 => prop::collection::vec(any::<u8>(), 1500..6000),
        ],
        0..24,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn delivered_exactly_once_in_order_within_bounds(s in setup(), ab in messages(), ba in messages()) {
        // Message mode: a message may have at most min(256, recv_window) fragments.
        let mss = s.mtu - 24;
        let max_msg = usize::from(s.recv_window).min(256) * mss;
        let fit = |v: Vec<Vec<u8>>| -> Vec<Vec<u8>> {
            if s.stream { v } else { v.into_iter().map(|mut m| { m.truncate(max_msg); m }).collect() }
        };
        let (ab, ba) = (fit(ab), fit(ba));
        let (got_b, got_a) = run(&s, &ab, &ba);
        if s.stream {
            prop_assert_eq!(&got_b[0], &ab.concat());
            prop_assert_eq!(&got_a[0], &ba.concat());
        } else {
            prop_assert_eq!(got_b, ab);
            prop_assert_eq!(got_a, ba);
        }
    }
}
