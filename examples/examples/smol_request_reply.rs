//! Request and reply with the async client (kcpq-smol).
//!
//! A responder subscribes to `math.double` and answers every request on the message's `reply`
//! subject; a requester sends numbers and waits for each answer. Several responders in one queue
//! group (`queue_subscribe`) would share the requests. Without `--server` the example embeds a
//! broker on 127.0.0.1; with `--server ADDR` it uses the key in `KCPQ_AES256_KEY_HEX`.
//!
//! Run with `cargo run -p kcpq-examples --example smol_request_reply [-- --server 127.0.0.1:4000]`.

use std::net::SocketAddr;
use std::time::Duration;

use futures_lite::StreamExt;
use kcpq_examples::{Error, env_keys, opt_arg, random_keys};
use kcpq_smol::core::server::ServerConfig;
use kcpq_smol::{Client, Server, ServerHandle};

pub(crate) async fn run(args: &[String]) -> Result<(), Error> {
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

    // The responder: a task that answers every request until its subscription ends.
    let responder = Client::connect(addr, keys.clone()).await?;
    let mut requests = responder.subscribe("math.double").await?;
    let answering = responder.clone();
    let service = smol::spawn(async move {
        while let Some(request) = requests.next().await {
            let Some(reply_to) = request.reply else {
                continue;
            };
            let text = String::from_utf8_lossy(&request.payload);
            let answer = match text.trim().parse::<i64>() {
                Ok(n) => (n * 2).to_string(),
                Err(e) => format!("error: {e}"),
            };
            if let Err(e) = answering.publish(&reply_to, answer).await {
                eprintln!("responder: cannot reply: {e}");
            }
        }
    });

    // The requester: `request` publishes with a fresh reply subject and waits for the first reply.
    let requester = Client::connect(addr, keys).await?;
    for n in [1, 21, 512] {
        let reply = requester
            .request("math.double", n.to_string(), Duration::from_secs(5))
            .await?;
        println!("{n} doubled is {}", String::from_utf8_lossy(&reply.payload));
    }

    requester.close().await;
    responder.close().await;
    service.await;
    if let Some(server) = embedded {
        server.shutdown("example finished").await;
    }
    Ok(())
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    smol::block_on(run(&args))
}
