//! A subscriber that does not read: its bound keeps the oldest messages, drops the rest, counts
//! them and reports the burst.

mod common;

use std::time::Duration;

use common::{bounded, client, server};
use futures_lite::StreamExt;
use kcpq_tokio::{Event, OverflowPolicy, QueueLimits, SubscribeOptions};

#[test]
fn a_full_subscription_queue_drops_counts_and_reports() {
    bounded(Duration::from_secs(20), async {
        let server = server().await;
        let publisher = client(server.local_addr()).await;
        let subscriber = client(server.local_addr()).await;
        let mut events = subscriber.events();
        let limits = QueueLimits {
            max_messages: 10,
            max_bytes: 1 << 20,
        };
        let options = SubscribeOptions::default()
            .with_limits(limits)
            .with_policy(OverflowPolicy::DropNewest);
        let mut sub = subscriber
            .subscribe_with("flood", options)
            .await
            .expect("subscribe");
        for i in 0..100u32 {
            publisher
                .publish("flood", i.to_string())
                .await
                .expect("publish");
        }
        publisher.flush().await.expect("flush");
        let event = loop {
            if let event @ Event::SlowConsumer { .. } = events.next().await.expect("events") {
                break event;
            }
        };
        assert!(matches!(event, Event::SlowConsumer { sid, .. } if sid == sub.sid()));
        // The server answers the subscriber's flush after the messages it routed before.
        subscriber.flush().await.expect("flush");
        assert_eq!((sub.pending(), sub.dropped()), (10, 90));
        for i in 0..10u32 {
            let message = sub.next().await.expect("a kept message");
            assert_eq!(
                message.payload,
                i.to_string().as_bytes(),
                "the oldest are kept"
            );
        }
    });
}
