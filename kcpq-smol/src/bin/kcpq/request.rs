//! `kcpq req`: send one request, with headers if given, and print the reply.

use std::io::ErrorKind;

use kcpq_smol::Client;

use crate::args::ReqArgs;
use crate::explain;
use crate::output::Format;
use crate::reply::ERROR_HEADER;

/// Sends the request and prints the reply; a reply carrying `Kcpq-Error` is an error.
pub(crate) async fn run(client: &Client, args: &ReqArgs, body: Vec<u8>) -> Result<(), String> {
    let subject = args.subject.as_str();
    let result = if args.headers.is_empty() {
        client.request(subject, body, args.timeout).await
    } else {
        let pairs: Vec<(&str, &str)> = args
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        client
            .request_with_headers(subject, &pairs, body, args.timeout)
            .await
    };
    let reply = result.map_err(|e| explain::request(&e, subject))?;
    if let Some(failure) = reply.headers().and_then(|h| h.get(ERROR_HEADER)) {
        return Err(format!("the responder on {subject} failed: {failure}"));
    }
    match Format::from(&args.output).print(&reply, None) {
        Err(e) if e.kind() != ErrorKind::BrokenPipe => {
            Err(format!("cannot write to standard output: {e}"))
        }
        _ => Ok(()),
    }
}
