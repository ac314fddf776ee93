//! `kcpq-bench`: the natsbench questions (throughput, fanin, latency, frames, conns, udplat)
//! asked of a KCPQ server, with the same payload layouts, timing points and JSON keys, so that
//! `summarize.py nats.jsonl kcpq.jsonl` sets both side by side. Every run prints one JSON line.

mod conns;
mod pubsub;
mod rtt;
mod stats;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_io::Timer;
use bytes::Bytes;
use clap::{Parser, Subcommand};
use futures_lite::{StreamExt, future};
use kcpq_smol::core::crypto::KeySet;
use kcpq_smol::keys::client_keys;
use kcpq_smol::preset::Preset;
use kcpq_smol::{
    Client, ClientOptions, ConnectError, Event, Message, PublishError, QueueLimits, Spawner,
    SubscribeError, SubscribeOptions, Subscription,
};
use serde_json::{Value, json};

static SLOW_CONSUMER_EVENTS: AtomicU64 = AtomicU64::new(0);
static DISCONNECT_EVENTS: AtomicU64 = AtomicU64::new(0);
static SERVER_ERROR_EVENTS: AtomicU64 = AtomicU64::new(0);
static UNIQUE: AtomicU64 = AtomicU64::new(0);

/// The executors of a run, one per thread (`--threads`); the first is the main thread's, which
/// also runs the test itself. A connection and the tasks that use it share one executor, so a
/// message never crosses threads inside the benchmark. (One executor run by several threads,
/// as before 2026-12-04, moved tasks between its threads at wake-ups: runs with two threads
/// were bimodal, and in their slow mode spent 2.5x the CPU per message of one thread.)
static EXECUTORS: OnceLock<Vec<Arc<smol::Executor<'static>>>> = OnceLock::new();

fn executor(place: usize) -> &'static Arc<smol::Executor<'static>> {
    let all = EXECUTORS.get().expect("main sets the executors first");
    &all[place % all.len()]
}

/// Threads running the benchmark's executors.
fn threads() -> usize {
    EXECUTORS.get().map_or(1, Vec::len)
}

/// Starts a task on the executor of thread `place` (taken modulo the thread count).
pub(crate) fn spawn_on<T: Send + 'static>(
    place: usize,
    future: impl std::future::Future<Output = T> + Send + 'static,
) -> smol::Task<T> {
    executor(place).spawn(future)
}

/// Starts a task on the main thread's executor, beside the test.
pub(crate) fn spawn<T: Send + 'static>(
    future: impl std::future::Future<Output = T> + Send + 'static,
) -> smol::Task<T> {
    spawn_on(0, future)
}

/// Where the `k`-th connection of the other side of a test goes (subscribers when the test
/// publishes from the main thread, publishers when it subscribes there): the threads besides
/// the main one in turn, or the main thread when it is the only one.
pub(crate) fn other_thread(k: usize) -> usize {
    match threads() {
        1 => 0,
        n => 1 + k % (n - 1),
    }
}

/// Benchmarks a KCPQ server the way natsbench benchmarks NATS.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The server, as kcp://HOST:PORT.
    #[arg(long, default_value = "kcp://127.0.0.1:4000", global = true)]
    url: String,
    /// Key file. Without it: $KCPQ_AES256_KEY_HEX, then ./kcpq.key.
    #[arg(long, global = true)]
    key_file: Option<PathBuf>,
    /// The server's process id, to read its CPU time and RSS from /proc.
    #[arg(long, global = true)]
    server_pid: Option<String>,
    /// Hard cap of one test, in seconds.
    #[arg(long, default_value_t = 60.0, global = true)]
    timeout: f64,
    /// Threads of the benchmark, the main thread included, each running its own executor with
    /// its connections' drivers and the tasks that use them: the test's own side (the
    /// publisher of `throughput` and `frames`, the subscriber of `fanin`, the pinger) stays on
    /// the main thread, the other side's connections go to the other threads in turn.
    /// natsbench's flag of the same name sets tokio's workers. One thread switches no thread
    /// per message, which is what latency wants (see `kcpq_smol::Spawner`); two give the
    /// publisher and the subscribers a core each.
    #[arg(long, default_value_t = 1, global = true)]
    threads: usize,
    /// Free text copied into the JSON line.
    #[arg(long, global = true)]
    tag: Option<String>,
    /// One plain system call per UDP datagram in every connection: no recvmmsg, GRO or GSO
    /// (to compare with the default, batched I/O).
    #[arg(long, global = true)]
    no_udp_offload: bool,
    /// KCP preset of every connection the bench opens (the server chooses its own with
    /// `kcpq-server --preset`; each side's windows bound what the other may send it).
    #[arg(long, value_enum, default_value_t = Preset::Fast, global = true)]
    preset: Preset,
    /// Forward error correction offered by every connection: off, auto or DATA/PARITY such as
    /// 10/3 (used when the server's `--fec` is not off).
    #[arg(
        long,
        default_value = "off",
        global = true,
        value_name = "off|auto|D/P"
    )]
    fec: kcpq_smol::core::fec::FecMode,
    #[command(subcommand)]
    test: Test,
}

