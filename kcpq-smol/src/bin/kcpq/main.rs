//! `kcpq`: a command-line client shaped like the `nats` CLI (pub, sub, req, reply).

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use futures_lite::StreamExt;
use kcpq_smol::keys::client_keys;
use kcpq_smol::{Client, Message, SubscribeOptions};

/// A KCPQ client: publish, subscribe, request and reply.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The server's UDP address.
    #[arg(short, long, default_value = "127.0.0.1:4000", global = true)]
    server: String,
    /// Key file. Without it: $KCPQ_AES256_KEY_HEX, then ./kcpq.key.
    #[arg(long, global = true)]
    key_file: Option<PathBuf>,
    /// How long to wait for the connection, e.g. 5s or 500ms.
    #[arg(long, default_value = "5s", value_parser = parse_duration, global = true)]
    connect_timeout: Duration,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Publish BODY to SUBJECT.
    Pub {
        /// The subject.
        subject: String,
        /// The payload.
        body: String,
        /// Publish it this many times.
        #[arg(long, default_value_t = 1)]
        count: u64,
    },
    /// Print messages received on SUBJECT (wildcards `*` and `>` allowed).
    Sub {
        /// The subject filter.
        subject: String,
        /// Exit after this many messages.
        #[arg(long)]
        count: Option<u64>,
        /// Join this queue group.
        #[arg(long)]
        queue: Option<String>,
    },
    /// Send a request and print the reply.
    Req {
        /// The subject.
        subject: String,
        /// The payload.
        body: String,
        /// How long to wait for the reply, e.g. 2s or 500ms.
        #[arg(long, default_value = "2s", value_parser = parse_duration)]
        timeout: Duration,
    },
    /// Answer every request on SUBJECT with BODY.
    Reply {
        /// The subject filter.
        subject: String,
        /// The reply payload.
        body: String,
        /// Exit after answering this many requests.
        #[arg(long)]
        count: Option<u64>,
        /// Join this queue group.
        #[arg(long)]
        queue: Option<String>,
    },
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a duration; write e.g. 2s, 500ms or 1m"))?;
    Duration::try_from_secs_f64(value * scale)
        .map_err(|_| format!("`{text}` is not a valid duration"))
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = Args::parse();
    match smol::block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("kcpq: error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn resolve(server: &str) -> Result<SocketAddr, String> {
    server
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve server address {server}: {e}"))?
        .next()
        .ok_or_else(|| format!("server address {server} resolves to nothing"))
}

fn show(message: &Message) -> String {
    String::from_utf8_lossy(&message.payload)
        .escape_debug()
        .to_string()
}

async fn run(args: Args) -> Result<(), String> {
    let cwd = std::env::current_dir().map_err(|e| format!("no working directory: {e}"))?;
    let (keys, _) = client_keys(args.key_file.as_deref(), &cwd).map_err(|e| e.to_string())?;
    let server = resolve(&args.server)?;
    let mut options = kcpq_smol::ClientOptions::new(server, keys);
    options.connect_timeout = args.connect_timeout;
    let client = Client::connect_with(options)
        .await
        .map_err(|e| e.to_string())?;
    let result = command(&client, args.command).await;
    client.close().await;
    result
}

async fn command(client: &Client, command: Command) -> Result<(), String> {
    match command {
        Command::Pub {
            subject,
            body,
            count,
        } => {
            for _ in 0..count {
                client
                    .publish(&subject, body.clone())
                    .await
                    .map_err(|e| e.to_string())?;
            }
            client.flush().await.map_err(|e| e.to_string())?;
            println!(
                "Published {count} message(s) of {} bytes to {subject}",
                body.len()
            );
        }
        Command::Sub {
            subject,
            count,
            queue,
        } => {
            let options =
                queue.map_or_else(SubscribeOptions::default, SubscribeOptions::queue_group);
            let mut sub = client
                .subscribe_with(&subject, options)
                .await
                .map_err(|e| e.to_string())?;
            println!("Subscribed to {subject}, waiting for messages");
            let mut received = 0u64;
            while count.is_none_or(|n| received < n) {
                let Some(message) = sub.next().await else {
                    return Err("the connection to the server ended".to_owned());
                };
                received += 1;
                println!("[#{received}] {}: {}", message.subject, show(&message));
            }
        }
        Command::Req {
            subject,
            body,
            timeout,
        } => {
            let reply = client
                .request(&subject, body, timeout)
                .await
                .map_err(|e| e.to_string())?;
            println!("{}", show(&reply));
        }
        Command::Reply {
            subject,
            body,
            count,
            queue,
        } => {
            let options =
                queue.map_or_else(SubscribeOptions::default, SubscribeOptions::queue_group);
            let mut sub = client
                .subscribe_with(&subject, options)
                .await
                .map_err(|e| e.to_string())?;
            println!("Answering requests on {subject}");
            let mut answered = 0u64;
            while count.is_none_or(|n| answered < n) {
                let Some(message) = sub.next().await else {
                    return Err("the connection to the server ended".to_owned());
                };
                let Some(reply) = &message.reply else {
                    continue;
                };
                client
                    .publish(reply, body.clone())
                    .await
                    .map_err(|e| e.to_string())?;
                answered += 1;
                println!(
                    "[#{answered}] answered a request on {}: {}",
                    message.subject,
                    show(&message)
                );
            }
            client.flush().await.map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}
