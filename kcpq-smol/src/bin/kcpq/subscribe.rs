//! `kcpq sub`: print what arrives on a subject, optionally in a queue group, in the format
//! asked for.

use std::io::ErrorKind;

use futures_lite::{StreamExt, future};
use kcpq_smol::core::CloseReason;
use kcpq_smol::{Client, Event, SubscribeOptions, Subscription};

use crate::args::SubArgs;
use crate::explain;
use crate::output::Format;

/// Subscribes to `filter`, in queue group `queue` if given.
pub(crate) async fn subscribe(
    client: &Client,
    filter: &str,
    queue: Option<&str>,
) -> Result<Subscription, String> {
    let options = queue.map_or_else(SubscribeOptions::default, SubscribeOptions::queue_group);
    client
        .subscribe_with(filter, options)
        .await
        .map_err(|e| explain::subscribe(&e, filter))
}

/// Where a subscription says it is ready.
pub(crate) fn ready(filter: &str, queue: Option<&str>) -> String {
    match queue {
        Some(queue) => format!("Subscribed to {filter} in queue group {queue}"),
        None => format!("Subscribed to {filter}"),
    }
}

/// Prints messages until `--count` or the end of the connection.
pub(crate) async fn run(client: &Client, args: &SubArgs) -> Result<(), String> {
    let format = Format::from(&args.output);
    let mut sub = subscribe(client, &args.subject, args.queue.as_deref()).await?;
    format.notice(&format!(
        "{}, waiting for messages",
        ready(&args.subject, args.queue.as_deref())
    ));
    let mut received = 0u64;
    while args.count.is_none_or(|n| received < n) {
        let Some(message) = sub.next().await else {
            return Err(ended(client).await);
        };
        received += 1;
        match format.print(&message, Some(received)) {
            Ok(()) => {}
            // Whoever read the output stopped reading (`| head`): a normal end.
            Err(e) if e.kind() == ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(format!("cannot write to standard output: {e}")),
        }
    }
    Ok(())
}

/// The subscription's stream ended: the client was closed under it. Says why, from the events
/// already reported.
pub(crate) async fn ended(client: &Client) -> String {
    let mut events = client.events();
    while let Some(Some(event)) = future::poll_once(events.next()).await {
        if event == Event::Disconnected(CloseReason::Replaced) {
            return "another client connected with this client's name (--name) and took it \
                    over; this one stops (use another --name to run both)"
                .to_owned();
        }
    }
    "the connection to the server ended (the server closed it or shut down); run the command \
     again once the server is back"
        .to_owned()
}