#[derive(Debug, Clone, Subcommand)]
enum Test {
    /// One publisher, K subscribers, one subject, as fast as possible.
    Throughput {
        /// Payload size in bytes.
        #[arg(long, default_value_t = 128)]
        size: usize,
        /// Messages published.
        #[arg(long, default_value_t = 1_000_000)]
        count: u64,
        /// Subscriber connections.
        #[arg(long, default_value_t = 1)]
        subs: usize,
        /// Seconds without a message after which a subscriber stops counting.
        #[arg(long, default_value_t = 5.0)]
        idle: f64,
    },
    /// P publishers in parallel, one subscriber.
    Fanin {
        /// Publisher connections.
        #[arg(long, default_value_t = 4)]
        pubs: usize,
        /// Payload size in bytes.
        #[arg(long, default_value_t = 16)]
        size: usize,
        /// Messages per publisher.
        #[arg(long, default_value_t = 250_000)]
        count: u64,
        /// Seconds without a message after which the subscriber stops counting.
        #[arg(long, default_value_t = 5.0)]
        idle: f64,
    },
    /// Ping-pong through the server, one message outstanding.
    Latency {
        /// Payload size in bytes.
        #[arg(long, default_value_t = 128)]
        size: usize,
        /// Measured pings.
        #[arg(long, default_value_t = 5000)]
        count: u64,
        /// Pings per second (0: next ping right after the reply).
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        /// Pings sent first and discarded.
        #[arg(long, default_value_t = 200)]
        warmup: u64,
    },
    /// Fixed-rate frames to K subscribers, latency from the embedded send time.
    Frames {
        /// Frame size in bytes.
        #[arg(long, default_value_t = 100_000)]
        size: usize,
        /// Frames per second.
        #[arg(long, default_value_t = 240.0)]
        fps: f64,
        /// Duration in seconds.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Subscriber connections.
        #[arg(long, default_value_t = 2)]
        subs: usize,
        /// Seconds subscribers wait after the last frame.
        #[arg(long, default_value_t = 3.0)]
        grace: f64,
        /// Writes each subscriber's frame latencies in microseconds, one per line in frame
        /// order, to PREFIX.0, PREFIX.1, ... (to see when the late frames came).
        #[arg(long, value_name = "PREFIX")]
        dump_latencies: Option<std::path::PathBuf>,
    },
    /// N idle connections with one subscription each.
    Conns {
        /// Connections.
        #[arg(long, default_value_t = 1000)]
        n: usize,
        /// Connects in flight.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Seconds to wait before reading RSS.
        #[arg(long, default_value_t = 2.0)]
        settle: f64,
        /// Send one message to every subscription afterwards (0 or 1).
        #[arg(long, default_value_t = 1)]
        verify: u32,
    },
    /// Raw UDP echo on loopback, no broker: the floor.
    Udplat {
        /// Payload size in bytes.
        #[arg(long, default_value_t = 128)]
        size: usize,
        /// Measured pings.
        #[arg(long, default_value_t = 5000)]
        count: u64,
        /// Pings per second (0: unpaced).
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        /// Pings sent first and discarded.
        #[arg(long, default_value_t = 200)]
        warmup: u64,
        /// A `udprelay` (HOST:PORT) every datagram crosses: the floor of a ping-pong through a
        /// broker process, four hops per round trip.
        #[arg(long)]
        via: Option<String>,
    },
    /// The floor broker for `udplat --via`: forwards datagrams between two peers, until killed.
    Udprelay {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:14500")]
        listen: String,
    },
}

