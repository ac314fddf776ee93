//! Bounded subscription queues over real UDP on 127.0.0.1: a subscription that is not read while
//! 1000 messages arrive stays within its bound and reports a slow consumer, with either policy;
//! `unsubscribe_after` delivers exactly its count, counted from the subscription's start.

mod common;

use common::{WAIT, client, server, wait_for};
use kcpq_std::queue::{OverflowPolicy, QueueLimits};
use kcpq_std::{Event, RecvTimeoutError, SubscribeOptions, Subscription};

const FLOOD: u32 = 1000;
const BOUND: usize = 8;

/// Publishes `FLOOD` numbered messages to a subscription of queue bound `BOUND` and `policy`
/// that nobody reads; returns it once every message has reached the subscriber.
fn flooded(policy: OverflowPolicy) -> Subscription {
    let server = server();
    let publisher = client(&server, "pub");
    let subscriber = client(&server, "sub");
    let events = subscriber.events();
    let limits = QueueLimits {
        max_messages: BOUND,
        max_bytes: 64 * 1024,
    };
    let options = SubscribeOptions::default()
        .with_limits(limits)
        .with_policy(policy);
    let sub = subscriber
        .subscribe_with("flood", options)
        .expect("subscribe");
    for i in 0..FLOOD {
        publisher
            .publish("flood", i.to_le_bytes())
            .expect("publish");
    }
    // The server has routed every message once the publisher's round trip is back, and the
    // subscriber's round trip comes back after all of them.
    publisher.flush().expect("publisher flush");
    subscriber.flush().expect("subscriber flush");

    let sid = sub.sid();
    let slow = wait_for(
        &events,
        |e| matches!(e, Event::SlowConsumer { sid: s, .. } if *s == sid),
    );
    assert!(slow.is_some(), "a SlowConsumer event for the subscription");
    assert!(sub.dropped() > 0, "the queue dropped messages");
    assert!(
        sub.pending() <= BOUND,
        "pending {} within the bound",
        sub.pending()
    );
    sub
}

fn number(payload: &[u8]) -> u32 {
    u32::from_le_bytes(payload.try_into().expect("4-byte payload"))
}

/// Everything queued (the client may be closed by now: the stream ends after it).
fn take_all(sub: &Subscription) -> Vec<u32> {
    let mut seen = Vec::new();
    while let Ok(m) = sub.try_recv() {
        seen.push(number(&m.payload));
    }
    seen
}

#[test]
fn drop_newest_keeps_the_first_messages_and_reports_a_slow_consumer() {
    let sub = flooded(OverflowPolicy::DropNewest);
    let seen = take_all(&sub);
    assert_eq!(seen, (0..BOUND as u32).collect::<Vec<_>>());
}

#[test]
fn drop_oldest_keeps_the_newest_messages_and_reports_a_slow_consumer() {
    let sub = flooded(OverflowPolicy::DropOldest);
    let seen = take_all(&sub);
    assert!(!seen.is_empty() && seen.len() <= BOUND, "{seen:?}");
    assert_eq!(
        seen.last(),
        Some(&(FLOOD - 1)),
        "the newest published is last"
    );
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "in order: {seen:?}");
}

#[test]
fn unsubscribe_after_delivers_exactly_its_count_since_the_start() {
    let server = server();
    let publisher = client(&server, "pub");
    let subscriber = client(&server, "sub");
    let sub = subscriber.subscribe("counted").expect("subscribe");
    publisher
        .publish("counted", 0u32.to_le_bytes())
        .expect("publish");
    publisher.flush().expect("flush");
    assert_eq!(
        number(&sub.recv_timeout(WAIT).expect("the first").payload),
        0
    );
    // As NATS: three in total, the one already received included.
    sub.unsubscribe_after(3).expect("unsubscribe after 3");
    subscriber.flush().expect("the server has the UNSUB");
    for i in 1..10u32 {
        publisher
            .publish("counted", i.to_le_bytes())
            .expect("publish");
    }
    publisher.flush().expect("flush");
    for i in 1..3u32 {
        let m = sub.recv_timeout(WAIT).expect("one of the first three");
        assert_eq!(number(&m.payload), i);
    }
    assert_eq!(sub.recv_timeout(WAIT), Err(RecvTimeoutError::Closed));
    server.shutdown();
}
