//! Publish/subscribe, queue groups, request/reply and large payloads over real UDP on 127.0.0.1.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{bounded, client, server};
use futures_lite::{StreamExt, stream};
use kcpq_smol::core::crypto::{HandshakeError, Key, KeySet};
use kcpq_smol::{Client, ClientOptions, ConnectError, Event, RequestError, Subscription};

const BOUND: Duration = Duration::from_secs(20);

async fn next(sub: &mut Subscription) -> String {
    sub.next().await.expect("a message").subject.into()
}

#[test]
fn wildcards_match_one_token_or_the_rest() {
    bounded(BOUND, async {
        let server = server().await;
        let publisher = client(server.local_addr()).await;
        let subscriber = client(server.local_addr()).await;
        let mut star = subscriber.subscribe("orders.*").await.expect("subscribe *");
        let mut rest = subscriber.subscribe("orders.>").await.expect("subscribe >");
        for subject in ["orders.new", "orders.eu.new", "other.new", "orders.end"] {
            publisher.publish(subject, subject).await.expect("publish");
        }
        assert_eq!(next(&mut star).await, "orders.new");
        assert_eq!(next(&mut star).await, "orders.end");
        assert_eq!(next(&mut rest).await, "orders.new");
        assert_eq!(next(&mut rest).await, "orders.eu.new");
        assert_eq!(next(&mut rest).await, "orders.end");
    });
}

#[test]
fn queue_group_members_share_the_messages() {
    bounded(BOUND, async {
        let server = server().await;
        let publisher = client(server.local_addr()).await;
        let (a, b) = (
            client(server.local_addr()).await,
            client(server.local_addr()).await,
        );
        let worker_a = a.queue_subscribe("jobs", "workers").await.expect("a joins");
        let worker_b = b.queue_subscribe("jobs", "workers").await.expect("b joins");
        let mut watcher = a.subscribe("jobs").await.expect("plain subscriber");
        for i in 0..40u32 {
            publisher
                .publish("jobs", i.to_string())
                .await
                .expect("publish");
        }
        let mut workers = stream::or(worker_a.map(|m| ('a', m)), worker_b.map(|m| ('b', m)));
        let mut seen = BTreeSet::new();
        let mut by = BTreeSet::new();
        for _ in 0..40 {
            let (who, message) = workers.next().await.expect("a job");
            by.insert(who);
            let n: u32 = std::str::from_utf8(&message.payload)
                .expect("utf-8")
                .parse()
                .expect("a number");
            assert!(seen.insert(n), "job {n} delivered twice in the group");
        }
        assert_eq!(seen.len(), 40);
        for i in 0..40u32 {
            let message = watcher
                .next()
                .await
                .expect("the plain subscriber sees every job");
            assert_eq!(message.payload, i.to_string().as_bytes());
        }
        assert_eq!(by.len(), 2, "both members should have received jobs");
    });
}

#[test]
fn request_reply_and_no_responders() {
    bounded(BOUND, async {
        let server = server().await;
        let responder = client(server.local_addr()).await;
        let requester = client(server.local_addr()).await;
        let mut service = responder.subscribe("svc.echo").await.expect("subscribe");
        let answering = responder.clone();
        let task = smol::spawn(async move {
            while let Some(message) = service.next().await {
                let reply = message
                    .reply
                    .clone()
                    .expect("a request has a reply subject");
                let mut body = b"echo: ".to_vec();
                body.extend_from_slice(&message.payload);
                answering.publish(&reply, body).await.expect("reply");
            }
        });
        let reply = requester
            .request("svc.echo", "hi", Duration::from_secs(5))
            .await
            .expect("a reply");
        assert_eq!(reply.payload, &b"echo: hi"[..]);
        let err = requester
            .request("nobody.home", "hi", Duration::from_secs(5))
            .await
            .expect_err("nobody listens");
        assert_eq!(err, RequestError::NoResponders);
        // Checked on the caller's side, as a publish is, and as kcpq-std does.
        let err = requester
            .request("bad subject", "hi", Duration::from_secs(5))
            .await
            .expect_err("an invalid subject");
        assert!(matches!(err, RequestError::Invalid(_)), "{err:?}");
        drop(task);
    });
}

