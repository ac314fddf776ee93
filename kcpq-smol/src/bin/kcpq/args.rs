//! The command line: the global options, the subcommands and their options.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

/// The first line of `kcpq --help`.
const ABOUT: &str =
    "Publish, subscribe, request and reply on a KCPQ server, and ask a server how it is doing.";

/// The end of `kcpq --help`.
const AFTER_HELP: &str = "\
Examples:
  kcpq sub 'orders.>'                          print what is published under orders.
  kcpq pub orders.new '{\"id\": 1}' -H trace:42  publish with a header
  date | kcpq pub clock                        the body from standard input
  kcpq pub tick 'tick {{Count}}' --count 10    ten numbered messages
  kcpq reply svc.time --command date           answer each request with the output of date
  kcpq req svc.time ''                         send a request and print the reply
  kcpq server info                             counters of a kcpq-server run with --monitor

The key: --key-file PATH, else $KCPQ_AES256_KEY_HEX, else ./kcpq.key (the file the server
creates on first start).";

/// The whole command line.
#[derive(Debug, Parser)]
#[command(name = "kcpq", version, about = ABOUT, after_help = AFTER_HELP)]
pub(crate) struct Args {
    /// Where and how to connect.
    #[command(flatten)]
    pub(crate) connection: ConnectionArgs,
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The options every client command shares.
#[derive(Debug, clap::Args)]
pub(crate) struct ConnectionArgs {
    /// The server: kcp://HOST:PORT or HOST:PORT (port 4000 when omitted).
    #[arg(
        short,
        long,
        default_value = "127.0.0.1:4000",
        global = true,
        value_name = "URL"
    )]
    pub(crate) server: String,
    /// Key file. Without it: $KCPQ_AES256_KEY_HEX, then ./kcpq.key.
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) key_file: Option<PathBuf>,
    /// How long to wait for the connection, e.g. 5s or 500ms.
    #[arg(long, default_value = "5s", value_parser = parse_duration, global = true)]
    pub(crate) connect_timeout: Duration,
    /// This client's name, unique on the server [default: the server assigns one].
    #[arg(long, global = true)]
    pub(crate) name: Option<String>,
    /// Forward error correction to offer: off, auto or DATA/PARITY such as 10/3 (used when the
    /// server's --fec is not off too).
    #[arg(
        long,
        global = true,
        default_value = "off",
        value_name = "off|auto|D/P"
    )]
    pub(crate) fec: kcpq_smol::core::fec::FecMode,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// The commands that connect to a server.
    #[command(flatten)]
    Client(ClientCommand),
    /// Ask a kcpq-server's monitoring endpoint (kcpq-server --monitor) how it is doing.
    #[command(subcommand)]
    Server(ServerCommand),
}

/// The subcommands that connect to a server.
#[derive(Debug, Subcommand)]
pub(crate) enum ClientCommand {
    /// Publish a message to SUBJECT.
    Pub(PubArgs),
    /// Print the messages published on SUBJECT (wildcards `*` and `>` allowed).
    Sub(SubArgs),
    /// Send a request and print the reply.
    Req(ReqArgs),
    /// Answer the requests sent to SUBJECT, with a fixed body or a program's output.
    Reply(ReplyArgs),
}

/// `kcpq pub`.
#[derive(Debug, clap::Args)]
pub(crate) struct PubArgs {
    /// The subject, e.g. orders.new.
    pub(crate) subject: String,
    /// The payload; omitted or `-`: read from standard input. `{{Count}}` becomes the
    /// message's number.
    pub(crate) body: Option<String>,
    /// A header, NAME:VALUE; repeat for more. `{{Count}}` in the value becomes the message's
    /// number.
    #[arg(
        short = 'H',
        long = "header",
        id = "header",
        value_name = "NAME:VALUE",
        value_parser = parse_header
    )]
    pub(crate) headers: Vec<(String, String)>,
    /// Publish this many messages; `{{Count}}` in the body or a header value becomes 1, 2, ...
    #[arg(long, default_value_t = 1)]
    pub(crate) count: u64,
    /// Ask for replies on this subject.
    #[arg(long, value_name = "SUBJECT")]
    pub(crate) reply: Option<String>,
}

/// `kcpq sub`.
#[derive(Debug, clap::Args)]
pub(crate) struct SubArgs {
    /// The subject filter, e.g. orders.* or orders.>.
    pub(crate) subject: String,
    /// Exit after this many messages.
    #[arg(long)]
    pub(crate) count: Option<u64>,
    /// Join this queue group: each message goes to one member of the group.
    #[arg(long)]
    pub(crate) queue: Option<String>,
    /// How to print the messages.
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

/// `kcpq req`.
#[derive(Debug, clap::Args)]
pub(crate) struct ReqArgs {
    /// The subject.
    pub(crate) subject: String,
    /// The payload; omitted or `-`: read from standard input.
    pub(crate) body: Option<String>,
    /// A header, NAME:VALUE; repeat for more.
    #[arg(
        short = 'H',
        long = "header",
        id = "header",
        value_name = "NAME:VALUE",
        value_parser = parse_header
    )]
    pub(crate) headers: Vec<(String, String)>,
    /// How long to wait for the reply, e.g. 2s or 500ms.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub(crate) timeout: Duration,
    /// How to print the reply.
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

