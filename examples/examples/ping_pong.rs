//! A latency tool: round trips of request and reply through the broker, at a steady rate, with
//! the percentiles at the end.
//!
//! An echo client answers on `ping.echo`; the pinger sends `--count` requests of `--size` bytes
//! at `--rate` per second (each waits for its reply before the next is due) and prints p50, p90,
//! p99 and max of the round trips: client to server to echo client and back, four hops through
//! KCP and the crypto. Without `--server` the broker is embedded on 127.0.0.1; with `--server
//! ADDR` the key comes from `KCPQ_AES256_KEY_HEX` and the echo client runs here too.
//!
//! Run with `cargo run -p kcpq-examples --release --example ping_pong -- --count 1000 --rate 200`.

use std::time::{Duration, Instant};

use kcpq_examples::{Error, Latencies, arg, env_keys, opt_arg, random_keys};
use kcpq_std::{Client, Server, ServerConfig};

pub(crate) fn run(args: &[String]) -> Result<Latencies, Error> {
    let count: usize = arg(args, "--count", 1000)?;
    let rate: f64 = arg(args, "--rate", 200.0)?;
    let size: usize = arg(args, "--size", 64)?;
    if rate <= 0.0 {
        return Err("--rate must be above 0".into());
    }
    let (embedded, addr, keys) = match opt_arg(args, "--server") {
        Some(addr) => (None, addr, env_keys()?),
        None => {
            let keys = random_keys()?;
            let server = Server::bind("127.0.0.1:0", keys.clone(), ServerConfig::default())?;
            let addr = server.local_addr().to_string();
            (Some(server), addr, keys)
        }
    };

    let echo = Client::connect(addr.as_str(), keys.clone())?;
    let replier = echo.clone();
    let echoing = echo.subscribe_callback("ping.echo", move |m| {
        if let Some(reply_to) = m.reply {
            let _ = replier.publish(&reply_to, m.payload);
        }
    })?;

    let pinger = Client::connect(addr.as_str(), keys.clone())?;
    let payload = vec![0x5a; size];
    let interval = Duration::from_secs_f64(1.0 / rate);
    let mut latencies = Latencies::default();
    let mut failures = 0usize;
    let start = Instant::now();
    let mut due = start;
    for _ in 0..count {
        // Send at the rate, not as fast as replies come: a steady load, as a real caller's.
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        due += interval;
        let sent = Instant::now();
        match pinger.request("ping.echo", payload.as_slice(), Duration::from_secs(2)) {
            Ok(_) => latencies.push(sent.elapsed()),
            Err(e) => {
                failures += 1;
                eprintln!("ping failed: {e}");
            }
        }
    }
    let elapsed = start.elapsed();

    println!(
        "{} round trips of {size} B in {:.2} s ({:.0}/s asked, {failures} failed): {}",
        latencies.len(),
        elapsed.as_secs_f64(),
        rate,
        latencies.summary()
    );

    pinger.close();
    echoing.unsubscribe()?;
    echo.close();
    if let Some(server) = embedded {
        server.shutdown();
    }
    if failures > 0 {
        return Err(format!("{failures} of {count} round trips failed").into());
    }
    Ok(latencies)
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    run(&args).map(drop)
}
