//! Through a relay that drops 10 % of the datagrams each way and reorders some: nothing is lost
//! and nothing arrives out of order.

mod common;

use std::time::Duration;

use common::{bounded, options, relay, server};
use futures_lite::StreamExt;
use kcpq_tokio::Client;

#[test]
fn ten_percent_loss_and_reordering_lose_nothing() {
    bounded(Duration::from_secs(60), async {
        let server = server().await;
        let publisher_path = relay(server.local_addr(), 10, 10, 0x5eed_0001).await;
        let subscriber_path = relay(server.local_addr(), 10, 10, 0x5eed_0002).await;
        let publisher = Client::connect_with(options(publisher_path))
            .await
            .expect("connect through the relay");
        let subscriber = Client::connect_with(options(subscriber_path))
            .await
            .expect("connect through the relay");
        let mut sub = subscriber.subscribe("lossy.>").await.expect("subscribe");
        const COUNT: u32 = 300;
        for i in 0..COUNT {
            let body = format!("{i}:{}", "x".repeat((i as usize * 37) % 3000));
            publisher.publish("lossy.seq", body).await.expect("publish");
        }
        for i in 0..COUNT {
            let message = sub.next().await.expect("every message arrives");
            let text = std::str::from_utf8(&message.payload).expect("utf-8");
            let n: u32 = text
                .split(':')
                .next()
                .and_then(|n| n.parse().ok())
                .expect("seq");
            assert_eq!(n, i, "out of order or lost");
        }
    });
}