#[test]
fn a_one_mebibyte_payload_arrives_intact() {
    bounded(BOUND, async {
        let server = server().await;
        let publisher = client(server.local_addr()).await;
        let subscriber = client(server.local_addr()).await;
        let mut sub = subscriber.subscribe("big").await.expect("subscribe");
        let payload: Vec<u8> = (0..1024 * 1024u32).map(|i| (i * 7 % 251) as u8).collect();
        publisher
            .publish("big", payload.clone())
            .await
            .expect("publish 1 MiB");
        let message = sub.next().await.expect("the message");
        assert_eq!(message.payload.len(), payload.len());
        assert!(message.payload == payload, "payload corrupted");
    });
}

#[test]
fn headers_and_callbacks() {
    bounded(BOUND, async {
        let server = server().await;
        let client = client(server.local_addr()).await;
        let (tx, rx) = async_channel::unbounded();
        let _callback = client
            .subscribe_callback("h.>", move |message| {
                let _ = tx.try_send(message);
            })
            .await
            .expect("subscribe");
        client
            .publish_with_headers("h.one", None, &[("trace", "42")], "body")
            .await
            .expect("publish");
        let message = rx.recv().await.expect("the callback ran");
        let headers = message.headers().expect("headers");
        assert_eq!(headers.get("trace"), Some("42"));
        assert_eq!(message.payload, &b"body"[..]);
    });
}

#[test]
fn a_callback_over_the_threshold_is_counted_and_reported() {
    bounded(BOUND, async {
        let server = server().await;
        let mut options = common::options(server.local_addr());
        options.slow_callback = Duration::from_millis(20);
        let client = Client::connect_with(options).await.expect("connect");
        let mut events = client.events();
        let (tx, rx) = async_channel::unbounded();
        let sub = client
            .subscribe_callback("work", move |message| {
                // The behaviour under test: a callback that takes longer than the threshold.
                std::thread::sleep(Duration::from_millis(40));
                let _ = tx.try_send(message);
            })
            .await
            .expect("subscribe");
        client.publish("work", "1").await.expect("publish");
        client.publish("work", "2").await.expect("publish");
        for _ in 0..2 {
            rx.recv().await.expect("the callback ran");
        }
        loop {
            match events.next().await.expect("events go on") {
                Event::SlowCallback {
                    sid,
                    elapsed,
                    count: 2,
                } => {
                    assert_eq!(sid, sub.sid());
                    assert!(elapsed >= Duration::from_millis(40));
                    break;
                }
                _ => continue,
            }
        }
        assert_eq!(sub.slow_callbacks(), 2);
    });
}

#[test]
fn a_request_carries_its_headers() {
    bounded(BOUND, async {
        let server = server().await;
        let responder = client(server.local_addr()).await;
        let requester = client(server.local_addr()).await;
        let mut service = responder.subscribe("svc.trace").await.expect("subscribe");
        let answering = responder.clone();
        let task = smol::spawn(async move {
            while let Some(message) = service.next().await {
                let reply = message.reply.clone().expect("a reply subject");
                let trace = message.headers().and_then(|h| h.get("trace")).unwrap_or("");
                answering
                    .publish(&reply, format!("trace={trace}"))
                    .await
                    .expect("reply");
            }
        });
        let reply = requester
            .request_with_headers("svc.trace", &[("trace", "7")], "x", Duration::from_secs(5))
            .await
            .expect("a reply");
        assert_eq!(reply.payload, &b"trace=7"[..]);
        let err = requester
            .request_with_headers("nobody.home", &[("a", "b")], "x", Duration::from_secs(5))
            .await
            .expect_err("nobody listens");
        assert_eq!(err, RequestError::NoResponders);
        drop(task);
    });
}

#[test]
fn a_wrong_key_fails_within_the_connect_timeout() {
    bounded(BOUND, async {
        let server = server().await;
        let wrong = KeySet::single(Key::from_bytes([9; 32]));
        let mut options = ClientOptions::new(server.local_addr(), wrong);
        options.connect_timeout = Duration::from_secs(1);
        let started = std::time::Instant::now();
        let err = Client::connect_with(options).await.expect_err("wrong key");
        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(
            matches!(
                err,
                ConnectError::Handshake(HandshakeError::KeyMismatchOrNoServer { .. })
            ),
            "{err}"
        );
        assert!(err.to_string().contains("key mismatch"), "{err}");
    });
}

