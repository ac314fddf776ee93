//! `kcpq-bridge`: forwards KCPQ subjects to NATS and NATS subjects to KCPQ, as its configuration
//! file says, until SIGINT or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use kcpq_bridge::{Bridge, Config};
use log::info;

/// Bridges subjects between a KCPQ server and a NATS server.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The TOML configuration file.
    #[arg(long, default_value = "kcpq-bridge.toml")]
    config: PathBuf,
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args = Args::parse();
    let config = match Config::load(&args.config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("kcpq-bridge: error: {}: {e}", args.config.display());
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("kcpq-bridge: error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("kcpq-bridge: error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> Result<(), String> {
    let stop = stop_signal();
    let bridge = tokio::select! {
        started = Bridge::start(config) => started.map_err(|e| e.to_string())?,
        () = stop => {
            info!("stopped before both sides answered");
            return Ok(());
        }
    };
    stop_signal().await;
    info!("stopping");
    bridge.shutdown().await;
    Ok(())
}

/// Completes at SIGINT or SIGTERM (SIGINT only outside Unix).
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
