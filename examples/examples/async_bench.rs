//! Latency and throughput of the async client, on smol or on tokio, measured by one program:
//! the measurement is written once, generic over `kcpq_async::Runtime`, so the two runtimes'
//! figures differ only by the runtime. Each runtime runs on one thread (smol: an executor run
//! by the main thread; tokio: a current-thread runtime), as `kcpq-bench` runs by default.
//!
//! - `latency`: a pinger publishes on `bench.ping` at `--rate` per second, an echo client
//!   answers on `bench.pong`, one ping outstanding; prints the round trips' p50 and p99.
//! - `throughput`: a publisher sends `--count` messages as fast as it can, one subscriber
//!   receives them; prints the delivered messages per second (first publish to last receipt).
//!
//! Without `--server` the example embeds a broker (on smol) on 127.0.0.1; with
//! `--server ADDR` it connects to a running `kcpq-server` with the key in
//! `KCPQ_AES256_KEY_HEX`.
//!
//! Run with `cargo run --release -p kcpq-examples --example async_bench -- --runtime tokio
//! --test latency --size 128 --count 3000 --rate 1000 [--server 127.0.0.1:4000]`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use kcpq_async::{Client, ClientOptions, Runtime, with_timeout};
use kcpq_core::crypto::KeySet;
use kcpq_core::server::ServerConfig;
use kcpq_examples::{Error, Latencies, arg, env_keys, opt_arg, random_keys};
use kcpq_smol::{QueueLimits, SubscribeOptions};

/// What to measure, from the command line.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    test: String,
    size: usize,
    count: u64,
    rate: f64,
    warmup: u64,
}

impl Plan {
    pub(crate) fn parse(args: &[String]) -> Result<Plan, Error> {
        Ok(Plan {
            test: arg(args, "--test", "latency".to_owned())?,
            size: arg(args, "--size", 128)?,
            count: arg(args, "--count", 3000)?,
            rate: arg(args, "--rate", 1000.0)?,
            warmup: arg(args, "--warmup", 200)?,
        })
    }
}

/// The outcome of one run.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Round trips.
    Latency(Latencies),
    /// Delivered messages per second.
    Throughput(f64),
}

/// A payload of `size` bytes starting with `i`.
fn payload(size: usize, i: u64) -> Vec<u8> {
    let mut body = vec![0x5a; size.max(8)];
    body[..8].copy_from_slice(&i.to_le_bytes());
    body
}

/// Connects one client on runtime `R`.
async fn connect<R: Runtime>(
    addr: SocketAddr,
    keys: &KeySet,
    spawner: &R::Spawner,
) -> Result<Client<R>, Error> {
    let mut options = ClientOptions::<R>::new(addr, keys.clone());
    options.spawner = spawner.clone();
    Ok(Client::connect_with(options).await?)
}

/// Runs `plan` against the server at `addr` on runtime `R`.
pub(crate) async fn measure<R: Runtime>(
    addr: SocketAddr,
    keys: KeySet,
    spawner: R::Spawner,
    plan: &Plan,
) -> Result<Outcome, Error> {
    match plan.test.as_str() {
        "latency" => latency::<R>(addr, &keys, &spawner, plan).await,
        "throughput" => throughput::<R>(addr, &keys, &spawner, plan).await,
        other => Err(format!("--test {other}: latency or throughput").into()),
    }
}

async fn latency<R: Runtime>(
    addr: SocketAddr,
    keys: &KeySet,
    spawner: &R::Spawner,
    plan: &Plan,
) -> Result<Outcome, Error> {
    let echo = connect::<R>(addr, keys, spawner).await?;
    let pinger = connect::<R>(addr, keys, spawner).await?;
    let mut pings = echo.subscribe("bench.ping").await?;
    let mut pongs = pinger.subscribe("bench.pong").await?;
    let answering = echo.clone();
    let responder = R::spawn(spawner, async move {
        while let Some(ping) = pings.next().await {
            if answering.publish("bench.pong", ping.payload).await.is_err() {
                break;
            }
        }
    });
    let interval = Duration::from_secs_f64(1.0 / plan.rate.max(1.0));
    let start = Instant::now();
    let mut rtts = Latencies::default();
    for i in 0..plan.warmup + plan.count {
        let due = start + interval.mul_f64(i as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            R::sleep(wait).await;
        }
        let sent = Instant::now();
        pinger.publish("bench.ping", payload(plan.size, i)).await?;
        loop {
            let pong = with_timeout::<R, _>(Duration::from_secs(1), pongs.next()).await;
            let pong = pong.map_err(|_| format!("ping {i} got no answer within 1 s"))?;
            let pong = pong.ok_or("the pong subscription ended")?;
            if pong.payload[..8] == i.to_le_bytes() {
                break;
            }
        }
        if i >= plan.warmup {
            rtts.push(sent.elapsed());
        }
    }
    R::cancel(responder).await;
    pinger.close().await;
    echo.close().await;
    Ok(Outcome::Latency(rtts))
}

