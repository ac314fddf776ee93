//! No heap allocation per segment in steady state: after a warm-up, thousands of segments go
//! through a pair of endpoints (with losses, so retransmissions and reordering happen too)
//! without a single allocation, counted by a wrapping global allocator. And an endpoint that
//! has exchanged a few small messages (a broker session after CONNECT, SUB and PING) holds
//! little heap: servers keep thousands of those.

use std::time::Duration;

use kcpq_core::Instant;
use kcpq_core::kcp::{Kcp, KcpConfig};

mod alloc_count;

use alloc_count::{Counting, charged};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Two endpoints wired back to back through fixed buffers; every `loss_every`-th datagram from
/// `a` is dropped. Time advances 1 ms per round.
struct Rig {
    a: Kcp,
    b: Kcp,
    now: Instant,
    datagram: Vec<u8>,
    payload: Vec<u8>,
    sink: Vec<u8>,
    sent: u64,
    received: usize,
    loss_every: u64,
}

impl Rig {
    fn round(&mut self, writes: usize, write_len: usize) {
        self.now += Duration::from_millis(1);
        let now = self.now;
        for _ in 0..writes {
            if self.a.send_capacity() >= write_len {
                self.a
                    .write(&self.payload[..write_len])
                    .expect("capacity checked");
            }
        }
        self.a.handle_timeout(now);
        self.b.handle_timeout(now);
        while let Some(n) = self.a.poll_transmit(now, &mut self.datagram) {
            self.sent += 1;
            if !self.sent.is_multiple_of(self.loss_every) {
                self.b.handle_datagram(now, &self.datagram[..n]);
            }
        }
        while let Some(n) = self.b.poll_transmit(now, &mut self.datagram) {
            self.a.handle_datagram(now, &self.datagram[..n]);
        }
        let sink = &mut self.sink;
        self.received += self.b.read_chunks(|chunk| {
            let n = chunk.len().min(sink.len());
            sink[..n].copy_from_slice(&chunk[..n]);
            n
        });
    }
}

fn rig(stream: bool) -> Rig {
    let mut config = KcpConfig::fast();
    config.stream = stream;
    config.send_window = 128;
    config.recv_window = 128;
    config.send_buffer_limit = 1 << 20;
    Rig {
        a: Kcp::new(1, config.clone(), Instant::ZERO),
        b: Kcp::new(1, config, Instant::ZERO),
        now: Instant::ZERO,
        datagram: vec![0; 1367],
        payload: vec![0xAB; 64 * 1024],
        sink: vec![0; 64 * 1024],
        sent: 0,
        received: 0,
        loss_every: 50,
    }
}

fn measure(stream: bool, write_len: usize, writes: usize, warm_up: usize) -> (usize, u64, usize) {
    let mut r = rig(stream);
    for _ in 0..warm_up {
        r.round(writes, write_len);
    }
    let (sent_before, received_before) = (r.sent, r.received);
    let ((), allocations) = alloc_count::allocations_of(|| {
        for _ in 0..3000 {
            r.round(writes, write_len);
        }
    });
    (
        allocations,
        r.sent - sent_before,
        r.received - received_before,
    )
}

#[test]
fn steady_state_allocates_nothing() {
    for (stream, write_len, writes) in [(true, 100, 20), (true, 4000, 4), (false, 700, 8)] {
        let (allocations, datagrams, bytes) = measure(stream, write_len, writes, 3000);
        assert!(datagrams > 5000, "a real workload: {datagrams} datagrams");
        assert!(bytes > 5_000_000, "data really flowed: {bytes} bytes");
        assert_eq!(
            allocations, 0,
            "stream={stream} write_len={write_len}: {allocations} allocations"
        );
    }
    // The counter sees the warm-up's allocations (buffers growing to their working size).
    let (cold, _, _) = measure(true, 100, 20, 0);
    assert!(cold > 0, "the counting allocator counts");
}

/// Heap bytes `server` holds after the exchange of a broker session's first moments: three
/// small messages each way (CONNECT / OK, SUB / OK, PING / PONG), each answered and acknowledged.
/// Only the server endpoint's calls are charged.
fn held_after_small_exchange() -> isize {
    let config = KcpConfig::fast();
    let mut now = Instant::ZERO;
    let mut datagram = vec![0u8; 1367];
    let mut sink = vec![0u8; 4096];
    let mut client = Kcp::new(1, config.clone(), now);
    let before = alloc_count::live_bytes();
    let mut server = charged(|| Kcp::new(1, config, now));
    for (request, answer) in [(96, 120), (48, 40), (16, 16)] {
        now += Duration::from_millis(1);
        client
            .write(&vec![1u8; request])
            .expect("room for a small write");
        while let Some(n) = client.poll_transmit(now, &mut datagram) {
            charged(|| server.handle_datagram(now, &datagram[..n]));
        }
        charged(|| {
            let read = server.read(&mut sink);
            assert_eq!(read, request);
            server
                .write(&vec![2u8; answer])
                .expect("room for a small write");
        });
        while let Some(n) = charged(|| server.poll_transmit(now, &mut datagram)) {
            client.handle_datagram(now, &datagram[..n]);
        }
        assert_eq!(client.read(&mut sink), answer);
        while let Some(n) = client.poll_transmit(now, &mut datagram) {
            charged(|| server.handle_datagram(now, &datagram[..n]));
        }
    }
    // The client's ACK of the last answer waits for data to ride on (`ack_delay`); past its
    // deadline it leaves alone.
    now += Duration::from_millis(u64::from(KcpConfig::fast().ack_delay));
    client.handle_timeout(now);
    while let Some(n) = client.poll_transmit(now, &mut datagram) {
        charged(|| server.handle_datagram(now, &datagram[..n]));
    }
    assert_eq!(server.unacked_segments(), 0, "everything was acknowledged");
    let held = alloc_count::live_bytes() - before;
    drop(server);
    held
}

#[test]
fn an_endpoint_after_a_few_small_messages_holds_little_heap() {
    let held = held_after_small_exchange();
    // The reassembly buffers of three small received segments, a send buffer sized to its
    // traffic, and the endpoint's queues: well under one MSS-sized buffer (1 343 bytes) each.
    assert!(held > 0, "the counter sees the endpoint's buffers");
    assert!(held <= 1_536, "an idle endpoint holds {held} heap bytes");
}
