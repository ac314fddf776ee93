//! Through a userspace UDP relay that drops 10 % of datagrams each way and reorders others:
//! nothing lost, nothing out of order.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use common::{WAIT, options};
use kcpq_std::Client;

/// A seeded xorshift generator: the relay's decisions, reproducible per seed.
struct Dice(u64);

impl Dice {
    fn percent(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % 100
    }
}

/// Relays between one client (the first source that is not the server) and the server,
/// dropping `loss` % of datagrams and holding back another `reorder` % until the next one has
/// passed (or 5 ms), in both directions.
struct Relay {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<u64>>,
}

impl Relay {
    fn start(server: SocketAddr, seed: u64, loss: u64, reorder: u64) -> Relay {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind relay");
        socket
            .set_read_timeout(Some(Duration::from_millis(5)))
            .expect("read timeout");
        let addr = socket.local_addr().expect("relay address");
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut dice = Dice(seed);
            let mut client: Option<SocketAddr> = None;
            let mut held: Option<(Vec<u8>, SocketAddr)> = None;
            let mut dropped = 0;
            let mut buf = vec![0u8; 65_536];
            while !stopped.load(Ordering::Relaxed) {
                let Ok((len, from)) = socket.recv_from(&mut buf) else {
                    if let Some((bytes, to)) = held.take() {
                        let _ = socket.send_to(&bytes, to);
                    }
                    continue;
                };
                let to = if from == server {
                    match client {
                        Some(c) => c,
                        None => continue,
                    }
                } else {
                    client = Some(from);
                    server
                };
                let roll = dice.percent();
                if roll < loss {
                    dropped += 1;
                    continue;
                }
                if roll < loss + reorder && held.is_none() {
                    held = Some((buf[..len].to_vec(), to));
                    continue;
                }
                let _ = socket.send_to(&buf[..len], to);
                if let Some((bytes, to)) = held.take() {
                    let _ = socket.send_to(&bytes, to);
                }
            }
            dropped
        });
        Relay {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the relay and returns how many datagrams it dropped.
    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .map_or(0, |t| t.join().expect("relay thread"))
    }
}

#[test]
fn ten_percent_loss_and_reordering_lose_nothing_and_keep_order() {
    let server = common::server();
    let sub_relay = Relay::start(server.local_addr(), 0x9e37_79b9_7f4a_7c15, 10, 10);
    let pub_relay = Relay::start(server.local_addr(), 0x2545_f491_4f6c_dd1d, 10, 10);
    let subscriber = Client::connect_with(options(sub_relay.addr, "sub")).expect("connect sub");
    let publisher = Client::connect_with(options(pub_relay.addr, "pub")).expect("connect pub");
    let sub = subscriber.subscribe("seq.>").expect("subscribe");

    const COUNT: u32 = 1000;
    for i in 0..COUNT {
        // Mixed sizes, some spanning several datagrams.
        let mut payload = i.to_le_bytes().to_vec();
        payload.resize(4 + (i as usize * 37) % 2000, (i % 256) as u8);
        publisher.publish("seq.n", payload).expect("publish");
    }
    publisher.flush().expect("flush through the lossy link");
    for expected in 0..COUNT {
        let m = sub.recv_timeout(WAIT).expect("every message arrives");
        let got = u32::from_le_bytes(m.payload[..4].try_into().expect("4 bytes"));
        assert_eq!(got, expected, "in order");
        assert_eq!(m.payload.len(), 4 + (expected as usize * 37) % 2000);
    }
    assert_eq!(sub.dropped(), 0);

    // Request/reply crosses both lossy links.
    let service = subscriber.subscribe("echo").expect("subscribe echo");
    let echo = std::thread::spawn(move || {
        let m = service.recv_timeout(WAIT).expect("request");
        let reply = m.reply.expect("reply subject");
        subscriber.publish(&reply, m.payload).expect("reply");
        subscriber.flush().expect("flush");
        subscriber.close();
    });
    let answer = publisher.request("echo", b"ping", WAIT).expect("reply");
    assert_eq!(answer.payload, b"ping");
    echo.join().expect("echo thread");
    publisher.close();

    assert!(sub_relay.stop() > 0, "the relay dropped datagrams");
    assert!(pub_relay.stop() > 0, "the relay dropped datagrams");
    server.shutdown();
}
