//! What the end-to-end tests share: embedded KCPQ servers and clients, nats-server processes,
//! configuration files, bounded waits. Each test binary uses a part of it.
#![allow(dead_code, unreachable_pub)]

pub mod tansu;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::panic::Location;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use futures_lite::StreamExt;
use kcpq_bridge::{Bridge, BridgeEvent, Config, Stats};
use kcpq_tokio::core::crypto::{Key, KeySet};
use kcpq_tokio::core::server::ServerConfig;
use kcpq_tokio::{Server, ServerHandle};
use tokio::time::timeout;

/// Bound of every single wait.
pub const WAIT: Duration = Duration::from_secs(10);
/// Bound of a bridge's start, which retries a KCPQ handshake that timed out (5 s each) on a
/// starved machine.
pub const START: Duration = Duration::from_secs(30);
pub const KEY_BYTE: u8 = 7;

/// Shows the bridge's and the clients' logs of a failing test (`RUST_LOG=debug` for more).
pub fn init_logs() {
    let _ = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .is_test(true)
        .try_init();
}

/// A TCP port free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("find a free TCP port")
        .port()
}

/// The nats-server binary, or a failure that says how to get it.
pub fn nats_server_binary() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join("nats-server"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "nats-server is not installed: these tests need a real NATS server. \
                 Install it with `apt-get install -y nats-server` (.ci/run does)"
            )
        })
}

/// A nats-server child process on 127.0.0.1; killed on drop.
pub struct NatsServer {
    child: Child,
    pub port: u16,
}

impl NatsServer {
    /// Starts nats-server on an ephemeral port.
    pub fn start() -> NatsServer {
        NatsServer::start_on(free_port())
    }

    /// Starts nats-server on `port` and returns once it says it is ready.
    pub fn start_on(port: u16) -> NatsServer {
        NatsServer::start_with(port, &[])
    }

