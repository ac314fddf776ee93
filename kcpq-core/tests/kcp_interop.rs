//! Interoperability: our KCP exchanges data with an independent implementation (the `kcp` crate,
//! a port of `ikcp.c`) over a lossy, reordering, duplicating simulated link, in both directions.
//!
//! The `kcp` crate's queues are unbounded (we apply back-pressure on its send queue here) and its
//! u32 arithmetic is not wrap-safe, so its clock starts at zero and stays small.

mod kcp_support;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, Write};
use std::rc::Rc;

use kcp_support::{Endpoint, LinkConfig, Pair, pattern, transfer};
use kcpq_core::Instant;
use kcpq_core::kcp::{Kcp, KcpConfig};

const CONV: u32 = 0xC0FF_EE01;
const MTU: usize = 1367;
const WINDOW: u16 = 256;

/// Datagrams the reference implementation emitted, waiting for `poll_transmit`.
#[derive(Clone, Default)]
struct Outbox(Rc<RefCell<VecDeque<Vec<u8>>>>);

impl Write for Outbox {
    fn write(&mut self, datagram: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().push_back(datagram.to_vec());
        Ok(datagram.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The `kcp` crate behind the harness's sans-IO interface.
struct Reference {
    kcp: kcp::Kcp<Outbox>,
    outbox: Outbox,
    now: Instant,
    read_buf: Vec<u8>,
    input_errors: u64,
}

impl Reference {
    fn new() -> Self {
        let outbox = Outbox::default();
        let mut kcp = kcp::Kcp::new_stream(CONV, outbox.clone());
        kcp.set_mtu(MTU).expect("valid mtu");
        kcp.set_nodelay(true, 10, 2, true);
        kcp.set_wndsize(WINDOW, WINDOW);
        Reference {
            kcp,
            outbox,
            now: Instant::ZERO,
            read_buf: vec![0; MTU],
            input_errors: 0,
        }
    }

    fn clock(&mut self, now: Instant) -> u32 {
        self.now = self.now.max(now);
        u32::try_from(self.now.as_millis()).expect("the reference's clock stays small")
    }
}

impl Endpoint for Reference {
    fn mtu(&self) -> usize {
        MTU
    }
    fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        self.clock(now);
        if self.kcp.input(datagram).is_err() {
            self.input_errors += 1;
        }
    }
    fn handle_timeout(&mut self, now: Instant) {
        let ms = self.clock(now);
        self.kcp
            .update(ms)
            .expect("update with an in-memory output cannot fail");
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let ms = self.clock(now);
        if self.outbox.0.borrow().is_empty() {
            self.kcp
                .update(ms)
                .expect("update with an in-memory output cannot fail");
        }
        let datagram = self.outbox.0.borrow_mut().pop_front()?;
        buf[..datagram.len()].copy_from_slice(&datagram);
        Some(datagram.len())
    }
    fn poll_timeout(&self) -> Option<Instant> {
        // `check` returns 0 while a retransmission is overdue even though `update` only flushes
        // on its interval boundary (as `ikcp_check` does): wait at least 1 ms so the virtual
        // clock advances instead of spinning.
        let ms = self.now.as_millis() as u32;
        let wait = self.kcp.check(ms).max(1);
        Some(Instant::from_millis(self.now.as_millis() + u64::from(wait)))
    }
    fn write_some(&mut self, data: &[u8]) -> usize {
        // Bounded by hand: keep at most two windows of segments queued.
        if data.is_empty() || self.kcp.wait_snd() >= 2 * usize::from(WINDOW) {
            return 0;
        }
        let n = data.len().min(64 * self.kcp.mss());
        self.kcp
            .send(&data[..n])
            .expect("fewer than 128 segments per send")
    }
    fn read_all(&mut self, out: &mut Vec<u8>) {
        while let Ok(n) = self.kcp.recv(&mut self.read_buf) {
            out.extend_from_slice(&self.read_buf[..n]);
        }
    }
}

fn ours() -> Kcp {
    let mut config = KcpConfig::fast();
    config.mtu = MTU;
    config.stream = true;
    config.send_window = WINDOW;
    config.recv_window = WINDOW;
    Kcp::new(CONV, config, Instant::ZERO)
}

/// 10 % loss, 2 % duplication, 10 ms delay with 10 ms of jitter (reordering).
fn hostile_link() -> LinkConfig {
    LinkConfig::lossy(100, 20, 10, 10)
}

#[test]
fn both_directions_at_once_under_loss_reordering_and_duplication() {
    let to_ref = pattern(2 << 20, 1);
    let to_ours = pattern(2 << 20, 2);
    let mut pair = Pair::new(ours(), Reference::new(), hostile_link(), 42);
    let (got_ref, got_ours) =
        transfer(&mut pair, &to_ref, &to_ours, 2_000_000, |_| {}).expect("transfer completes");
    assert!(
        got_ref == to_ref,
        "the reference received our bytes intact and in order"
    );
    assert!(
        got_ours == to_ours,
        "we received the reference's bytes intact and in order"
    );
    assert!(
        pair.ab.stats.lost > 100 && pair.ba.stats.lost > 100,
        "the link really lost data"
    );
    assert!(pair.ab.stats.duplicated > 0 && pair.ba.stats.duplicated > 0);
    let stats = pair.a.stats();
    assert!(stats.retransmits_fast + stats.retransmits_timeout > 0);
    assert_eq!(
        stats.drops.malformed(),
        0,
        "every segment of the reference parsed"
    );
    assert!(stats.duplicate_segments > 0);
    assert_eq!(
        pair.b.input_errors, 0,
        "the reference parsed every datagram of ours"
    );
    assert!(
        pair.now < Instant::from_millis(600_000),
        "well within the reference's clock range"
    );
}

#[test]
fn one_way_each_direction() {
    let data = pattern(1 << 20, 3);
    let mut pair = Pair::new(ours(), Reference::new(), hostile_link(), 7);
    let (got, _) = transfer(&mut pair, &data, &[], 2_000_000, |_| {}).expect("ours to reference");
    assert!(got == data);
    let mut pair = Pair::new(Reference::new(), ours(), hostile_link(), 8);
    let (got, _) = transfer(&mut pair, &data, &[], 2_000_000, |_| {}).expect("reference to ours");
    assert!(got == data);
    assert_eq!(pair.b.stats().drops.malformed(), 0);
}
