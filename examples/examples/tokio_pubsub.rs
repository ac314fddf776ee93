//! Publish and subscribe with the async client on tokio (kcpq-tokio).
//!
//! A subscriber listens on `sensors.>` and a publisher sends a few readings; each message goes to
//! every matching subscription. Without `--server` the example embeds a broker on 127.0.0.1 (a
//! random port and key); with `--server ADDR` it connects to a running `kcpq-server` with the key
//! in `KCPQ_AES256_KEY_HEX`.
//!
//! The same program as `smol_pubsub.rs` but for its imports and `main`: the two adapters have
//! one API.
//!
//! Run with `cargo run -p kcpq-examples --example tokio_pubsub [-- --server 127.0.0.1:4000]`.

use std::net::SocketAddr;
use std::time::Duration;

use futures_lite::StreamExt;
use kcpq_examples::{Error, env_keys, opt_arg, random_keys};
use kcpq_tokio::core::server::ServerConfig;
use kcpq_tokio::{Client, Server, ServerHandle};

pub(crate) async fn run(args: &[String]) -> Result<(), Error> {
    // Where the broker is: given, or a server embedded in this process.
    let (addr, keys, embedded): (SocketAddr, _, Option<ServerHandle>) =
        match opt_arg(args, "--server") {
            Some(addr) => (addr.parse()?, env_keys()?, None),
            None => {
                let keys = random_keys()?;
                let server = Server::bind(
                    "127.0.0.1:0".parse()?,
                    keys.clone(),
                    ServerConfig::default(),
                )
                .await?;
                let handle = server.spawn();
                (handle.local_addr(), keys, Some(handle))
            }
        };

    // Two connections: the subscriber and the publisher (one client could do both).
    let subscriber = Client::connect(addr, keys.clone()).await?;
    let publisher = Client::connect(addr, keys).await?;

    // `subscribe` returns once the server has confirmed it: nothing published after is missed.
    let mut readings = subscriber.subscribe("sensors.>").await?;
    for (room, celsius) in [("kitchen", "21.5"), ("garage", "9.0"), ("attic", "27.25")] {
        publisher
            .publish(&format!("sensors.temperature.{room}"), celsius.to_owned())
            .await?;
    }

    // A subscription is a stream of messages, in the order they were published.
    for _ in 0..3 {
        let message = kcpq_tokio::with_timeout(Duration::from_secs(5), readings.next())
            .await?
            .ok_or("the subscription ended")?;
        println!(
            "{} = {}",
            message.subject,
            String::from_utf8_lossy(&message.payload)
        );
    }

    publisher.close().await;
    subscriber.close().await;
    if let Some(server) = embedded {
        server.shutdown("example finished").await;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    run(&args).await
}
