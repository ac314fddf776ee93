//! Clients that vanish, over real UDP: a dropped client and a process that ends without
//! `close` free their sessions at once; a second instance takes a client name over.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{bounded, options, server};
use futures_lite::StreamExt;
use kcpq_smol::core::CloseReason;
use kcpq_smol::core::proto::ErrorCode;
use kcpq_smol::{Client, Event, ServerEvent, ServerEvents};

/// Well under the 37.5 s after which a silent session is found dead: a session freed within
/// this bound was freed by its CLOSE.
const BY_CLOSE: Duration = Duration::from_secs(10);

/// Waits for the session of `name` to end and returns why.
async fn disconnected(events: &mut ServerEvents, name: &str) -> CloseReason {
    loop {
        match events.next().await.expect("the server runs") {
            ServerEvent::ClientDisconnected {
                name: n, reason, ..
            } if n == name => return reason,
            ServerEvent::HeartbeatTimeout { name: n, .. } if n == name => {
                panic!("{name} was found dead by silence, not closed")
            }
            _ => {}
        }
    }
}

async fn named(addr: std::net::SocketAddr, name: &str) -> Client {
    let mut options = options(addr);
    options.config.name = name.to_owned();
    Client::connect_with(options).await.expect("connect")
}

#[test]
fn dropping_the_last_handle_closes_the_session_at_once() {
    bounded(Duration::from_secs(30), async {
        let server = server().await;
        let mut events = server.events();
        let client = named(server.local_addr(), "dropper").await;
        let clone = client.clone();
        let sub = client.subscribe("a.>").await.expect("subscribe");
        drop(client);
        // A clone keeps the connection.
        clone.flush().await.expect("the clone still works");
        drop(clone);
        let reason = kcpq_smol::with_timeout(BY_CLOSE, disconnected(&mut events, "dropper"))
            .await
            .expect("freed by the CLOSE");
        assert!(matches!(reason, CloseReason::PeerClosed(_)), "{reason:?}");
        // The subscription outlives the client: its stream ends.
        let mut sub = sub;
        assert!(sub.next().await.is_none());
    });
}

/// The server address the child process connects to.
const CHILD_SERVER_ENV: &str = "KCPQ_VANISH_CHILD_SERVER";

/// Not a test of its own: the program that `a_program_that_ends_without_close_frees_its_session`
/// runs in a child process. It connects (the default spawner: the driver on smol's global
/// executor), publishes, and ends with the client dropped, never closed.
#[test]
#[ignore = "the child process of a_program_that_ends_without_close_frees_its_session"]
fn child_program_connects_publishes_and_ends() {
    let addr = std::env::var(CHILD_SERVER_ENV)
        .expect("set by the parent test")
        .parse()
        .expect("an address");
    smol::block_on(async {
        let client = named(addr, "short-lived").await;
        client.publish("a.b", "bye").await.expect("publish");
    });
    // As `main` returning does: the process ends now, with the driver's thread.
    std::process::exit(0);
}

#[test]
fn a_program_that_ends_without_close_frees_its_session() {
    bounded(Duration::from_secs(60), async {
        let server = server().await;
        let mut events = server.events();
        let status = Command::new(std::env::current_exe().expect("this test binary"))
            .args([
                "--exact",
                "child_program_connects_publishes_and_ends",
                "--ignored",
            ])
            .env(CHILD_SERVER_ENV, server.local_addr().to_string())
            .stdout(std::process::Stdio::null())
            .status()
            .expect("run the child program");
        assert!(status.success());
        let reason = kcpq_smol::with_timeout(BY_CLOSE, disconnected(&mut events, "short-lived"))
            .await
            .expect("freed by the CLOSE");
        assert!(matches!(reason, CloseReason::PeerClosed(_)), "{reason:?}");
    });
}

#[test]
fn kcpq_bench_conns_frees_the_sessions_it_drops() {
    bounded(Duration::from_secs(60), async {
        let server = server().await;
        let mut events = server.events();
        // The test key, `common::keys()`: 32 bytes of 7.
        let key_hex = "07".repeat(32);
        // kcpq-bench conns opens clients and drops them as `main` ends, without `close`.
        let status = Command::new(env!("CARGO_BIN_EXE_kcpq-bench"))
            .args(["--url", &format!("kcp://{}", server.local_addr())])
            .args(["conns", "--n", "8", "--settle", "0", "--verify", "0"])
            .env("KCPQ_AES256_KEY_HEX", key_hex)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("run kcpq-bench");
        assert!(status.success());
        let mut closed = 0;
        let all_closed = async {
            while closed < 8 {
                match events.next().await.expect("the server runs") {
                    ServerEvent::ClientDisconnected {
                        reason: CloseReason::PeerClosed(_),
                        ..
                    } => closed += 1,
                    ServerEvent::HeartbeatTimeout { .. } => panic!("found dead by silence"),
                    _ => {}
                }
            }
        };
        kcpq_smol::with_timeout(BY_CLOSE, all_closed)
            .await
            .expect("every session freed by its CLOSE");
        assert!(server.sessions().await.expect("clients").is_empty());
    });
}

#[test]
fn a_second_instance_takes_the_name_over_and_the_first_stops() {
    bounded(Duration::from_secs(30), async {
        let server = server().await;
        let mut server_events = server.events();
        let first = named(server.local_addr(), "cam-7").await;
        let mut first_events = first.events();
        let second = named(server.local_addr(), "cam-7").await;
        let reason = disconnected(&mut server_events, "cam-7").await;
        assert_eq!(reason, CloseReason::Replaced);
        let mut seen = Vec::new();
        while let Some(event) = first_events.next().await {
            seen.push(event);
        }
        assert!(
            seen.iter().any(|e| matches!(
                e,
                Event::ServerError(err) if err.code == ErrorCode::Replaced
            )),
            "{seen:?}"
        );
        assert!(
            seen.contains(&Event::Disconnected(CloseReason::Replaced)),
            "{seen:?}"
        );
        assert_eq!(seen.last(), Some(&Event::Closed));
        // The new instance is the one connected.
        second.flush().await.expect("the new instance works");
        let clients = server.sessions().await.expect("clients");
        assert_eq!(clients.len(), 1);
        assert_eq!(clients[0].name, "cam-7");
    });
}
