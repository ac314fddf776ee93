//! End to end: a real nats-server (the Debian package; CI installs it), an embedded KCPQ server,
//! and the bridge in-process.
#![allow(missing_docs)]

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use futures_lite::StreamExt;
use kcpq_bridge::{Bridge, BridgeEvent, Config, ORIGIN_HEADER, Stats};
use kcpq_smol::core::crypto::{Key, KeySet};
use kcpq_smol::core::server::ServerConfig;
use kcpq_smol::{Server, ServerHandle};
use tokio::time::timeout;

/// Bound of every single wait.
const WAIT: Duration = Duration::from_secs(10);
const KEY_BYTE: u8 = 7;

/// The nats-server binary, or a failure that says how to get it.
fn nats_server_binary() -> PathBuf {
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
struct NatsServer {
    child: Child,
    port: u16,
}

impl NatsServer {
    /// Starts nats-server on an ephemeral port.
    fn start() -> NatsServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("find a free TCP port")
            .port();
        NatsServer::start_on(port)
    }

    /// Starts nats-server on `port` and returns once it says it is ready.
    fn start_on(port: u16) -> NatsServer {
        let mut child = Command::new(nats_server_binary())
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
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

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn stop(mut self) -> u16 {
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

fn keys() -> KeySet {
    KeySet::single(Key::from_bytes([KEY_BYTE; 32]))
}

async fn kcpq_server() -> ServerHandle {
    Server::bind(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        keys(),
        ServerConfig::default(),
    )
    .await
    .expect("bind a KCPQ server")
    .spawn()
}

async fn kcpq_client(server: &ServerHandle) -> kcpq_smol::Client {
    kcpq_smol::Client::connect(server.local_addr(), keys())
        .await
        .expect("connect to the KCPQ server")
}

async fn nats_client(url: &str) -> async_nats::Client {
    timeout(WAIT, async_nats::connect(url))
        .await
        .expect("nats connect in time")
        .expect("connect to nats-server")
}

/// Writes the key file and the bridge's configuration in `dir`, then loads it.
fn bridge_config(dir: &Path, id: &str, kcpq: SocketAddr, nats: &str, routes: &str) -> Config {
    let hex: String = std::iter::repeat_n(format!("{KEY_BYTE:02x}"), 32).collect();
    std::fs::write(dir.join("kcpq.key"), format!("{hex}\n")).expect("write the key file");
    let text = format!(
        "id = \"{id}\"\nstats_interval_secs = 1\n\
         [kcpq]\nurl = \"kcp://{kcpq}\"\nkey_file = \"kcpq.key\"\n\
         [nats]\nurl = \"{nats}\"\n{routes}"
    );
    let path = dir.join("bridge.toml");
    std::fs::write(&path, text).expect("write the configuration");
    Config::load(&path).expect("a valid configuration")
}

async fn next_kcpq(sub: &mut kcpq_smol::Subscription) -> kcpq_smol::Message {
    timeout(WAIT, sub.next())
        .await
        .expect("a KCPQ message within 10 s")
        .expect("the KCPQ subscription is open")
}

async fn next_nats(sub: &mut async_nats::Subscriber) -> async_nats::Message {
    timeout(WAIT, sub.next())
        .await
        .expect("a NATS message within 10 s")
        .expect("the NATS subscription is open")
}

/// Waits (bounded) until the bridge's counters satisfy `done`; they cannot be awaited.
async fn stats_until(bridge: &Bridge, done: impl Fn(&Stats) -> bool) -> Stats {
    let poll = async {
        loop {
            let stats = bridge.stats();
            if done(&stats) {
                return stats;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    timeout(WAIT, poll)
        .await
        .unwrap_or_else(|_| panic!("counters never matched: {}", bridge.stats()))
}

async fn next_event(events: &mut tokio::sync::broadcast::Receiver<BridgeEvent>, want: BridgeEvent) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_cross_both_ways_with_mapping() {
    let nats_server = NatsServer::start();
    let kcpq = kcpq_server().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let routes = r#"
        [[route]]
        from = "kcpq"
        subject = "telemetry.>"
        to_subject = "edge1.telemetry.>"
        [[route]]
        from = "nats"
        subject = "edge1.cmd.*"
        to_subject = "cmd.*"
    "#;
    let config = bridge_config(
        dir.path(),
        "b1",
        kcpq.local_addr(),
        &nats_server.url(),
        routes,
    );
    let bridge = timeout(WAIT, Bridge::start(config))
        .await
        .expect("the bridge starts in time")
        .expect("the bridge starts");

    let nats = nats_client(&nats_server.url()).await;
    let mut nats_sub = nats.subscribe("edge1.>").await.expect("nats subscribe");
    nats.flush().await.expect("nats flush");
    let client = kcpq_client(&kcpq).await;
    let mut kcpq_sub = client.subscribe("cmd.>").await.expect("kcpq subscribe");

    client
        .publish_with_headers("telemetry.cpu.load", None, &[("Unit", "%")], "42")
        .await
        .expect("kcpq publish");
    let message = next_nats(&mut nats_sub).await;
    assert_eq!(message.subject.as_str(), "edge1.telemetry.cpu.load");
    assert_eq!(&message.payload[..], b"42");
    let headers = message.headers.expect("headers");
    assert_eq!(headers.get("Unit").map(|v| v.as_str()), Some("%"));
    assert_eq!(headers.get(ORIGIN_HEADER).map(|v| v.as_str()), Some("b1"));

    nats.publish("edge1.cmd.reboot", "now".into())
        .await
        .expect("nats publish");
    nats.flush().await.expect("nats flush");
    let message = next_kcpq(&mut kcpq_sub).await;
    assert_eq!(message.subject, "cmd.reboot");
    assert_eq!(&message.payload[..], b"now");
    let origin = message
        .headers()
        .and_then(|h| h.get(ORIGIN_HEADER).map(str::to_owned));
    assert_eq!(origin.as_deref(), Some("b1"));

    // A subject outside every route stays where it was published.
    nats.publish("edge1.other", "stays".into())
        .await
        .expect("nats publish");
    assert_eq!(
        next_nats(&mut nats_sub).await.subject.as_str(),
        "edge1.other"
    );
    let stats = bridge.stats();
    assert_eq!(stats.kcpq_to_nats.forwarded, 1, "{stats}");
    assert_eq!(stats.nats_to_kcpq.forwarded, 1, "{stats}");
    bridge.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_two_way_routes_do_not_loop() {
    let nats_server = NatsServer::start();
    let kcpq = kcpq_server().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let routes = r#"
        [[route]]
        from = "kcpq"
        subject = "shared.>"
        [[route]]
        from = "nats"
        subject = "shared.>"
    "#;
    let config = bridge_config(
        dir.path(),
        "b2",
        kcpq.local_addr(),
        &nats_server.url(),
        routes,
    );
    let bridge = timeout(WAIT, Bridge::start(config))
        .await
        .expect("the bridge starts in time")
        .expect("the bridge starts");
    let nats = nats_client(&nats_server.url()).await;
    let mut nats_sub = nats.subscribe("shared.>").await.expect("nats subscribe");
    nats.flush().await.expect("nats flush");
    let client = kcpq_client(&kcpq).await;
    let mut kcpq_sub = client.subscribe("shared.>").await.expect("kcpq subscribe");

    // From KCPQ: the copy the bridge puts on NATS comes back to the bridge and is dropped there.
    client
        .publish("shared.a", "k1")
        .await
        .expect("kcpq publish");
    assert_eq!(&next_kcpq(&mut kcpq_sub).await.payload[..], b"k1");
    assert_eq!(&next_nats(&mut nats_sub).await.payload[..], b"k1");
    let stats = stats_until(&bridge, |s| s.nats_to_kcpq.looped == 1).await;
    assert_eq!(stats.kcpq_to_nats.forwarded, 1, "{stats}");
    assert_eq!(stats.nats_to_kcpq.forwarded, 0, "{stats}");

    // From NATS: the same the other way.
    nats.publish("shared.b", "n1".into())
        .await
        .expect("nats publish");
    nats.flush().await.expect("nats flush");
    assert_eq!(&next_nats(&mut nats_sub).await.payload[..], b"n1");
    assert_eq!(&next_kcpq(&mut kcpq_sub).await.payload[..], b"n1");
    let stats = stats_until(&bridge, |s| s.kcpq_to_nats.looped == 1).await;
    assert_eq!(stats.nats_to_kcpq.forwarded, 1, "{stats}");
    assert_eq!(stats.kcpq_to_nats.forwarded, 1, "{stats}");

    // Every message the bridge took is accounted for: nothing more is on its way, so neither
    // side sees a second copy. A last message from each side proves the streams hold no extra.
    client
        .publish("shared.end", "k2")
        .await
        .expect("kcpq publish");
    nats.publish("shared.end", "n2".into())
        .await
        .expect("nats publish");
    nats.flush().await.expect("nats flush");
    let stats = stats_until(&bridge, |s| {
        s.kcpq_to_nats.received == 4 && s.nats_to_kcpq.received == 4
    })
    .await;
    assert_eq!(stats.kcpq_to_nats.forwarded, 2, "{stats}");
    assert_eq!(stats.nats_to_kcpq.forwarded, 2, "{stats}");
    assert_eq!(stats.kcpq_to_nats.looped, 2, "{stats}");
    assert_eq!(stats.nats_to_kcpq.looped, 2, "{stats}");
    let mut kcpq_tail = vec![
        next_kcpq(&mut kcpq_sub).await,
        next_kcpq(&mut kcpq_sub).await,
    ];
    let mut nats_tail = vec![
        next_nats(&mut nats_sub).await.payload,
        next_nats(&mut nats_sub).await.payload,
    ];
    kcpq_tail.sort_by(|a, b| a.payload.cmp(&b.payload));
    nats_tail.sort();
    let kcpq_tail: Vec<&[u8]> = kcpq_tail.iter().map(|m| &m.payload[..]).collect();
    assert_eq!(kcpq_tail, [&b"k2"[..], &b"n2"[..]]);
    assert_eq!(nats_tail, [&b"k2"[..], &b"n2"[..]]);
    bridge.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bridge_survives_a_nats_server_restart() {
    let nats_server = NatsServer::start();
    let url = nats_server.url();
    let kcpq = kcpq_server().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let routes = r#"
        [[route]]
        from = "kcpq"
        subject = "up.>"
        [[route]]
        from = "nats"
        subject = "down.>"
    "#;
    let config = bridge_config(dir.path(), "b3", kcpq.local_addr(), &url, routes);
    let bridge = timeout(WAIT, Bridge::start(config))
        .await
        .expect("the bridge starts in time")
        .expect("the bridge starts");
    let mut events = bridge.events();
    let client = kcpq_client(&kcpq).await;
    let mut kcpq_sub = client.subscribe("down.>").await.expect("kcpq subscribe");

    let port = nats_server.stop();
    next_event(&mut events, BridgeEvent::NatsDisconnected).await;
    let nats_server = NatsServer::start_on(port);
    next_event(&mut events, BridgeEvent::NatsConnected).await;

    // The bridge restores its NATS subscription right after reconnecting; each probe waits a
    // little for its answer, and the probes as a whole are bounded.
    let nats = nats_client(&nats_server.url()).await;
    let mut nats_sub = nats.subscribe("up.>").await.expect("nats subscribe");
    nats.flush().await.expect("nats flush");
    let probes = async {
        for i in 0u32.. {
            let payload = format!("up{i}");
            client
                .publish("up.probe", payload.clone())
                .await
                .expect("kcpq publish");
            if let Ok(Some(message)) = timeout(Duration::from_millis(500), nats_sub.next()).await {
                assert!(message.payload.starts_with(b"up"));
                return;
            }
        }
    };
    timeout(Duration::from_secs(20), probes)
        .await
        .expect("KCPQ to NATS flows again after the restart");
    let probes = async {
        for i in 0u32.. {
            nats.publish("down.probe", format!("down{i}").into())
                .await
                .expect("nats publish");
            nats.flush().await.expect("nats flush");
            if let Ok(Some(message)) = timeout(Duration::from_millis(500), kcpq_sub.next()).await {
                assert_eq!(message.subject, "down.probe");
                return;
            }
        }
    };
    timeout(Duration::from_secs(20), probes)
        .await
        .expect("NATS to KCPQ flows again after the restart");
    bridge.shutdown().await;
}
