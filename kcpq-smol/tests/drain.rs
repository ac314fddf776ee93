//! Draining over real UDP on 127.0.0.1: a client's drain sends everything it queued and delivers
//! everything routed to it before it closes; a server's drain delivers what it queued before it
//! closes every session.
//!
//! Each test holds back part of the traffic when the drain starts, the part an immediate close
//! or shutdown would lose: a publisher whose KCP stream takes 64 KiB of its outbox at a time, a
//! subscriber whose 16-segment receive window slows what the server streams to it, a server
//! that moves queued messages into a stream only below 16 KiB unsent.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use common::{bounded, options, server, server_with};
use futures_lite::{StreamExt, future};
use kcpq_smol::core::CloseReason;
use kcpq_smol::core::client::ClientConfig;
use kcpq_smol::core::server::ServerConfig;
use kcpq_smol::{Client, DrainError, Event, Events, PublishError, Subscription, with_timeout};

const BOUND: Duration = Duration::from_secs(60);
/// The drain timeout: far more than a few MB take on loopback.
const DRAIN: Duration = Duration::from_secs(20);
/// How long one expected message may take.
const NEXT: Duration = Duration::from_secs(10);
const SIZE: usize = 1024;

/// A client whose core is set up by `adjust`.
async fn client_with(addr: SocketAddr, adjust: impl FnOnce(&mut ClientConfig)) -> Client {
    let mut options = options(addr);
    adjust(&mut options.config);
    Client::connect_with(options)
        .await
        .expect("connect to the test server")
}

/// A server that moves queued messages into a session's KCP stream only below 16 KiB unsent,
/// with a 32-segment window: most of a burst waits in its subscription queues.
fn throttled_server() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.kcp.send_window = 32;
    config.kcp.send_buffer_limit = 128 * 1024;
    config.low_watermark = Some(16 * 1024);
    config.max_payload = 8 * 1024;
    config
}

/// Message `i`: its number, then padding up to [`SIZE`] bytes.
fn payload(i: u32) -> Vec<u8> {
    let mut payload = vec![0xA5; SIZE];
    payload[..4].copy_from_slice(&i.to_le_bytes());
    payload
}

async fn publish(publisher: &Client, count: u32) {
    for i in 0..count {
        publisher
            .publish("work", payload(i))
            .await
            .expect("publish");
    }
}

/// Publishes `count` messages and flushes: the server has routed them all when it returns.
async fn publish_routed(publisher: &Client, count: u32) {
    publish(publisher, count).await;
    publisher
        .flush_timeout(DRAIN)
        .await
        .expect("the server has routed everything");
}

/// Takes `count` messages from `sub` and checks they are 0, 1, 2, … in order.
async fn expect_all(sub: &mut Subscription, count: u32) {
    for i in 0..count {
        let message = match with_timeout(NEXT, sub.next()).await {
            Ok(Some(message)) => message,
            Ok(None) => panic!("the stream ended after {i} of {count} messages"),
            Err(_) => panic!("message {i} of {count} did not arrive within {NEXT:?}"),
        };
        assert_eq!(&message.payload[..], &payload(i)[..], "message {i}");
    }
}

/// The first event matching `want`.
async fn wait_for(events: &mut Events, want: impl Fn(&Event) -> bool) -> Event {
    loop {
        let event = events
            .next()
            .await
            .expect("the events end only after Closed");
        if want(&event) {
            return event;
        }
    }
}

#[test]
fn a_publisher_drain_sends_everything_it_queued_before_closing() {
    const MESSAGES: u32 = 2000;
    bounded(BOUND, async {
        let server = server().await;
        let subscriber = client_with(server.local_addr(), |_| {}).await;
        let publisher = client_with(server.local_addr(), |config| {
            config.kcp.send_buffer_limit = 64 * 1024;
        })
        .await;
        let mut sub = subscriber.subscribe("work").await.expect("subscribe");
        let receiving = smol::spawn(async move {
            expect_all(&mut sub, MESSAGES).await;
            sub
        });

        // 2 MB queued at once: most still wait in the publisher's outbox when drain starts.
        publish(&publisher, MESSAGES).await;
        publisher.drain(DRAIN).await.expect("drain");

        let error = publisher.publish("work", "late").await.expect_err("closed");
        assert_eq!(error, PublishError::Closed);
        let sub = receiving.await;
        assert_eq!(sub.dropped(), 0);
        subscriber.close().await;
    });
}

