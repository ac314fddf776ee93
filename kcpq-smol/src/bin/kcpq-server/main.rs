//! `kcpq-server`: the KCPQ broker.
//!
//! Reads `--config kcpq.toml` if given (flags override it), finds or creates the key, listens on
//! UDP, optionally serves monitoring over HTTP, and drains on SIGINT/SIGTERM: new publishes are
//! refused, what the subscription queues hold is still delivered for at most the drain timeout,
//! then every client is sent CLOSE. A second signal closes at once.

mod config;
mod monitor;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use clap::Parser;
use futures_lite::StreamExt;
use kcpq_smol::keys::{KeySource, server_keys};
use kcpq_smol::{Server, ServerOptions, Spawner};

use config::FileConfig;
use kcpq_smol::preset::Preset;

/// Default UDP address.
const DEFAULT_LISTEN: &str = "127.0.0.1:4000";

/// Default time queued messages get at SIGINT/SIGTERM before the sessions are closed.
const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The KCPQ broker: NATS-style publish/subscribe over KCP with pre-shared-key encryption.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// UDP address to listen on [default: 127.0.0.1:4000].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Key file (one 64-hex-character key per line). Without it: $KCPQ_AES256_KEY_HEX, then
    /// ./kcpq.key, created with a fresh key on first start.
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// TOML file with limits, heartbeats and the KCP preset; flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Serve /healthz, /varz, /connz and /metrics over HTTP on this address.
    #[arg(long)]
    monitor: Option<SocketAddr>,
    /// KCP preset.
    #[arg(long, value_enum)]
    preset: Option<Preset>,
    /// Largest payload (headers included), in bytes.
    #[arg(long)]
    max_payload: Option<usize>,
    /// Server name sent to clients.
    #[arg(long)]
    name: Option<String>,
    /// One plain system call per UDP datagram: no recvmmsg, GRO or GSO (`socket_offload =
    /// false` in the config file).
    #[arg(long)]
    no_udp_offload: bool,
    /// A client connecting with a name another client instance holds: takes it over (the old
    /// session is closed and its client told not to reconnect) or is refused [default:
    /// take-over].
    #[arg(long, value_enum)]
    duplicate_names: Option<config::DuplicateNamesSetting>,
    /// At SIGINT/SIGTERM, milliseconds queued messages may still be delivered before every
    /// client is sent CLOSE; 0 closes at once; a second signal always does [default: 5000].
    #[arg(long, value_name = "MS")]
    drain_timeout_ms: Option<u64>,
    /// Messages of at least this many payload bytes are forwarded to subscribers as their
    /// bytes arrive (cut-through) instead of once whole; 0 turns it off [default: 16384].
    #[arg(long, value_name = "BYTES")]
    cut_through_min_bytes: Option<usize>,
    /// Forward error correction for clients that offer it: off, auto (parity from measured
    /// loss, none on a clean link) or a fixed ratio DATA/PARITY such as 10/3 [default: off].
    #[arg(long, value_name = "off|auto|D/P")]
    fec: Option<kcpq_smol::core::fec::FecMode>,
    /// Worker threads, each with its own share of the sessions and its own socket on the
    /// listen address (SO_REUSEPORT); 1 runs everything on one thread [default: the available
    /// cores, at most 16].
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
}

/// The most workers the default (one per available core) gives.
const DEFAULT_MAX_WORKERS: usize = 16;

