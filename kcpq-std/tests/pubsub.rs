//! Publish/subscribe over real UDP on 127.0.0.1: wildcards, headers, queue groups, callbacks.

mod common;

use std::collections::BTreeSet;
use std::sync::mpsc;

use common::{WAIT, client, server};
use kcpq_std::{RecvTimeoutError, TryRecvError};

#[test]
fn wildcards_deliver_what_matches_and_nothing_else() {
    let server = server();
    let publisher = client(&server, "pub");
    let subscriber = client(&server, "sub");
    let star = subscriber.subscribe("orders.*").expect("subscribe *");
    let rest = subscriber.subscribe("orders.>").expect("subscribe >");
    publisher.publish("orders.new", b"1").expect("publish");
    publisher
        .publish_with_headers("orders.eu.paid", Some("answers"), &[("k", "v")], b"2")
        .expect("publish with reply and headers");
    publisher.publish("invoices.new", b"3").expect("publish");
    publisher.flush().expect("flush");

    let m = star.recv_timeout(WAIT).expect("orders.new on *");
    assert_eq!(
        (m.subject.as_str(), m.payload.as_slice()),
        ("orders.new", &b"1"[..])
    );
    assert!(m.received <= std::time::Instant::now());
    let a = rest.recv_timeout(WAIT).expect("first on >");
    let b = rest.recv_timeout(WAIT).expect("second on >");
    assert_eq!(a.subject, "orders.new");
    assert_eq!(b.subject, "orders.eu.paid");
    assert_eq!(b.reply.as_deref(), Some("answers"));
    assert_eq!(b.header("k"), Some("v"));
    // The subscriber's own round trip orders after everything the server sent it before.
    subscriber.flush().expect("flush");
    assert_eq!(star.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(rest.try_recv(), Err(TryRecvError::Empty));

    publisher.close();
    subscriber.close();
    assert_eq!(star.recv_timeout(WAIT), Err(RecvTimeoutError::Closed));
    server.shutdown();
}

#[test]
fn a_queue_group_delivers_each_message_to_one_member() {
    let server = server();
    let publisher = client(&server, "pub");
    let a = client(&server, "a");
    let b = client(&server, "b");
    let qa = a.queue_subscribe("jobs.>", "workers").expect("member a");
    let qb = b.queue_subscribe("jobs.>", "workers").expect("member b");
    let plain = b.subscribe("jobs.>").expect("plain");
    for i in 0..50u32 {
        publisher
            .publish("jobs.run", i.to_le_bytes())
            .expect("publish");
    }
    publisher.flush().expect("flush");
    let mut seen = BTreeSet::new();
    for _ in 0..50 {
        let m = plain.recv_timeout(WAIT).expect("plain gets every message");
        seen.insert(m.payload);
    }
    assert_eq!(seen.len(), 50);
    a.flush().expect("flush a");
    b.flush().expect("flush b");
    let mut members = Vec::new();
    for sub in [&qa, &qb] {
        while let Ok(m) = sub.try_recv() {
            members.push(m.payload);
        }
    }
    members.sort();
    let all: Vec<_> = seen.into_iter().collect();
    assert_eq!(members, all, "each message went to exactly one member");
    server.shutdown();
}

#[test]
fn a_callback_subscription_runs_on_its_own_thread_until_unsubscribed() {
    let server = server();
    let c = client(&server, "cb");
    let (tx, rx) = mpsc::channel();
    let sub = c
        .subscribe_callback("ticks", move |m| {
            let _ = tx.send((m.payload, std::thread::current().name().map(str::to_owned)));
        })
        .expect("callback subscription");
    c.publish("ticks", b"a").expect("publish");
    let (payload, thread) = rx.recv_timeout(WAIT).expect("callback ran");
    assert_eq!(payload, b"a");
    assert!(thread.is_some_and(|n| n.starts_with("kcpq-sub-")));
    sub.unsubscribe().expect("unsubscribe");
    assert!(
        rx.recv_timeout(WAIT).is_err(),
        "callback thread ended, sender dropped"
    );
    server.shutdown();
}

#[test]
fn a_callback_over_the_threshold_is_counted_and_reported() {
    let server = server();
    let mut options = common::options(server.local_addr(), "slow");
    options.slow_callback = std::time::Duration::from_millis(20);
    let client = kcpq_std::Client::connect_with(options).expect("connect");
    let events = client.events();
    let (done, finished) = mpsc::channel();
    let sub = client
        .subscribe_callback("work", move |m| {
            // The behaviour under test: a callback that takes longer than the threshold.
            std::thread::sleep(std::time::Duration::from_millis(40));
            let _ = done.send(m.payload);
        })
        .expect("subscribe");
    client.publish("work", b"1").expect("publish");
    client.publish("work", b"2").expect("publish");
    client.flush().expect("flush");
    for _ in 0..2 {
        finished.recv_timeout(WAIT).expect("the callback ran");
    }
    let event = common::wait_for(&events, |e| {
        matches!(e, kcpq_std::Event::SlowCallback { count: 2, .. })
    });
    assert!(
        matches!(event, Some(kcpq_std::Event::SlowCallback { sid, elapsed, .. })
            if sid == sub.sid() && elapsed >= std::time::Duration::from_millis(40)),
        "{event:?}"
    );
    assert_eq!(sub.slow_callbacks(), 2);
}

#[test]
fn batched_and_plain_udp_io_interoperate_in_both_directions() {
    // A server with plain I/O between a client that batches (GSO trains out, GRO trains in)
    // and one that does not; then the other way round on a batching server. Bursts of full
    // datagrams and a large message travel each way, whole and in order.
    use kcpq_std::{Client, Server, ServerOptions};
    for server_offload in [false, true] {
        let any = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let mut options = ServerOptions::new(any, common::keys());
        options.udp_offload = server_offload;
        let server = Server::bind_with(options).expect("bind on loopback");
        let connect = |name: &str, offload: bool| {
            let mut options = common::options(server.local_addr(), name);
            options.udp_offload = offload;
            Client::connect_with(options).expect("connect")
        };
        let batching = connect("batching", true);
        let plain = connect("plain", false);
        let to_plain = plain.subscribe("burst.a").expect("subscribe");
        let to_batching = batching.subscribe("burst.b").expect("subscribe");
        let large = vec![7u8; 100_000];
        for (from, subject) in [(&batching, "burst.a"), (&plain, "burst.b")] {
            for i in 0..300u32 {
                let mut payload = vec![i as u8; 1000];
                payload[..4].copy_from_slice(&i.to_le_bytes());
                from.publish(subject, payload).expect("publish");
            }
            from.publish(subject, large.clone())
                .expect("publish a large message");
            from.flush().expect("flush");
        }
        for sub in [&to_plain, &to_batching] {
            for i in 0..300u32 {
                let m = sub.recv_timeout(WAIT).expect("every message");
                assert_eq!(m.payload.len(), 1000);
                assert_eq!(&m.payload[..4], &i.to_le_bytes(), "in order");
                assert!(m.payload[4..].iter().all(|&b| b == i as u8), "intact");
            }
            assert_eq!(
                sub.recv_timeout(WAIT).expect("the large one").payload,
                large
            );
        }
        batching.close();
        plain.close();
        server.shutdown();
    }
}

#[test]
fn the_smallest_mtu_still_connects_and_carries_messages() {
    // At KCP's smallest MTU a protected segment is far shorter than a handshake message: the
    // I/O's datagram slots must hold both.
    use kcpq_std::core::kcp::MIN_MTU;
    use kcpq_std::{Client, Server, ServerConfig};
    let mut config = ServerConfig::default();
    config.kcp.mtu = MIN_MTU;
    let server = Server::bind("127.0.0.1:0", common::keys(), config).expect("bind on loopback");
    let connect = |name: &str| {
        let mut options = common::options(server.local_addr(), name);
        options.config.kcp.mtu = MIN_MTU;
        Client::connect_with(options).expect("connect at the smallest MTU")
    };
    let (publisher, subscriber) = (connect("pub"), connect("sub"));
    let sub = subscriber.subscribe("small.mtu").expect("subscribe");
    let payload: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
    publisher
        .publish("small.mtu", payload.clone())
        .expect("publish");
    publisher.flush().expect("flush");
    assert_eq!(
        sub.recv_timeout(WAIT).expect("the message").payload,
        payload
    );
    server.shutdown();
}
