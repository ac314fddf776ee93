//! Two KCP endpoints over an in-memory link with 5 ms of delay and 2 % loss, on a virtual clock.
//! Sends 8 MiB one way and prints the simulated throughput and the counters.
//!
//! Run with `cargo run -p kcpq-examples --release --example kcp_pair`.

use std::collections::VecDeque;
use std::time::Duration;

use kcpq_core::Instant;
use kcpq_core::kcp::{Kcp, KcpConfig};
use kcpq_core::rng::Rng;

const TOTAL: usize = 8 << 20;
const DELAY: Duration = Duration::from_millis(5);
const LOSS_PERCENT: u64 = 2;

/// Datagrams on the wire: (arrival time, bytes), in arrival order (constant delay).
type Wire = VecDeque<(Instant, Vec<u8>)>;

fn send_all(from: &mut Kcp, wire: &mut Wire, rng: &mut Rng, now: Instant, buf: &mut [u8]) {
    while let Some(n) = from.poll_transmit(now, buf) {
        if rng.below(100) >= LOSS_PERCENT {
            wire.push_back((now + DELAY, buf[..n].to_vec()));
        }
    }
}

fn main() {
    let mut rng = Rng::from_seed([7; 32]);
    let mut now = Instant::ZERO;
    let mut a = Kcp::new(1, KcpConfig::fast(), now);
    let mut b = Kcp::new(1, KcpConfig::fast(), now);
    let (mut ab, mut ba) = (Wire::new(), Wire::new());
    let mut buf = vec![0u8; KcpConfig::fast().mtu];
    let chunk = vec![0x42u8; 16 * 1024];
    let (mut written, mut received) = (0, 0);

    while received < TOTAL {
        // The application: write what fits, read what arrived.
        while written < TOTAL && a.send_capacity() >= chunk.len() {
            a.write(&chunk).expect("capacity checked");
            written += chunk.len();
        }
        received += b.read_chunks(|bytes| bytes.len());
        // The drain contract: after every input, drain poll_transmit.
        send_all(&mut a, &mut ab, &mut rng, now, &mut buf);
        send_all(&mut b, &mut ba, &mut rng, now, &mut buf);
        // Sleep until the next deadline or arrival.
        let next = [
            a.poll_timeout(),
            b.poll_timeout(),
            ab.front().map(|d| d.0),
            ba.front().map(|d| d.0),
        ]
        .into_iter()
        .flatten()
        .min();
        now = now.max(next.expect("something is in flight until everything arrived"));
        while ab.front().is_some_and(|d| d.0 <= now) {
            let (_, d) = ab.pop_front().expect("front checked");
            b.handle_datagram(now, &d);
        }
        while ba.front().is_some_and(|d| d.0 <= now) {
            let (_, d) = ba.pop_front().expect("front checked");
            a.handle_datagram(now, &d);
        }
        a.handle_timeout(now);
        b.handle_timeout(now);
    }

    let secs = (now - Instant::ZERO).as_secs_f64();
    println!(
        "{TOTAL} bytes in {secs:.3} s of simulated time: {:.1} MB/s",
        TOTAL as f64 / secs / 1e6
    );
    println!("srtt {:?}, rto {:?}", a.srtt(), a.rto());
    println!("sender: {:?}", a.stats());
    println!("receiver: {:?}", b.stats());
}