async fn throughput<R: Runtime>(
    addr: SocketAddr,
    keys: &KeySet,
    spawner: &R::Spawner,
    plan: &Plan,
) -> Result<Outcome, Error> {
    let publisher = connect::<R>(addr, keys, spawner).await?;
    let subscriber = connect::<R>(addr, keys, spawner).await?;
    // Room for every message: the subscriber's queue never drops.
    let limits = QueueLimits::at_least(plan.count as usize, plan.size);
    let options = SubscribeOptions::default().with_limits(limits);
    let mut messages = subscriber.subscribe_with("bench.flow", options).await?;
    publisher.flush().await?;
    let (done, finished) = smol::channel::bounded(1);
    let count = plan.count;
    let receiver = R::spawn(spawner, async move {
        for _ in 0..count {
            if messages.next().await.is_none() {
                break;
            }
        }
        let _ = done.try_send(Instant::now());
    });
    let start = Instant::now();
    let body = payload(plan.size, 0);
    for _ in 0..plan.count {
        publisher.publish("bench.flow", body.clone()).await?;
    }
    let last = with_timeout::<R, _>(Duration::from_secs(60), finished.recv())
        .await
        .map_err(|_| "not every message arrived within 60 s")??;
    R::cancel(receiver).await;
    publisher.close().await;
    subscriber.close().await;
    Ok(Outcome::Throughput(
        plan.count as f64 / (last - start).as_secs_f64(),
    ))
}

/// Runs `plan` on the runtime named by `--runtime` (smol or tokio), each on the calling thread.
pub(crate) fn run(args: &[String]) -> Result<Outcome, Error> {
    let plan = Plan::parse(args)?;
    let runtime: String = arg(args, "--runtime", "smol".to_owned())?;
    let (addr, keys, embedded) = match opt_arg(args, "--server") {
        Some(addr) => (addr.parse()?, env_keys()?, None),
        None => {
            let keys = random_keys()?;
            let server = smol::block_on(kcpq_smol::Server::bind(
                "127.0.0.1:0".parse()?,
                keys.clone(),
                ServerConfig::default(),
            ))?;
            let handle = server.spawn();
            (handle.local_addr(), keys, Some(handle))
        }
    };
    let outcome = match runtime.as_str() {
        "smol" => {
            let executor = Arc::new(smol::Executor::new());
            let spawner = kcpq_smol::Spawner::Executor(executor.clone());
            let measuring = measure::<kcpq_smol::Smol>(addr, keys, spawner, &plan);
            smol::block_on(executor.run(measuring))
        }
        "tokio" => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(measure::<kcpq_tokio::Tokio>(
                addr,
                keys,
                kcpq_tokio::Spawner::Current,
                &plan,
            )),
        other => Err(format!("--runtime {other}: smol or tokio").into()),
    };
    if let Some(server) = embedded {
        smol::block_on(server.shutdown("benchmark finished"));
    }
    outcome
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime: String = arg(&args, "--runtime", "smol".to_owned())?;
    match run(&args)? {
        Outcome::Latency(rtts) => println!(
            "runtime {runtime}: latency p50 {:.1} us, p99 {:.1} us over {} round trips",
            rtts.percentile(50.0).as_secs_f64() * 1e6,
            rtts.percentile(99.0).as_secs_f64() * 1e6,
            rtts.len()
        ),
        Outcome::Throughput(rate) => {
            println!("runtime {runtime}: throughput {rate:.0} delivered msg/s");
        }
    }
    Ok(())
}
