//! `kcpq`: a command-line client shaped like the `nats` CLI: pub, sub, req and reply on a KCPQ
//! server, and `server info` / `server check` on its monitoring endpoint.

mod args;
mod connect;
mod explain;
mod http;
mod monitor;
mod output;
mod publish;
mod reply;
mod request;
mod subscribe;

use std::process::ExitCode;

use clap::Parser;

use args::{Args, Command};
use connect::Target;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = Args::parse();
    let result = match &args.command {
        Command::Server(command) => monitor::run(command),
        _ => smol::block_on(client_command(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("kcpq: error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Connects and runs one of the client commands; what can be checked before connecting
/// (address, key, the body) is.
async fn client_command(args: Args) -> Result<(), String> {
    let target = Target::prepare(&args.connection)?;
    let body = match &args.command {
        Command::Pub(a) => publish::body_or_stdin(a.body.as_deref())?,
        Command::Req(a) => publish::body_or_stdin(a.body.as_deref())?,
        Command::Reply(a) => {
            reply::check(a)?;
            Vec::new()
        }
        _ => Vec::new(),
    };
    let client = target.connect().await?;
    let result = match args.command {
        Command::Pub(a) => publish::run(&client, &a, &body).await,
        Command::Sub(a) => subscribe::run(&client, &a).await,
        Command::Req(a) => request::run(&client, &a, body).await,
        Command::Reply(a) => reply::run(&client, a).await,
        Command::Server(_) => Ok(()),
    };
    client.close().await;
    result
}
