//! Publish and subscribe with the blocking client (kcpq-std): no async runtime, one I/O thread
//! per client.
//!
//! A subscriber listens on `sensors.>` and a publisher sends a few readings. Without `--server`
//! the example embeds a broker on 127.0.0.1 (a random port and key); with `--server ADDR` it
//! connects to a running `kcpq-server` with the key in `KCPQ_AES256_KEY_HEX`.
//!
//! Run with `cargo run -p kcpq-examples --example std_pubsub [-- --server 127.0.0.1:4000]`.

use std::time::Duration;

use kcpq_examples::{Error, env_keys, opt_arg, random_keys};
use kcpq_std::{Client, Server, ServerConfig};

pub(crate) fn run(args: &[String]) -> Result<(), Error> {
    // Where the broker is: given, or a server embedded in this process (it stops when dropped).
    let (embedded, addr, keys) = match opt_arg(args, "--server") {
        Some(addr) => (None, addr, env_keys()?),
        None => {
            let keys = random_keys()?;
            let server = Server::bind("127.0.0.1:0", keys.clone(), ServerConfig::default())?;
            let addr = server.local_addr().to_string();
            (Some(server), addr, keys)
        }
    };

    let subscriber = Client::connect(addr.as_str(), keys.clone())?;
    let publisher = Client::connect(addr.as_str(), keys.clone())?;

    // `subscribe` returns once the server has confirmed it: nothing published after is missed.
    let readings = subscriber.subscribe("sensors.>")?;
    for (room, celsius) in [("kitchen", "21.5"), ("garage", "9.0"), ("attic", "27.25")] {
        publisher.publish(&format!("sensors.temperature.{room}"), celsius.as_bytes())?;
    }

    // Messages arrive in the order they were published.
    for _ in 0..3 {
        let message = readings.recv_timeout(Duration::from_secs(5))?;
        println!(
            "{} = {}",
            message.subject,
            String::from_utf8_lossy(&message.payload)
        );
    }

    // `close` stops at once; `drain` would first deliver what is still queued.
    publisher.close();
    subscriber.close();
    if let Some(server) = embedded {
        server.shutdown();
    }
    Ok(())
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    run(&args)
}