#[test]
fn a_subscriber_drain_delivers_what_was_routed_then_ends_its_streams() {
    // About 1 MB: below the server's default low watermark (one send window, 1.3 MB), so every
    // routed message is in the subscriber's KCP stream, ahead of the drain's PONG, rather than in
    // its subscription queue on the server, which the drain's UNSUB discards.
    const MESSAGES: u32 = 1000;
    bounded(BOUND, async {
        let server = server().await;
        let subscriber = client_with(server.local_addr(), |config| {
            config.kcp.recv_window = 16;
        })
        .await;
        let publisher = client_with(server.local_addr(), |_| {}).await;
        let mut events = subscriber.events();
        let mut sub = subscriber.subscribe("work").await.expect("subscribe");

        publish_routed(&publisher, MESSAGES).await;
        // Most of it is still on its way to the subscriber when the drain starts.
        let (first, second) = future::zip(subscriber.drain(DRAIN), subscriber.drain(DRAIN)).await;
        first.expect("drain");
        assert_eq!(second, Err(DrainError::AlreadyDraining));

        expect_all(&mut sub, MESSAGES).await;
        assert!(
            sub.next().await.is_none(),
            "the stream ends after the drain"
        );
        assert_eq!(sub.dropped(), 0);
        wait_for(&mut events, |e| matches!(e, Event::Closed)).await;
        let error = subscriber
            .publish("work", "late")
            .await
            .expect_err("closed");
        assert_eq!(error, PublishError::Closed);
        assert_eq!(subscriber.drain(DRAIN).await, Err(DrainError::Closed));
        publisher.close().await;
    });
}

/// Messages routed before the UNSUB that still wait in the subscription's queue on the server
/// (beyond its low watermark, outside the KCP stream) are delivered before the drain's PONG.
#[test]
fn a_subscriber_drain_delivers_what_waits_in_the_servers_queue() {
    const MESSAGES: u32 = 2000;
    bounded(BOUND, async {
        let server = server_with(throttled_server()).await;
        let subscriber = client_with(server.local_addr(), |_| {}).await;
        let publisher = client_with(server.local_addr(), |_| {}).await;
        let mut sub = subscriber.subscribe("work").await.expect("subscribe");

        publish_routed(&publisher, MESSAGES).await;
        subscriber.drain(DRAIN).await.expect("drain");

        expect_all(&mut sub, MESSAGES).await;
        publisher.close().await;
        server.shutdown("test over").await;
    });
}

#[test]
fn a_server_drain_delivers_what_it_queued_then_closes_every_session() {
    const MESSAGES: u32 = 2000;
    bounded(BOUND, async {
        let server = server_with(throttled_server()).await;
        let addr = server.local_addr();
        let subscriber = client_with(addr, |_| {}).await;
        let publisher = client_with(addr, |_| {}).await;
        let mut events = subscriber.events();
        let mut sub = subscriber.subscribe("work").await.expect("subscribe");

        publish_routed(&publisher, MESSAGES).await;
        // Most of the 2 MB still wait in the server's queue for the subscriber.
        server.drain(DRAIN).await;

        assert!(server.stats().await.is_err(), "Server::run has ended");
        UdpSocket::bind(addr).expect("the port is free after the drain");
        expect_all(&mut sub, MESSAGES).await;
        assert_eq!(sub.dropped(), 0);
        let disconnected = wait_for(&mut events, |e| matches!(e, Event::Disconnected(_))).await;
        assert!(
            matches!(
                disconnected,
                Event::Disconnected(CloseReason::PeerClosed(_))
            ),
            "the server's CLOSE arrived: {disconnected:?}"
        );
        subscriber.close().await;
        publisher.close().await;
    });
}