    /// Starts nats-server on `port` with `extra` arguments (cluster settings) and returns once
    /// it says it is ready.
    pub fn start_with(port: u16, extra: &[String]) -> NatsServer {
        let mut child = Command::new(nats_server_binary())
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nats-server");
        let stderr = child.stderr.take().expect("piped stderr");
        let (lines, ready) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("Server is ready") {
                    let _ = lines.send(());
                }
            }
        });
        let server = NatsServer { child, port };
        ready
            .recv_timeout(WAIT)
            .expect("nats-server did not report ready within 10 s");
        server
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn stop(mut self) -> u16 {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.port
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn keys() -> KeySet {
    KeySet::single(Key::from_bytes([KEY_BYTE; 32]))
}

pub async fn kcpq_server() -> ServerHandle {
    kcpq_server_with(ServerConfig::default()).await
}

/// An embedded KCPQ server on 127.0.0.1 with `config`.
pub async fn kcpq_server_with(config: ServerConfig) -> ServerHandle {
    Server::bind(SocketAddr::from(([127, 0, 0, 1], 0)), keys(), config)
        .await
        .expect("bind a KCPQ server")
        .spawn()
}

pub async fn kcpq_client(server: &ServerHandle) -> kcpq_tokio::Client {
    kcpq_tokio::Client::connect(server.local_addr(), keys())
        .await
        .expect("connect to the KCPQ server")
}

pub async fn nats_client(url: &str) -> async_nats::Client {
    timeout(WAIT, async_nats::connect(url))
        .await
        .expect("nats connect in time")
        .expect("connect to nats-server")
}

/// Subscribes `client` to `filter` and returns once nats-server has registered it. async-nats's
/// `flush` only empties the client's buffer, so this publishes on `probe` (which `filter` must
/// match) on the same connection and waits for it: the server handles a connection's operations
/// in order. Call it before the bridge starts, so that the bridge does not see the probe.
pub async fn nats_subscribe(
    client: &async_nats::Client,
    filter: &str,
    probe: &str,
) -> async_nats::Subscriber {
    let mut sub = client
        .subscribe(filter.to_owned())
        .await
        .expect("nats subscribe");
    client
        .publish(probe.to_owned(), "probe".into())
        .await
        .expect("nats publish");
    client.flush().await.expect("nats flush");
    assert_eq!(next_nats(&mut sub).await.subject.as_str(), probe);
    sub
}

/// Writes the key file and the bridge's configuration in `dir`, then loads it.
pub fn bridge_config(dir: &Path, id: &str, kcpq: SocketAddr, nats: &str, routes: &str) -> Config {
    config_file(
        dir,
        id,
        kcpq,
        &format!("[nats]\nurl = \"{nats}\"\n{routes}"),
    )
}

/// Writes the key file and a configuration with `id`, `[kcpq]` and `rest` in `dir`, then loads
/// it.
pub fn config_file(dir: &Path, id: &str, kcpq: SocketAddr, rest: &str) -> Config {
    let hex: String = std::iter::repeat_n(format!("{KEY_BYTE:02x}"), 32).collect();
    std::fs::write(dir.join("kcpq.key"), format!("{hex}\n")).expect("write the key file");
    let text = format!(
        "id = \"{id}\"\nstats_interval_secs = 1\n\
         [kcpq]\nurl = \"kcp://{kcpq}\"\nkey_file = \"kcpq.key\"\n{rest}"
    );
    let path = dir.join("bridge.toml");
    std::fs::write(&path, text).expect("write the configuration");
    Config::load(&path).expect("a valid configuration")
}

/// Starts a bridge, within [`START`].
pub async fn start_bridge(config: Config) -> Bridge {
    timeout(START, Bridge::start(config))
        .await
        .expect("the bridge starts in time")
        .expect("the bridge starts")
}

/// The next message of `sub`, within [`WAIT`]; a failure names the caller's line.
#[track_caller]
pub fn next_kcpq(
    sub: &mut kcpq_tokio::Subscription,
) -> impl Future<Output = kcpq_tokio::Message> + '_ {
    let caller = Location::caller();
    async move {
        timeout(WAIT, sub.next())
            .await
            .unwrap_or_else(|_| panic!("no KCPQ message within {WAIT:?} (waited at {caller})"))
            .unwrap_or_else(|| panic!("the KCPQ subscription ended (waited at {caller})"))
    }
}

/// The next message of `sub`, within [`WAIT`]; a failure names the caller's line.
#[track_caller]
pub fn next_nats(
    sub: &mut async_nats::Subscriber,
) -> impl Future<Output = async_nats::Message> + '_ {
    let caller = Location::caller();
    async move {
        timeout(WAIT, sub.next())
            .await
            .unwrap_or_else(|_| panic!("no NATS message within {WAIT:?} (waited at {caller})"))
            .unwrap_or_else(|| panic!("the NATS subscription ended (waited at {caller})"))
    }
}

/// Waits (bounded by [`WAIT`]) until the bridge's counters satisfy `done`; they cannot be
/// awaited.
pub async fn stats_until(bridge: &Bridge, done: impl Fn(&Stats) -> bool) -> Stats {
    stats_within(bridge, WAIT, done).await
}

/// Waits (bounded by `bound`) until the bridge's counters satisfy `done`.
pub async fn stats_within(
    bridge: &Bridge,
    bound: Duration,
    done: impl Fn(&Stats) -> bool,
) -> Stats {
    let poll = async {
        loop {
            let stats = bridge.stats();
            if done(&stats) {
                return stats;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    timeout(bound, poll).await.unwrap_or_else(|_| {
        panic!(
            "counters never matched within {bound:?}: {}",
            bridge.stats()
        )
    })
}

pub async fn next_event(
    events: &mut tokio::sync::broadcast::Receiver<BridgeEvent>,
    want: BridgeEvent,
) {
    let wait = async {
        loop {
            match events.recv().await {
                Ok(event) if event == want => return,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("bridge events ended: {e}"),
            }
        }
    };
    timeout(Duration::from_secs(20), wait)
        .await
        .unwrap_or_else(|_| panic!("no {want:?} event within 20 s"));
}
