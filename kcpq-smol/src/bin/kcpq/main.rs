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

use async_signal::{Signal, Signals};
use clap::Parser;
use futures_lite::{StreamExt, future};

use args::{Args, ClientCommand, Command, ConnectionArgs};
use connect::Target;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = Args::parse();
    let result = match args.command {
        Command::Server(command) => monitor::run(&command).map(|()| ExitCode::SUCCESS),
        Command::Client(command) => smol::block_on(client_command(&args.connection, command)),
    };
    result.unwrap_or_else(|message| {
        eprintln!("kcpq: error: {message}");
        ExitCode::FAILURE
    })
}

/// Connects and runs one of the client commands; what can be checked before connecting
/// (address, key, the body) is. SIGINT or SIGTERM stop the command and close the connection
/// properly, so that the server frees the client's name at once; the exit code is then
/// 128 + the signal's number, as for a process the signal ended.
async fn client_command(
    connection: &ConnectionArgs,
    command: ClientCommand,
) -> Result<ExitCode, String> {
    let target = Target::prepare(connection)?;
    let body = match &command {
        ClientCommand::Pub(a) => publish::body_or_stdin(a.body.as_deref())?,
        ClientCommand::Req(a) => publish::body_or_stdin(a.body.as_deref())?,
        ClientCommand::Reply(a) => {
            reply::check(a)?;
            Vec::new()
        }
        ClientCommand::Sub(_) => Vec::new(),
    };
    let mut signals = Signals::new([Signal::Int, Signal::Term])
        .map_err(|e| format!("cannot handle signals: {e}"))?;
    let client = target.connect().await?;
    let run = async {
        match command {
            ClientCommand::Pub(a) => publish::run(&client, &a, &body).await,
            ClientCommand::Sub(a) => subscribe::run(&client, &a).await,
            ClientCommand::Req(a) => request::run(&client, &a, body).await,
            ClientCommand::Reply(a) => reply::run(&client, a).await,
        }
        .map(|()| ExitCode::SUCCESS)
    };
    let interrupted = async {
        let code = match signals.next().await {
            Some(Ok(Signal::Term)) => 128 + 15,
            _ => 128 + 2,
        };
        Ok(ExitCode::from(code))
    };
    let result = future::or(run, interrupted).await;
    client.close().await;
    result
}
