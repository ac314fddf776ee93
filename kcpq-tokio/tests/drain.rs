//! Draining over real UDP on tokio: a publisher's drain sends everything it queued before it
//! closes, then refuses publishes.

mod common;

use std::time::Duration;

use common::{bounded, options, server};
use futures_lite::StreamExt;
use kcpq_tokio::{Client, PublishError, with_timeout};

const MESSAGES: u32 = 2000;
const SIZE: usize = 1024;

/// Message `i`: its number, then padding up to [`SIZE`] bytes.
fn payload(i: u32) -> Vec<u8> {
    let mut payload = vec![0xA5; SIZE];
    payload[..4].copy_from_slice(&i.to_le_bytes());
    payload
}

#[test]
fn a_publisher_drain_sends_everything_it_queued_before_closing() {
    bounded(Duration::from_secs(60), async {
        let server = server().await;
        let subscriber = Client::connect_with(options(server.local_addr()))
            .await
            .expect("connect");
        // A 64 KiB KCP send buffer: most of the 2 MB still waits in the outbox at the drain.
        let mut publisher_options = options(server.local_addr());
        publisher_options.config.kcp.send_buffer_limit = 64 * 1024;
        let publisher = Client::connect_with(publisher_options)
            .await
            .expect("connect");
        let mut sub = subscriber.subscribe("work").await.expect("subscribe");
        let receiving = tokio::spawn(async move {
            for i in 0..MESSAGES {
                let message = with_timeout(Duration::from_secs(10), sub.next())
                    .await
                    .expect("the next message within 10 s")
                    .expect("the stream goes on");
                assert_eq!(&message.payload[..], &payload(i)[..], "message {i}");
            }
            sub
        });
        for i in 0..MESSAGES {
            publisher
                .publish("work", payload(i))
                .await
                .expect("publish");
        }
        publisher
            .drain(Duration::from_secs(20))
            .await
            .expect("drain");
        let error = publisher.publish("work", "late").await.expect_err("closed");
        assert_eq!(error, PublishError::Closed);
        let sub = receiving.await.expect("every message arrived in order");
        assert_eq!(sub.dropped(), 0);
        subscriber.close().await;
    });
}
