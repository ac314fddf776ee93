//! `kcpq pub`: the body from the command line or standard input, headers, and `--count` with
//! the `{{Count}}` placeholder.

use std::io::{IsTerminal, Read};

use kcpq_smol::Client;

use crate::args::PubArgs;
use crate::explain;

/// The placeholder replaced by the message's number (1, 2, ...), as in `nats pub --count`.
const COUNT: &str = "{{Count}}";

/// `body`, or standard input when it is omitted or `-`.
pub(crate) fn body_or_stdin(body: Option<&str>) -> Result<Vec<u8>, String> {
    match body {
        Some(body) if body != "-" => Ok(body.as_bytes().to_vec()),
        _ => {
            let mut stdin = std::io::stdin().lock();
            if stdin.is_terminal() {
                eprintln!("kcpq: reading the body from standard input; end it with Ctrl-D");
            }
            let mut body = Vec::new();
            stdin
                .read_to_end(&mut body)
                .map_err(|e| format!("cannot read the body from standard input: {e}"))?;
            Ok(body)
        }
    }
}

/// Publishes `body` as `args` says and waits until the server has it all.
pub(crate) async fn run(client: &Client, args: &PubArgs, body: &[u8]) -> Result<(), String> {
    let subject = args.subject.as_str();
    let mut bytes = 0;
    for n in 1..=args.count {
        let payload = fill_bytes(body, n);
        bytes += payload.len();
        let result = if args.headers.is_empty() {
            match &args.reply {
                Some(reply) => client.publish_with_reply(subject, reply, payload).await,
                None => client.publish(subject, payload).await,
            }
        } else {
            let values: Vec<String> = args.headers.iter().map(|(_, v)| fill(v, n)).collect();
            let pairs: Vec<(&str, &str)> = args
                .headers
                .iter()
                .zip(&values)
                .map(|((name, _), value)| (name.as_str(), value.as_str()))
                .collect();
            client
                .publish_with_headers(subject, args.reply.as_deref(), &pairs, payload)
                .await
        };
        result.map_err(|e| explain::publish(&e, subject))?;
    }
    client.flush().await.map_err(|e| explain::flush(&e))?;
    match args.count {
        1 => println!("Published {bytes} bytes to {subject}"),
        count => println!("Published {count} messages ({bytes} bytes) to {subject}"),
    }
    Ok(())
}

/// `text` with every `{{Count}}` replaced by `n`.
fn fill(text: &str, n: u64) -> String {
    text.replace(COUNT, &n.to_string())
}

/// `body` with every `{{Count}}` replaced by `n`; bodies need not be UTF-8.
fn fill_bytes(body: &[u8], n: u64) -> Vec<u8> {
    let placeholder = COUNT.as_bytes();
    let number = n.to_string();
    let mut out = Vec::with_capacity(body.len());
    let mut rest = body;
    while let Some(at) = rest
        .windows(placeholder.len())
        .position(|w| w == placeholder)
    {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(number.as_bytes());
        rest = &rest[at + placeholder.len()..];
    }
    out.extend_from_slice(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_placeholder_is_replaced_everywhere() {
        assert_eq!(fill_bytes(b"n={{Count}}/{{Count}}", 7), b"n=7/7");
        assert_eq!(fill_bytes(b"\xff{{Count}}\xfe", 12), b"\xff12\xfe");
        assert_eq!(fill_bytes(b"{{Count", 1), b"{{Count");
        assert_eq!(fill("id-{{Count}}", 3), "id-3");
    }
}