#[test]
fn unsubscribe_ends_the_stream_and_stats_count() {
    bounded(BOUND, async {
        let server = server().await;
        let client = client(server.local_addr()).await;
        let sub = client.subscribe("u.x").await.expect("subscribe");
        assert_eq!(server.stats().await.expect("stats").subscriptions, 1);
        sub.unsubscribe().await.expect("unsubscribe");
        client.flush().await.expect("flush");
        assert_eq!(server.stats().await.expect("stats").subscriptions, 0);
        let clients = server.sessions().await.expect("clients");
        assert_eq!(clients.len(), 1);
        assert_eq!(clients[0].name, client.client_name());
        client.close().await;
        server.shutdown("test over").await;
        assert!(server.stats().await.is_err(), "the server has stopped");
    });
}

#[test]
fn unsubscribe_after_counts_from_the_subscription_s_start_as_nats() {
    bounded(BOUND, async {
        let server = server().await;
        let client = client(server.local_addr()).await;
        let sub = client.subscribe("n.x").await.expect("subscribe");
        let over = client.subscribe("n.x").await.expect("subscribe");
        client.publish("n.x", "before").await.expect("publish");
        client.flush().await.expect("flush");
        sub.unsubscribe_after(2).await.expect("unsubscribe after 2");
        // Already reached: it ends at once, keeping what it has.
        over.unsubscribe_after(1)
            .await
            .expect("unsubscribe after 1");
        for payload in ["one", "two", "three"] {
            client.publish("n.x", payload).await.expect("publish");
        }
        client.flush().await.expect("flush");
        let received: Vec<_> = sub.map(|m| m.payload).collect().await;
        assert_eq!(received, [&b"before"[..], b"one"]);
        let received: Vec<_> = over.map(|m| m.payload).collect().await;
        assert_eq!(received, [&b"before"[..]]);
        assert_eq!(server.stats().await.expect("stats").subscriptions, 0);
    });
}

#[test]
fn a_no_echo_publisher_s_queue_message_goes_to_another_member() {
    bounded(BOUND, async {
        let server = server().await;
        let mut options = common::options(server.local_addr());
        options.config.no_echo = true;
        let quiet = Client::connect_with(options)
            .await
            .expect("connect no_echo");
        let other = client(server.local_addr()).await;
        let _own = quiet
            .queue_subscribe("jobs", "w")
            .await
            .expect("own member");
        let mut theirs = other
            .queue_subscribe("jobs", "w")
            .await
            .expect("other member");
        for i in 0..10u32 {
            quiet.publish("jobs", i.to_string()).await.expect("publish");
        }
        // As in NATS: never lost to the publisher's own member, which it may not receive.
        for i in 0..10u32 {
            let message = theirs.next().await.expect("every job");
            assert_eq!(message.payload, i.to_string().as_bytes());
        }
    });
}

#[test]
fn the_smallest_mtu_still_connects_and_carries_messages() {
    // At KCP's smallest MTU a protected segment is far shorter than a handshake message: the
    // datagram slots of the batched I/O must hold both (a client used to never send its
    // initiation).
    use kcpq_smol::core::kcp::MIN_MTU;
    use kcpq_smol::core::server::ServerConfig;
    bounded(BOUND, async {
        let mut config = ServerConfig::default();
        config.kcp.mtu = MIN_MTU;
        let server = common::server_with(config).await;
        let connect = || async {
            let mut options = common::options(server.local_addr());
            options.config.kcp.mtu = MIN_MTU;
            Client::connect_with(options)
                .await
                .expect("connect at the smallest MTU")
        };
        let (publisher, subscriber) = (connect().await, connect().await);
        let mut sub = subscriber.subscribe("small.mtu").await.expect("subscribe");
        let payload: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        publisher
            .publish("small.mtu", payload.clone())
            .await
            .expect("publish");
        let m = sub.next().await.expect("the message");
        assert_eq!(&m.payload[..], &payload[..]);
    });
}
