//! End to end: a real nats-server (the Debian package; CI installs it), an embedded KCPQ server,
//! and the bridge in-process.
#![allow(missing_docs)]

mod common;

use std::time::Duration;

use common::*;
use futures_lite::StreamExt;
use kcpq_bridge::{BridgeEvent, DirectionStats, ORIGIN_HEADER};
use tokio::time::timeout;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_cross_both_ways_with_mapping() {
    init_logs();
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
    // One publisher and one observer (subscribed to everything) per side: each observer sees,
    // in order, what its side's publisher sent and what the bridge forwarded.
    let nats_pub = nats_client(&nats_server.url()).await;
    let nats_obs = nats_client(&nats_server.url()).await;
    let mut nats_all = nats_subscribe(&nats_obs, ">", "probe").await;
    let bridge = start_bridge(config).await;
    let kcpq_pub = kcpq_client(&kcpq).await;
    let kcpq_obs = kcpq_client(&kcpq).await;
    let mut kcpq_all = kcpq_obs.subscribe(">").await.expect("kcpq subscribe");

    // KCPQ to NATS: a subject outside every route, then a routed one. NATS sees only the
    // routed one, under its mapped subject, headers kept and the origin marker added.
    kcpq_pub
        .publish("other.x", "stays")
        .await
        .expect("kcpq publish");
    kcpq_pub
        .publish_with_headers("telemetry.cpu.load", None, &[("Unit", "%")], "42")
        .await
        .expect("kcpq publish");
    let message = next_nats(&mut nats_all).await;
    assert_eq!(message.subject.as_str(), "edge1.telemetry.cpu.load");
    assert_eq!(&message.payload[..], b"42");
    let headers = message.headers.expect("headers");
    assert_eq!(headers.get("Unit").map(|v| v.as_str()), Some("%"));
    assert_eq!(headers.get(ORIGIN_HEADER).map(|v| v.as_str()), Some("b1"));
    assert_eq!(next_kcpq(&mut kcpq_all).await.subject, "other.x");
    assert_eq!(next_kcpq(&mut kcpq_all).await.subject, "telemetry.cpu.load");

    // NATS to KCPQ, the same way. nats-server has registered the bridge's subscription: the
    // bridge sent it before the message `nats_all` just received from it.
    nats_pub
        .publish("edge1.other", "stays".into())
        .await
        .expect("nats publish");
    nats_pub
        .publish("edge1.cmd.reboot", "now".into())
        .await
        .expect("nats publish");
    nats_pub.flush().await.expect("nats flush");
    let message = next_kcpq(&mut kcpq_all).await;
    assert_eq!(message.subject, "cmd.reboot");
    assert_eq!(&message.payload[..], b"now");
    let origin = message
        .headers()
        .and_then(|h| h.get(ORIGIN_HEADER).map(str::to_owned));
    assert_eq!(origin.as_deref(), Some("b1"));
    assert_eq!(
        next_nats(&mut nats_all).await.subject.as_str(),
        "edge1.other"
    );
    assert_eq!(
        next_nats(&mut nats_all).await.subject.as_str(),
        "edge1.cmd.reboot"
    );

    // `cmd.reboot` on KCPQ matches no KCPQ route, so nothing went back to NATS: the next NATS
    // message is the next routed KCPQ one.
    kcpq_pub
        .publish("telemetry.end", "end")
        .await
        .expect("kcpq publish");
    assert_eq!(
        next_nats(&mut nats_all).await.subject.as_str(),
        "edge1.telemetry.end"
    );
    let stats = stats_until(&bridge, |s| {
        s.kcpq_to_nats.forwarded == 2 && s.nats_to_kcpq.forwarded == 1
    })
    .await;
    assert_eq!(stats.kcpq_to_nats.received, 2, "{stats}");
    assert_eq!(stats.nats_to_kcpq.received, 1, "{stats}");
    bridge.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_two_way_routes_do_not_loop() {
    init_logs();
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
    let nats = nats_client(&nats_server.url()).await;
    let mut nats_sub = nats_subscribe(&nats, "shared.>", "shared.probe").await;
    let bridge = start_bridge(config).await;
    let client = kcpq_client(&kcpq).await;
    let mut kcpq_sub = client.subscribe("shared.>").await.expect("kcpq subscribe");

    // From KCPQ: the copy the bridge puts on NATS comes back to the bridge and is dropped there.
    client
        .publish("shared.a", "k1")
        .await
        .expect("kcpq publish");
    assert_eq!(&next_kcpq(&mut kcpq_sub).await.payload[..], b"k1");
    assert_eq!(&next_nats(&mut nats_sub).await.payload[..], b"k1");
    // The bridge counts a message as forwarded once its publish returns, which may be after the
    // copy came back: wait for both counts.
    let stats = stats_until(&bridge, |s| {
        s.kcpq_to_nats.forwarded == 1 && s.nats_to_kcpq.looped == 1
    })
    .await;
    assert_eq!(stats.nats_to_kcpq.forwarded, 0, "{stats}");

    // From NATS: the same the other way.
    nats.publish("shared.b", "n1".into())
        .await
        .expect("nats publish");
    nats.flush().await.expect("nats flush");
    assert_eq!(&next_nats(&mut nats_sub).await.payload[..], b"n1");
    assert_eq!(&next_kcpq(&mut kcpq_sub).await.payload[..], b"n1");
    let stats = stats_until(&bridge, |s| {
        s.nats_to_kcpq.forwarded == 1 && s.kcpq_to_nats.looped == 1
    })
    .await;
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
    let settled = |d: &DirectionStats| d.received == 4 && d.forwarded == 2 && d.looped == 2;
    stats_until(&bridge, |s| {
        settled(&s.kcpq_to_nats) && settled(&s.nats_to_kcpq)
    })
    .await;
    let mut kcpq_tail = [
        next_kcpq(&mut kcpq_sub).await.payload,
        next_kcpq(&mut kcpq_sub).await.payload,
    ];
    let mut nats_tail = [
        next_nats(&mut nats_sub).await.payload,
        next_nats(&mut nats_sub).await.payload,
    ];
    kcpq_tail.sort();
    nats_tail.sort();
    assert_eq!(kcpq_tail, [&b"k2"[..], &b"n2"[..]]);
    assert_eq!(nats_tail, [&b"k2"[..], &b"n2"[..]]);
    bridge.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bridge_survives_a_nats_server_restart() {
    init_logs();
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
    let bridge = start_bridge(config).await;
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
    let mut nats_sub = nats_subscribe(&nats, "up.>", "up.sync").await;
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