/// One worker per available core, at most [`DEFAULT_MAX_WORKERS`].
fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(DEFAULT_MAX_WORKERS)
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args = Args::parse();
    // The broker, its monitor and its signal handler all run on this thread, which also polls
    // the sockets while it waits: a datagram wakes no other thread (see `Spawner`).
    let executor = Arc::new(smol::Executor::new());
    let spawner = Spawner::Executor(executor.clone());
    match smol::block_on(executor.run(run(args, spawner))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("kcpq-server: error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args, spawner: Spawner) -> Result<(), String> {
    let mut file = match &args.config {
        Some(path) => FileConfig::load(path).map_err(|e| e.to_string())?,
        None => FileConfig::default(),
    };
    file.listen = args.listen.or(file.listen);
    file.key_file = args.key_file.or(file.key_file);
    file.monitor = args.monitor.or(file.monitor);
    file.preset = args.preset.or(file.preset);
    file.max_payload = args.max_payload.or(file.max_payload);
    file.server_name = args.name.or(file.server_name);
    file.drain_timeout_ms = args.drain_timeout_ms.or(file.drain_timeout_ms);
    file.duplicate_names = args.duplicate_names.or(file.duplicate_names);
    file.cut_through_min_bytes = args.cut_through_min_bytes.or(file.cut_through_min_bytes);
    file.fec = args.fec.or(file.fec);
    file.workers = args.workers.or(file.workers);
    if args.no_udp_offload {
        file.socket_offload = Some(false);
    }

    let cwd = std::env::current_dir().map_err(|e| format!("no working directory: {e}"))?;
    let (keys, source) = server_keys(file.key_file.as_deref(), &cwd).map_err(|e| e.to_string())?;
    match &source {
        KeySource::Created(path) => println!(
            "created a new key in {} (mode 0600); give this file to clients, or run them in this directory",
            path.display()
        ),
        other => println!("using the key from the {other}"),
    }

    let listen = match file.listen {
        Some(addr) => addr,
        None => DEFAULT_LISTEN.parse().map_err(|e| format!("{e}"))?,
    };
    let mut options = ServerOptions::new(listen, keys);
    options.config = file.server_config();
    if let Some(ms) = file.shutdown_linger_ms {
        options.config.shutdown_linger = Duration::from_millis(ms);
    }
    if let Some(bytes) = file.socket_recv_buffer {
        options.socket.recv_buffer = bytes;
    }
    if let Some(bytes) = file.socket_send_buffer {
        options.socket.send_buffer = bytes;
    }
    if let Some(offload) = file.socket_offload {
        options.socket.offload = offload;
    }
    options.workers = file.workers.unwrap_or_else(default_workers);
    let server = Server::bind_with(options)
        .await
        .map_err(|e| e.to_string())?;
    let handle = server.handle();
    let started = SystemTime::now();

    if let Some(addr) = file.monitor {
        let listener = smol::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot serve monitoring on {addr}: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("cannot serve monitoring on {addr}: {e}"))?;
        println!("monitoring on http://{addr} (/healthz /varz /connz /metrics)");
        spawner
            .spawn(monitor::serve(
                listener,
                handle.clone(),
                started,
                spawner.clone(),
            ))
            .detach();
    }

    let signals =
        async_signal::Signals::new([async_signal::Signal::Int, async_signal::Signal::Term])
            .map_err(|e| format!("cannot handle signals: {e}"))?;
    let drain_timeout = file
        .drain_timeout_ms
        .map_or(DEFAULT_DRAIN_TIMEOUT, Duration::from_millis);
    spawner
        .spawn(stop_on_signals(signals, handle.clone(), drain_timeout))
        .detach();

    println!("kcpq-server: {} workers", handle.workers());
    println!("kcpq-server listening on udp://{}", server.local_addr());
    server.run().await.map_err(|e| e.to_string())?;
    println!("kcpq-server stopped");
    Ok(())
}

/// Drains the server at the first SIGINT/SIGTERM (for at most `drain_timeout`), and shuts it
/// down at once at the second.
async fn stop_on_signals(
    mut signals: async_signal::Signals,
    handle: kcpq_smol::ServerHandle,
    drain_timeout: Duration,
) {
    let Some(Ok(signal)) = signals.next().await else {
        return;
    };
    if drain_timeout.is_zero() {
        log::info!("received {signal:?}: shutting down");
        handle.shutdown("server shutting down").await;
        return;
    }
    log::info!(
        "received {signal:?}: draining for at most {drain_timeout:?} (signal again to stop at once)"
    );
    let drain = handle.drain(drain_timeout);
    let again = async {
        if let Some(Ok(signal)) = signals.next().await {
            log::info!("received {signal:?} while draining: shutting down now");
            handle.shutdown("server shutting down").await;
        }
    };
    futures_lite::future::or(drain, again).await;
}
