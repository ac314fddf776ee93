//! Request and reply with the async client (kcpq-smol).
//!
//! A responder subscribes to `math.double` and answers every request on the message's `reply`
//! subject; a requester sends numbers and waits for each answer. Several responders in one queue
//! group (`queue_subscribe`) would share the requests. Without `--server` the example embeds a
//! broker on 127.0.0.1; with `--server ADDR` it uses the key in `KCPQ_AES256_KEY_HEX`.
//!
//! Everything runs on one executor driven by the main thread, the clients' and the embedded
//! server's drivers included (`Spawner::Executor`): a request and its reply cross no thread,
//! which is what kcpq-smol's latency wants. `smol::spawn` and `Spawner::Global` work too, on
//! smol's own threads.
//!
//! Run with `cargo run -p kcpq-examples --example smol_request_reply [-- --server 127.0.0.1:4000]`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::StreamExt;
use kcpq_examples::{Error, env_keys, opt_arg, random_keys};
use kcpq_smol::{Client, ClientOptions, Server, ServerHandle, ServerOptions, Spawner};
use smol::Executor;

/// Runs the example on a new executor driven by this thread.
pub(crate) fn run_blocking(args: &[String]) -> Result<(), Error> {
    let executor = Arc::new(Executor::new());
    smol::block_on(executor.run(run(args, &executor)))
}

async fn run(args: &[String], executor: &Arc<Executor<'static>>) -> Result<(), Error> {
    let spawner = Spawner::Executor(executor.clone());
    let (addr, keys, embedded): (SocketAddr, _, Option<ServerHandle>) =
        match opt_arg(args, "--server") {
            Some(addr) => (addr.parse()?, env_keys()?, None),
            None => {
                let keys = random_keys()?;
                let mut options = ServerOptions::new("127.0.0.1:0".parse()?, keys.clone());
                options.spawner = spawner.clone();
                let handle = Server::bind_with(options).await?.spawn();
                (handle.local_addr(), keys, Some(handle))
            }
        };

    let mut options = ClientOptions::new(addr, keys);
    options.spawner = spawner;

    // The responder: a task that answers every request until its subscription ends.
    let responder = Client::connect_with(options.clone()).await?;
    let mut requests = responder.subscribe("math.double").await?;
    let answering = responder.clone();
    let service = executor.spawn(async move {
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
    let requester = Client::connect_with(options).await?;
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
    run_blocking(&args)
}
