//! End to end through a NATS cluster: three nats-server nodes routed to each other on
//! 127.0.0.1, two KCPQ servers (edges A and B), each bridged to a different node.
#![allow(missing_docs)]

mod common;

use std::time::Duration;

use common::*;
use futures_lite::StreamExt;
use kcpq_bridge::{Bridge, BridgeEvent, ORIGIN_HEADER};
use kcpq_tokio::ServerHandle;
use tokio::time::timeout;

/// A three-node cluster; each node is killed on drop.
struct Cluster {
    nodes: Vec<Option<NatsServer>>,
}

impl Cluster {
    /// Starts three nodes with full-mesh routes and returns once a message published on the
    /// first node reaches a subscriber on the last one.
    async fn start() -> Cluster {
        let cluster_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let nodes = (0..3)
            .map(|i| {
                let routes: Vec<String> = cluster_ports
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, port)| format!("nats://127.0.0.1:{port}"))
                    .collect();
                let args = [
                    "--cluster_name".to_owned(),
                    "kcpq-test".to_owned(),
                    "--cluster".to_owned(),
                    format!("nats://127.0.0.1:{}", cluster_ports[i]),
                    "--routes".to_owned(),
                    routes.join(","),
                ];
                Some(NatsServer::start_with(free_port(), &args))
            })
            .collect();
        let cluster = Cluster { nodes };
        let first = nats_client(&cluster.url(0)).await;
        let last = nats_client(&cluster.url(2)).await;
        let mut sub = last.subscribe("mesh.>").await.expect("nats subscribe");
        last.flush().await.expect("nats flush");
        let probes = async {
            loop {
                first
                    .publish("mesh.probe", "p".into())
                    .await
                    .expect("nats publish");
                first.flush().await.expect("nats flush");
                if timeout(Duration::from_millis(200), sub.next())
                    .await
                    .is_ok()
                {
                    return;
                }
            }
        };
        timeout(Duration::from_secs(20), probes)
            .await
            .expect("the cluster routes within 20 s");
        cluster
    }

    fn url(&self, node: usize) -> String {
        self.nodes[node].as_ref().expect("a running node").url()
    }

    fn stop(&mut self, node: usize) {
        if let Some(server) = self.nodes[node].take() {
            server.stop();
        }
    }
}