/// Why a test could not run.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BenchError {
    #[error("bad --url {0}: expected kcp://HOST:PORT")]
    Url(String),
    #[error("no key: {0}")]
    Keys(#[from] kcpq_smol::keys::KeyDiscoveryError),
    #[error("connect: {0}")]
    Connect(#[from] ConnectError),
    #[error("subscribe: {0}")]
    Subscribe(#[from] SubscribeError),
    #[error("publish: {0}")]
    Publish(#[from] PublishError),
    #[error("{0} barrier failed")]
    Barrier(&'static str),
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("bad address {0}: expected HOST:PORT")]
    Address(String),
    #[error("no udprelay answered at {0}")]
    Relay(SocketAddr),
    #[error("writing {0}: {1}")]
    Dump(String, std::io::Error),
}

/// What every test needs.
#[derive(Clone)]
pub(crate) struct Ctx {
    server: SocketAddr,
    keys: KeySet,
    pub(crate) server_pid: Option<String>,
    pub(crate) timeout: Duration,
    /// Whether connections batch their UDP I/O (`--no-udp-offload` turns it off).
    udp_offload: bool,
    /// KCP preset of every connection (`--preset`).
    preset: Preset,
    /// FEC every connection offers (`--fec`).
    fec: kcpq_smol::core::fec::FecMode,
}

impl Ctx {
    /// A fresh subject for one test.
    pub(crate) fn subject(&self, test: &str) -> String {
        format!("kcpqbench.{test}.{}", unique())
    }

    pub(crate) fn pid(&self) -> Option<&str> {
        self.server_pid.as_deref()
    }

    /// One independent connection (its own socket and session) on the main thread; its events
    /// are counted.
    pub(crate) async fn connect(&self) -> Result<Client, BenchError> {
        self.connect_on(0).await
    }

    /// One independent connection whose driver and event counter run on thread `place`.
    pub(crate) async fn connect_on(&self, place: usize) -> Result<Client, BenchError> {
        let mut options = ClientOptions::new(self.server, self.keys.clone());
        options.operation_timeout = self.timeout.max(Duration::from_secs(5));
        options.connect_timeout = Duration::from_secs(10);
        options.socket.offload = self.udp_offload;
        options.config.kcp = self.preset.kcp();
        options.config.fec = kcpq_smol::core::fec::FecConfig::with_mode(self.fec);
        options.spawner = Spawner::Executor(executor(place).clone());
        let client = Client::connect_with(options).await?;
        let mut events = client.events();
        spawn_on(place, async move {
            while let Some(event) = events.next().await {
                let counter = match event {
                    Event::SlowConsumer { .. } => &SLOW_CONSUMER_EVENTS,
                    Event::Disconnected(_) => &DISCONNECT_EVENTS,
                    Event::ServerError(_) => &SERVER_ERROR_EVENTS,
                    _ => continue,
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        })
        .detach();
        Ok(client)
    }

    /// Counters every result carries.
    pub(crate) fn common(&self) -> Value {
        json!({
            "client_slow_consumer_events": SLOW_CONSUMER_EVENTS.load(Ordering::Relaxed),
            "client_disconnect_events": DISCONNECT_EVENTS.load(Ordering::Relaxed),
            "client_server_error_events": SERVER_ERROR_EVENTS.load(Ordering::Relaxed),
            "server_slow_consumers_delta": Value::Null,
            "server_rss_kb_end": self.pid().and_then(|p| stats::status_kb(p, "VmRSS")),
            "client_rss_kb_end": stats::status_kb("self", "VmRSS"),
            "client_udp_offload": self.udp_offload,
            "client_kcp_preset": format!("{:?}", self.preset).to_lowercase(),
            "client_fec": self.fec.to_string(),
        })
    }
}

fn unique() -> String {
    format!(
        "{}_{}_{}",
        std::process::id(),
        stats::unix_ns() % 1_000_000_000,
        UNIQUE.fetch_add(1, Ordering::Relaxed)
    )
}

/// Subscribes with a queue bound of at least `messages` of `size` bytes, so the client never
/// drops.
pub(crate) async fn subscribe(
    client: &Client,
    subject: &str,
    messages: usize,
    size: usize,
) -> Result<Subscription, BenchError> {
    let options = SubscribeOptions::default().with_limits(QueueLimits::at_least(messages, size));
    Ok(client.subscribe_with(subject, options).await?)
}

/// Subscribes to a private subject, publishes to it and waits for the echo: every earlier
/// subscription of this connection is then active at the server.
pub(crate) async fn barrier(client: &Client) -> bool {
    let subject = format!("_kcpqbench_sync.{}", unique());
    let Ok(mut sub) = client.subscribe(&subject).await else {
        return false;
    };
    if client
        .publish(&subject, Bytes::from_static(b"sync"))
        .await
        .is_err()
    {
        return false;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    matches!(next_until(&mut sub, deadline).await, Some(Some(_)))
}

/// The next message, `Some(None)` when the stream ended, `None` at `deadline`.
pub(crate) async fn next_until(
    sub: &mut Subscription,
    deadline: Instant,
) -> Option<Option<Message>> {
    future::or(async { Some(sub.next().await) }, async {
        Timer::at(deadline).await;
        None
    })
    .await
}

/// Waits until `at` (at once if it has passed).
pub(crate) async fn sleep_until(at: Instant) {
    if at > Instant::now() {
        Timer::at(at).await;
    }
}

/// Pacing with tokio's `Delay` behaviour: a late tick moves the schedule.
pub(crate) struct Pacer {
    period: Option<Duration>,
    next: Instant,
}

impl Pacer {
    /// Ticks `rate` times per second; `rate <= 0` never waits.
    pub(crate) fn new(rate: f64) -> Pacer {
        Pacer {
            period: (rate > 0.0).then(|| Duration::from_secs_f64(1.0 / rate)),
            next: Instant::now(),
        }
    }

    pub(crate) async fn tick(&mut self) {
        if let Some(period) = self.period {
            sleep_until(self.next).await;
            self.next = self.next.max(Instant::now()) + period;
        }
    }
}

fn parse_url(url: &str) -> Result<SocketAddr, BenchError> {
    url.strip_prefix("kcp://")
        .and_then(|host_port| parse_address(host_port).ok())
        .ok_or_else(|| BenchError::Url(url.to_owned()))
}

fn parse_address(address: &str) -> Result<SocketAddr, BenchError> {
    address
        .to_socket_addrs()
        .ok()
        .and_then(|mut addresses| addresses.next())
        .ok_or_else(|| BenchError::Address(address.to_owned()))
}

fn context(args: &Args, timeout: Duration) -> Result<Ctx, BenchError> {
    let cwd = std::env::current_dir()?;
    let (keys, _) = client_keys(args.key_file.as_deref(), &cwd)?;
    Ok(Ctx {
        server: parse_url(&args.url)?,
        keys,
        server_pid: args.server_pid.clone(),
        timeout,
        udp_offload: !args.no_udp_offload,
        preset: args.preset,
        fec: args.fec,
    })
}

async fn run(args: &Args) -> Result<Value, BenchError> {
    let timeout = Duration::from_secs_f64(args.timeout.max(0.1));
    let ctx = || context(args, timeout);
    match args.test.clone() {
        Test::Throughput {
            size,
            count,
            subs,
            idle,
        } => pubsub::throughput(&ctx()?, size, count, subs, Duration::from_secs_f64(idle)).await,
        Test::Fanin {
            pubs,
            size,
            count,
            idle,
        } => pubsub::fanin(&ctx()?, pubs, size, count, Duration::from_secs_f64(idle)).await,
        Test::Latency {
            size,
            count,
            rate,
            warmup,
        } => rtt::latency(&ctx()?, size, count, rate, warmup).await,
        Test::Frames {
            size,
            fps,
            seconds,
            subs,
            grace,
            dump_latencies,
        } => {
            let shape = pubsub::FrameRun {
                size,
                fps,
                seconds,
                subs,
                grace: Duration::from_secs_f64(grace),
                dump_latencies,
            };
            pubsub::frames(&ctx()?, shape).await
        }
        Test::Conns {
            n,
            concurrency,
            settle,
            verify,
        } => {
            conns::conns(
                &ctx()?,
                n,
                concurrency,
                Duration::from_secs_f64(settle),
                verify,
            )
            .await
        }
        Test::Udplat {
            size,
            count,
            rate,
            warmup,
            via,
        } => {
            let via = via.as_deref().map(parse_address).transpose()?;
            rtt::udplat(size, count, rate, warmup, via).await
        }
        Test::Udprelay { listen } => rtt::udprelay(parse_address(&listen)?),
    }
}

fn test_name(test: &Test) -> &'static str {
    match test {
        Test::Throughput { .. } => "throughput",
        Test::Fanin { .. } => "fanin",
        Test::Latency { .. } => "latency",
        Test::Frames { .. } => "frames",
        Test::Conns { .. } => "conns",
        Test::Udplat { .. } => "udplat",
        Test::Udprelay { .. } => "udprelay",
    }
}

fn main() {
    let args = Args::parse();
    let ts = stats::unix_ns() / 1_000_000_000;
    let threads = args.threads.max(1);
    let executors = EXECUTORS.get_or_init(|| {
        (0..threads)
            .map(|_| Arc::new(smol::Executor::new()))
            .collect()
    });
    for executor in executors.iter().skip(1) {
        let executor = executor.clone();
        std::thread::spawn(move || smol::block_on(executor.run(future::pending::<()>())));
    }
    match smol::block_on(executors[0].run(run(&args))) {
        Ok(mut line) => {
            line["ts"] = json!(ts);
            line["threads"] = json!(threads);
            if let Some(tag) = &args.tag {
                line["tag"] = json!(tag);
            }
            println!("{line}");
            // Thousands of sessions need not close politely.
            std::process::exit(0);
        }
        Err(error) => {
            println!(
                "{}",
                json!({"test": test_name(&args.test), "error": error.to_string(), "ts": ts})
            );
            std::process::exit(1);
        }
    }
}