/// `kcpq reply`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
With --command, each request's payload is the program's standard input and its standard
output is the reply; the program runs directly, never through a shell, and its standard error
goes to this terminal. When it cannot start, exits non-zero or runs past --command-timeout,
kcpq logs a line saying so and answers with an error reply: an empty payload with the header
Kcpq-Error naming the failure (kcpq req reports it and exits 1).")]
pub(crate) struct ReplyArgs {
    /// The subject filter.
    pub(crate) subject: String,
    /// The reply payload (or use --command).
    #[arg(conflicts_with = "command")]
    pub(crate) body: Option<String>,
    /// Answer with the output of PROG run with ARGs; everything after --command is taken as
    /// the program and its arguments, so put it last.
    #[arg(long, num_args = 1.., allow_hyphen_values = true, value_name = "PROG")]
    pub(crate) command: Vec<String>,
    /// How long the program may run for one request before it is killed.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub(crate) command_timeout: Duration,
    /// Exit after answering this many requests.
    #[arg(long)]
    pub(crate) count: Option<u64>,
    /// Join this queue group: each request goes to one member of the group.
    #[arg(long)]
    pub(crate) queue: Option<String>,
}

/// How received messages are printed.
#[derive(Debug, clap::Args)]
pub(crate) struct OutputArgs {
    /// Print each message's headers too, one per line.
    #[arg(long)]
    pub(crate) headers: bool,
    /// Print only the payloads, byte for byte, each followed by a newline.
    #[arg(long, conflicts_with_all = ["json", "headers"])]
    pub(crate) raw: bool,
    /// Print one JSON object per line: subject, reply, headers (name to list of values), and
    /// payload (when it is UTF-8) or payload_b64 (base64).
    #[arg(long)]
    pub(crate) json: bool,
}

/// `kcpq server`.
#[derive(Debug, Subcommand)]
pub(crate) enum ServerCommand {
    /// Print the server's version, uptime, connections, subscriptions and counters.
    Info(MonitorArgs),
    /// Exit 0 when the server is healthy, else 1 with the reason.
    Check(MonitorArgs),
}

/// Where the monitoring endpoint is.
#[derive(Debug, clap::Args)]
pub(crate) struct MonitorArgs {
    /// The monitoring endpoint: the address given to kcpq-server --monitor.
    #[arg(long, default_value = "http://127.0.0.1:8222", value_name = "URL")]
    pub(crate) monitor: String,
    /// How long to wait for each answer, e.g. 2s or 500ms.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub(crate) timeout: Duration,
}

/// Parses `2s`, `500ms`, `1m` or a plain number of seconds.
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

/// Parses `NAME:VALUE` (spaces after the colon are dropped).
fn parse_header(text: &str) -> Result<(String, String), String> {
    match text.split_once(':') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.trim_start().to_owned()))
        }
        _ => Err(format!(
            "`{text}` is not a header; write NAME:VALUE, e.g. trace:42"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_headers_parse() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("soon").is_err());
        assert_eq!(
            parse_header("Trace: a:b"),
            Ok(("Trace".to_owned(), "a:b".to_owned()))
        );
        assert!(parse_header(":x").is_err());
        assert!(parse_header("novalue").is_err());
    }

    #[test]
    fn the_definition_is_consistent() {
        use clap::CommandFactory;
        Args::command().debug_assert();
        let args =
            Args::try_parse_from(["kcpq", "req", "s", "-H", "a:b", "--headers"]).expect("parse");
        let Command::Client(ClientCommand::Req(req)) = args.command else {
            panic!("not req");
        };
        assert_eq!(req.headers, [("a".to_owned(), "b".to_owned())]);
        assert!(req.output.headers);
    }

    #[test]
    fn the_command_takes_the_rest_of_the_line() {
        let args = Args::try_parse_from([
            "kcpq",
            "reply",
            "svc",
            "--count",
            "2",
            "--command",
            "wc",
            "-c",
            "--lines",
        ])
        .expect("parse");
        let Command::Client(ClientCommand::Reply(reply)) = args.command else {
            panic!("not reply");
        };
        assert_eq!(reply.command, ["wc", "-c", "--lines"]);
        assert_eq!(reply.count, Some(2));
        assert!(Args::try_parse_from(["kcpq", "reply", "svc", "x", "--command", "date"]).is_err());
    }
}
