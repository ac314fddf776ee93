//! Helpers shared by the end-to-end tests: a server on an ephemeral port, clients, a bound on
//! every test, and a lossy, reordering UDP relay, all on tokio.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use kcpq_tokio::core::crypto::{Key, KeySet};
use kcpq_tokio::core::server::ServerConfig;
use kcpq_tokio::{Client, ClientOptions, Server, ServerHandle};
use tokio::net::UdpSocket;

/// The key every test server and client shares.
pub fn keys() -> KeySet {
    KeySet::single(Key::from_bytes([7; 32]))
}

/// Runs `test` on a multi-thread tokio runtime, failing if it takes longer than `limit`.
pub fn bounded<T>(limit: Duration, test: impl Future<Output = T>) -> T {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime
        .block_on(async { tokio::time::timeout(limit, test).await })
        .expect("the test did not finish within its bound")
}

/// A server on 127.0.0.1 with an ephemeral port, running on the current runtime.
pub async fn server() -> ServerHandle {
    server_with(ServerConfig::default()).await
}

/// A server with `config`.
pub async fn server_with(config: ServerConfig) -> ServerHandle {
    let addr = SocketAddr::from(([127, 0, 0, 1], 0));
    Server::bind(addr, keys(), config)
        .await
        .expect("bind a server on 127.0.0.1")
        .spawn()
}

/// A client connected to `addr` with the test key.
pub async fn client(addr: SocketAddr) -> Client {
    Client::connect_with(options(addr))
        .await
        .expect("connect to the test server")
}

/// Client options for `addr` with the test key.
pub fn options(addr: SocketAddr) -> ClientOptions {
    let mut options = ClientOptions::new(addr, keys());
    options.connect_timeout = Duration::from_secs(5);
    options
}

/// A tiny deterministic generator (xorshift64*), enough to decide drops and swaps.
struct Dice(u64);

impl Dice {
    fn percent(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % 100
    }
}

/// Impairment of one direction: drop `loss` percent, and hold back `reorder` percent of the
/// datagrams until the next one has passed.
struct Impair {
    dice: Dice,
    loss: u64,
    reorder: u64,
    held: Option<Vec<u8>>,
}

impl Impair {
    /// The datagrams to forward now, in order.
    fn pass(&mut self, datagram: &[u8]) -> Vec<Vec<u8>> {
        if self.dice.percent() < self.loss {
            return Vec::new();
        }
        if self.held.is_none() && self.dice.percent() < self.reorder {
            self.held = Some(datagram.to_vec());
            return Vec::new();
        }
        let mut out = vec![datagram.to_vec()];
        out.extend(self.held.take());
        out
    }
}

/// Starts a relay for one client in front of `server`, dropping `loss` percent of the datagrams
/// in each direction and reordering `reorder` percent; returns the address clients use.
pub async fn relay(server: SocketAddr, loss: u64, reorder: u64, seed: u64) -> SocketAddr {
    let front = UdpSocket::bind(("127.0.0.1", 0))
        .await
        .expect("bind relay front");
    let back = UdpSocket::bind(("127.0.0.1", 0))
        .await
        .expect("bind relay back");
    let addr = front.local_addr().expect("relay address");
    let impair = |seed| Impair {
        dice: Dice(seed | 1),
        loss,
        reorder,
        held: None,
    };
    let (mut up, mut down) = (impair(seed), impair(seed.rotate_left(32)));
    tokio::spawn(async move {
        let mut client: Option<SocketAddr> = None;
        let (mut a, mut b) = (vec![0u8; 65_536], vec![0u8; 65_536]);
        loop {
            tokio::select! {
                received = front.recv_from(&mut a) => {
                    let Ok((len, from)) = received else { continue };
                    client = Some(from);
                    for datagram in up.pass(&a[..len]) {
                        let _ = back.send_to(&datagram, server).await;
                    }
                }
                received = back.recv_from(&mut b) => {
                    let Ok((len, _)) = received else { continue };
                    if let Some(client) = client {
                        for datagram in down.pass(&b[..len]) {
                            let _ = front.send_to(&datagram, client).await;
                        }
                    }
                }
            }
        }
    });
    addr
}