/// The two edges and their bridges: A on node 0 (with node 1 as its second url), B on node 2.
struct Edges {
    a: ServerHandle,
    b: ServerHandle,
    bridge_a: Bridge,
    bridge_b: Bridge,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

const ROUTES_A: &str = r#"
    [[route]]
    from = "kcpq"
    subject = "to_b.>"
    [[route]]
    from = "kcpq"
    subject = "shared.>"
    [[route]]
    from = "nats"
    subject = "shared.>"
    [[route]]
    from = "kcpq"
    subject = "svc.>"
"#;

const ROUTES_B: &str = r#"
    [[route]]
    from = "nats"
    subject = "to_b.>"
    [[route]]
    from = "kcpq"
    subject = "shared.>"
    [[route]]
    from = "nats"
    subject = "shared.>"
    [[route]]
    from = "nats"
    subject = "svc.>"
"#;

async fn edges(cluster: &Cluster) -> Edges {
    let a = kcpq_server().await;
    let b = kcpq_server().await;
    let dir_a = tempfile::tempdir().expect("a temporary directory");
    let dir_b = tempfile::tempdir().expect("a temporary directory");
    let urls_a = format!("[\"{}\", \"{}\"]", cluster.url(0), cluster.url(1));
    let config_a = config_file(
        dir_a.path(),
        "edge-a",
        a.local_addr(),
        &format!("[nats]\nurl = {urls_a}\n{ROUTES_A}"),
    );
    let config_b = bridge_config(
        dir_b.path(),
        "edge-b",
        b.local_addr(),
        &cluster.url(2),
        ROUTES_B,
    );
    let bridge_a = start_bridge(config_a).await;
    let bridge_b = start_bridge(config_b).await;
    Edges {
        a,
        b,
        bridge_a,
        bridge_b,
        _dirs: (dir_a, dir_b),
    }
}

/// Publishes `probe` on edge A until it reaches `sub` on edge B (the bridges' NATS
/// subscriptions cross the cluster asynchronously); then every probe is drained. Returns the
/// subjects of the other messages `sub` received meanwhile.
async fn until_routed(
    client: &kcpq_tokio::Client,
    subject: &str,
    sub: &mut kcpq_tokio::Subscription,
) -> Vec<String> {
    let mut others = Vec::new();
    let probes = async {
        loop {
            client
                .publish(subject, "probe")
                .await
                .expect("kcpq publish");
            while let Ok(Some(message)) = timeout(Duration::from_millis(300), sub.next()).await {
                if message.subject == subject {
                    return;
                }
                others.push(message.subject.into());
            }
        }
    };
    timeout(Duration::from_secs(20), probes)
        .await
        .unwrap_or_else(|_| panic!("{subject} never crossed from edge A to edge B"));
    while let Ok(Some(message)) = timeout(Duration::from_millis(300), sub.next()).await {
        if message.subject != subject {
            others.push(message.subject.into());
        }
    }
    others
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edges_talk_once_through_a_nats_cluster() {
    init_logs();
    let cluster = Cluster::start().await;
    let edges = edges(&cluster).await;
    let client_a = kcpq_client(&edges.a).await;
    let client_b = kcpq_client(&edges.b).await;
    let mut on_b = client_b.subscribe("to_b.>").await.expect("kcpq subscribe");
    let mut shared_a = client_a
        .subscribe("shared.>")
        .await
        .expect("kcpq subscribe");
    let mut shared_b = client_b
        .subscribe("shared.>")
        .await
        .expect("kcpq subscribe");
    until_routed(&client_a, "to_b.probe", &mut on_b).await;

    // One way: exactly once, then the end marker (a second copy would come before it).
    client_a
        .publish("to_b.x", "m1")
        .await
        .expect("kcpq publish");
    client_a
        .publish("to_b.end", "end")
        .await
        .expect("kcpq publish");
    let message = next_kcpq(&mut on_b).await;
    assert_eq!(
        (message.subject.as_str(), &message.payload[..]),
        ("to_b.x", &b"m1"[..])
    );
    let origins: Vec<String> = message
        .headers()
        .map(|h| {
            h.iter()
                .filter(|(n, _)| *n == ORIGIN_HEADER)
                .map(|(_, v)| v.to_owned())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(origins, ["edge-a", "edge-b"]);
    assert_eq!(&next_kcpq(&mut on_b).await.payload[..], b"end");

    // Overlapping two-way routes: each edge sees each message once, and nothing loops.
    until_routed(&client_a, "shared.probe", &mut shared_b).await;
    while let Ok(Some(_)) = timeout(Duration::from_millis(300), shared_a.next()).await {}
    client_a
        .publish("shared.a", "from-a")
        .await
        .expect("kcpq publish");
    client_b
        .publish("shared.b", "from-b")
        .await
        .expect("kcpq publish");
    let mut seen_a = vec![
        next_kcpq(&mut shared_a).await.payload,
        next_kcpq(&mut shared_a).await.payload,
    ];
    let mut seen_b = vec![
        next_kcpq(&mut shared_b).await.payload,
        next_kcpq(&mut shared_b).await.payload,
    ];
    seen_a.sort();
    seen_b.sort();
    assert_eq!(seen_a, [&b"from-a"[..], &b"from-b"[..]]);
    assert_eq!(seen_b, [&b"from-a"[..], &b"from-b"[..]]);
    client_a
        .publish("shared.end", "end-a")
        .await
        .expect("kcpq publish");
    assert_eq!(&next_kcpq(&mut shared_a).await.payload[..], b"end-a");
    assert_eq!(&next_kcpq(&mut shared_b).await.payload[..], b"end-a");
    let a = edges.bridge_a.stats();
    let b = edges.bridge_b.stats();
    assert!(
        a.nats_to_kcpq.looped > 0 && b.kcpq_to_nats.looped > 0,
        "{a} / {b}"
    );

    // Request/reply from edge A to a responder on edge B.
    let mut service = client_b
        .subscribe("svc.echo")
        .await
        .expect("kcpq subscribe");
    let responder = client_b.clone();
    let serve = tokio::spawn(async move {
        while let Some(request) = service.next().await {
            let reply = request.reply.expect("a reply subject");
            let mut answer = request.payload.to_vec();
            answer.extend_from_slice(b"-pong");
            responder.publish(&reply, answer).await.expect("kcpq reply");
        }
    });
    let asking = async {
        loop {
            if let Ok(reply) = client_a
                .request("svc.echo", "ping", Duration::from_millis(500))
                .await
            {
                return reply;
            }
        }
    };
    let reply = timeout(Duration::from_secs(20), asking)
        .await
        .expect("a reply from edge B within 20 s");
    assert_eq!(&reply.payload[..], b"ping-pong");
    serve.abort();
    edges.bridge_a.shutdown().await;
    edges.bridge_b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bridge_moves_to_another_node_when_its_node_stops() {
    init_logs();
    let mut cluster = Cluster::start().await;
    let edges = edges(&cluster).await;
    let client_a = kcpq_client(&edges.a).await;
    let client_b = kcpq_client(&edges.b).await;
    let mut on_b = client_b.subscribe("to_b.>").await.expect("kcpq subscribe");
    until_routed(&client_a, "to_b.probe", &mut on_b).await;
    let mut events = edges.bridge_a.events();

    // The node bridge A uses (its first url) stops. What A publishes until the bridge is on
    // another node waits in the bridge's queue and async-nats's buffer: it arrives, or it is
    // dropped and counted.
    cluster.stop(0);
    next_event(&mut events, BridgeEvent::NatsDisconnected).await;
    let before = edges.bridge_a.stats().kcpq_to_nats;
    for i in 0..20 {
        client_a
            .publish(&format!("to_b.during.{i}"), "during")
            .await
            .expect("kcpq publish");
    }
    next_event(&mut events, BridgeEvent::NatsConnected).await;
    let arrived = until_routed(&client_a, "to_b.probe", &mut on_b).await;
    let arrived = arrived
        .iter()
        .filter(|s| s.starts_with("to_b.during."))
        .count() as u64;
    let after = edges.bridge_a.stats().kcpq_to_nats;
    let dropped = (after.queue_full - before.queue_full) + (after.failed - before.failed);
    assert_eq!(
        arrived + dropped,
        20,
        "{arrived} arrived and {dropped} were counted as dropped of 20: {after}"
    );
    for i in 0..20 {
        client_a
            .publish(&format!("to_b.after.{i}"), "after")
            .await
            .expect("kcpq publish");
    }
    for i in 0..20 {
        let message = next_kcpq(&mut on_b).await;
        assert_eq!(message.subject, format!("to_b.after.{i}"));
    }
    // Every message bridge A took was forwarded, or dropped and counted.
    stats_until(&edges.bridge_a, |s| {
        let d = &s.kcpq_to_nats;
        d.received == d.forwarded + d.queue_full + d.failed + d.looped + d.unmapped
    })
    .await;
    edges.bridge_a.shutdown().await;
    edges.bridge_b.shutdown().await;
}
