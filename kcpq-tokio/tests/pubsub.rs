//! Publish/subscribe, queue groups, request/reply, callbacks and a wrong key over real UDP on
//! 127.0.0.1, on tokio.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{bounded, client, server};
use futures_lite::{StreamExt, stream};
use kcpq_tokio::core::crypto::{HandshakeError, Key, KeySet};
use kcpq_tokio::{
    Client, ClientOptions, ConnectError, Event, RequestError, SubscribeOptions, Subscription,
};

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
        for i in 0..40u32 {
            publisher
                .publish("jobs", i.to_string())
                .await
                .expect("publish");
        }
        let mut workers = stream::or(worker_a.map(|m| ('a', m)), worker_b.map(|m| ('b', m)));
        let (mut seen, mut by) = (BTreeSet::new(), BTreeSet::new());
        for _ in 0..40 {
            let (who, message) = workers.next().await.expect("a job");
            by.insert(who);
            let n: u32 = std::str::from_utf8(&message.payload)
                .expect("utf-8")
                .parse()
                .expect("a number");
            assert!(seen.insert(n), "job {n} delivered twice in the group");
        }
        assert_eq!(by.len(), 2, "both members should have received jobs");
    });
}

#[test]
fn request_reply_flush_and_no_responders() {
    bounded(BOUND, async {
        let server = server().await;
        let responder = client(server.local_addr()).await;
        let requester = client(server.local_addr()).await;
        let mut service = responder.subscribe("svc.echo").await.expect("subscribe");
        let answering = responder.clone();
        let task = tokio::spawn(async move {
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
        requester.flush().await.expect("flush");
        task.abort();
    });
}

#[test]
fn headers_and_callbacks_on_a_current_thread_runtime() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        tokio::time::timeout(BOUND, async {
            let server = server().await;
            let client = client(server.local_addr()).await;
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let _callback = client
                .subscribe_callback("h.>", move |message| {
                    let _ = tx.send(message);
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
        })
        .await
        .expect("the test did not finish within its bound");
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
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let options = SubscribeOptions::queue_group("workers");
        let sub = client
            .subscribe_callback_with("work", options, move |message| {
                // The behaviour under test: a callback that takes longer than the threshold.
                std::thread::sleep(Duration::from_millis(40));
                let _ = tx.send(message);
            })
            .await
            .expect("subscribe");
        client.publish("work", "1").await.expect("publish");
        client.publish("work", "2").await.expect("publish");
        for _ in 0..2 {
            rx.recv().await.expect("the callback ran");
        }
        loop {
            if let Event::SlowCallback { sid, count: 2, .. } = events.next().await.expect("events")
            {
                assert_eq!(sid, sub.sid());
                break;
            }
        }
        assert_eq!(sub.slow_callbacks(), 2);
        assert_eq!(
            (sub.subject(), sub.pending(), sub.dropped()),
            ("work", 0, 0)
        );
        sub.unsubscribe().await.expect("the client is open");
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
        assert!(message.payload == payload, "payload corrupted");
    });
}
