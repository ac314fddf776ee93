//! `kcpq reply`: answer each request with a fixed body, or with the standard output of a
//! program run directly (no shell) with the request's payload on its standard input.

use std::process::Stdio;
use std::time::Duration;

use futures_lite::{AsyncWriteExt, StreamExt, future};
use kcpq_smol::core::client::PublishError as Refusal;
use kcpq_smol::{Client, Message, PublishError, with_timeout};
use smol::process::Command;

use crate::args::ReplyArgs;
use crate::explain;
use crate::output::printable;
use crate::subscribe::{ended, ready, subscribe};

/// The header of an error reply: what went wrong answering the request. The payload is empty.
pub(crate) const ERROR_HEADER: &str = "Kcpq-Error";

/// How each request is answered.
enum Answer {
    /// Always this body.
    Fixed(Vec<u8>),
    /// The standard output of a program.
    Program {
        /// The program and its arguments.
        argv: Vec<String>,
        /// How long it may run for one request.
        timeout: Duration,
    },
}

impl Answer {
    /// The reply to `request`, or why there is none.
    async fn to(&self, request: &[u8]) -> Result<Vec<u8>, String> {
        match self {
            Answer::Fixed(body) => Ok(body.clone()),
            Answer::Program { argv, timeout } => run_program(argv, request, *timeout).await,
        }
    }
}

/// Fails unless `args` say how to answer: with a body or a program.
pub(crate) fn check(args: &ReplyArgs) -> Result<(), String> {
    if args.body.is_none() && args.command.is_empty() {
        return Err(
            "kcpq reply needs the reply: give a BODY, or --command PROG [ARG]... to answer with \
             a program's output"
                .to_owned(),
        );
    }
    Ok(())
}

/// Answers requests until `--count` or the end of the connection; `args` passed [`check`].
pub(crate) async fn run(client: &Client, args: ReplyArgs) -> Result<(), String> {
    let answer = match args.body {
        Some(body) => Answer::Fixed(body.into_bytes()),
        None => Answer::Program {
            argv: args.command,
            timeout: args.command_timeout,
        },
    };
    let mut sub = subscribe(client, &args.subject, args.queue.as_deref()).await?;
    println!(
        "{}, answering requests",
        ready(&args.subject, args.queue.as_deref())
    );
    let mut answered = 0u64;
    while args.count.is_none_or(|n| answered < n) {
        let Some(request) = sub.next().await else {
            return Err(ended(client).await);
        };
        let Some(reply_to) = &request.reply else {
            eprintln!(
                "kcpq: ignored a message on {}: it asks for no reply (send requests with kcpq req)",
                request.subject
            );
            continue;
        };
        answered += 1;
        let outcome = match answer.to(&request.payload).await {
            Ok(body) => match client.publish(reply_to, body).await {
                Ok(()) => Ok(()),
                Err(PublishError::Invalid(refusal @ Refusal::PayloadTooLarge { .. })) => {
                    Err(format!("the reply is too big: {refusal}"))
                }
                Err(e) => return Err(explain::publish(&e, reply_to)),
            },
            Err(failure) => Err(failure),
        };
        match outcome {
            Ok(()) => println!(
                "[#{answered}] answered a request on {}: {}",
                request.subject,
                printable(&request.payload)
            ),
            Err(failure) => send_error(client, &request, reply_to, answered, &failure).await?,
        }
    }
    client.flush().await.map_err(|e| explain::flush(&e))
}

/// Logs `failure` and answers with an error reply.
async fn send_error(
    client: &Client,
    request: &Message,
    reply_to: &str,
    number: u64,
    failure: &str,
) -> Result<(), String> {
    let failure = printable(failure.as_bytes());
    eprintln!(
        "kcpq: request #{number} on {}: {failure}; answered with an error reply (header \
         {ERROR_HEADER})",
        request.subject
    );
    client
        .publish_with_headers(reply_to, None, &[(ERROR_HEADER, &failure)], Vec::new())
        .await
        .map_err(|e| explain::publish(&e, reply_to))
}

/// Runs `argv` with `input` on its standard input and returns its standard output; killed
/// after `timeout`.
async fn run_program(argv: &[String], input: &[u8], timeout: Duration) -> Result<Vec<u8>, String> {
    let (program, args) = argv.split_first().ok_or("no program to run")?;
    let shown = argv.join(" ");
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run `{shown}`: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("no pipe to the program")?;
    // A program that does not read its input closes the pipe early; that is not a failure.
    let feed = async move {
        let _ = stdin.write_all(input).await;
        let _ = stdin.close().await;
    };
    let (_, output) = match with_timeout(timeout, future::zip(feed, child.output())).await {
        Ok(done) => done,
        Err(_) => {
            return Err(format!(
                "`{shown}` ran longer than {timeout:?} and was killed"
            ));
        }
    };
    let output = output.map_err(|e| format!("cannot read the output of `{shown}`: {e}"))?;
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(format!("`{shown}` failed ({})", output.status))
    }
}
