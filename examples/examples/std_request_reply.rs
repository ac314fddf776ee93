//! Request and reply with the blocking client (kcpq-std).
//!
//! A responder answers requests on `math.double` from a callback subscription (its own thread);
//! a requester sends numbers and waits for each answer. Without `--server` the example embeds a
//! broker on 127.0.0.1; with `--server ADDR` it uses the key in `KCPQ_AES256_KEY_HEX`.
//!
//! Run with `cargo run -p kcpq-examples --example std_request_reply [-- --server 127.0.0.1:4000]`.

use std::time::Duration;

use kcpq_examples::{Error, env_keys, opt_arg, random_keys};
use kcpq_std::{Client, Server, ServerConfig};

pub(crate) fn run(args: &[String]) -> Result<(), Error> {
    let (embedded, addr, keys) = match opt_arg(args, "--server") {
        Some(addr) => (None, addr, env_keys()?),
        None => {
            let keys = random_keys()?;
            let server = Server::bind("127.0.0.1:0", keys.clone(), ServerConfig::default())?;
            let addr = server.local_addr().to_string();
            (Some(server), addr, keys)
        }
    };

    // The responder: the callback runs for every request and publishes on its reply subject.
    let responder = Client::connect(addr.as_str(), keys.clone())?;
    let answering = responder.clone();
    let service = responder.subscribe_callback("math.double", move |request| {
        let Some(reply_to) = request.reply else {
            return;
        };
        let text = String::from_utf8_lossy(&request.payload);
        let answer = match text.trim().parse::<i64>() {
            Ok(n) => (n * 2).to_string(),
            Err(e) => format!("error: {e}"),
        };
        if let Err(e) = answering.publish(&reply_to, answer.as_bytes()) {
            eprintln!("responder: cannot reply: {e}");
        }
    })?;

    // The requester: `request` publishes with a fresh reply subject and waits for the first reply.
    let requester = Client::connect(addr.as_str(), keys.clone())?;
    for n in [1, 21, 512] {
        let reply = requester.request(
            "math.double",
            n.to_string().as_bytes(),
            Duration::from_secs(5),
        )?;
        println!("{n} doubled is {}", String::from_utf8_lossy(&reply.payload));
    }

    requester.close();
    service.unsubscribe()?;
    responder.close();
    if let Some(server) = embedded {
        server.shutdown();
    }
    Ok(())
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    run(&args)
}
