//! The KCPQ <-> NATS routes: a [`Pump`] per route takes the messages of one side's subscription
//! and queues them, mapped and marked, for the task that publishes them on the other side.
//!
//! **Replies.** A message with a reply subject `R` goes out with the reply subject
//! `<reply prefix>.R`, where the prefix names this bridge ([`reply_prefix`]); the bridge
//! subscribes to `<reply prefix>.>` on that side and sends what arrives there back to `R` on the
//! side the request came from. Nothing is remembered per request, so this needs no bound.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use log::debug;
use tokio::sync::mpsc;

use crate::bridge::{ORIGIN_HEADER, Outgoing, names_bridge};
use crate::counters::Direction;
use crate::kcpq::{self, Refused};
use crate::mapping::SubjectMap;
use crate::nats;

/// The first tokens of the reply subjects bridge `id` hands out: `_KQBR.<id>`, with `.`, `*`
/// and `>` in the id replaced by `_` so that the prefix is two tokens.
pub fn reply_prefix(id: &str) -> String {
    format!("_KQBR.{}", id.replace(['.', '*', '>'], "_"))
}

/// Takes the messages of one route (or of this bridge's reply subjects on one side) and queues
/// them for the other side.
pub(crate) struct Pump {
    pub(crate) id: Arc<str>,
    pub(crate) map: SubjectMap,
    /// The reply prefix of this bridge, for the reply subjects of forwarded requests.
    pub(crate) reply_prefix: Arc<str>,
    pub(crate) out: mpsc::Sender<Outgoing>,
    pub(crate) counters: Arc<Direction>,
}

impl Pump {
    /// Forwards the messages of a KCPQ subscription until it ends.
    pub(crate) async fn kcpq(self, mut sub: kcpq::Subscription) {
        while let Some(m) = kcpq::next(&mut sub).await {
            self.forward(&m.subject, m.reply, m.headers, m.payload);
        }
        debug!(
            "bridge {}: kcpq subscription {} ended",
            self.id,
            self.map.filter()
        );
    }

    /// Forwards the messages of a NATS subscription until it ends.
    pub(crate) async fn nats(self, mut sub: async_nats::Subscriber) {
        while let Some(m) = nats::next(&mut sub).await {
            self.forward(&m.subject, m.reply, m.headers, m.payload);
        }
        debug!(
            "bridge {}: nats subscription {} ended",
            self.id,
            self.map.filter()
        );
    }

    fn forward(
        &self,
        subject: &str,
        reply: Option<String>,
        mut headers: Vec<(String, String)>,
        payload: Bytes,
    ) {
        self.counters.received.fetch_add(1, Ordering::Relaxed);
        if headers.iter().any(|(n, v)| names_bridge(n, v, &self.id)) {
            self.counters.looped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let Some(subject) = self.map.map(subject) else {
            self.counters.unmapped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        headers.push((ORIGIN_HEADER.to_owned(), self.id.to_string()));
        let outgoing = Outgoing {
            subject,
            reply: reply.map(|r| format!("{}.{r}", self.reply_prefix)),
            headers,
            payload,
        };
        if self.out.try_send(outgoing).is_err() {
            self.counters.queue_full.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Publishes the queued messages on NATS.
pub(crate) async fn publish_nats(
    client: async_nats::Client,
    mut queue: mpsc::Receiver<Outgoing>,
    counters: Arc<Direction>,
) {
    while let Some(out) = queue.recv().await {
        let subject = out.subject.clone();
        let result = nats::publish(&client, out).await;
        counters.record(result, "nats", &subject);
    }
}

/// Publishes the queued messages on KCPQ.
pub(crate) async fn publish_kcpq(
    client: kcpq::Client,
    mut queue: mpsc::Receiver<Outgoing>,
    counters: Arc<Direction>,
) {
    while let Some(out) = queue.recv().await {
        let result = kcpq::publish(
            &client,
            &out.subject,
            out.reply.as_deref(),
            &out.headers,
            out.payload,
        )
        .await;
        let result = match result {
            Ok(()) => Ok(()),
            Err(Refused::Oversized) => {
                counters.oversized.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            Err(Refused::Invalid) => {
                counters.invalid.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            Err(Refused::Transient(e)) => Err(e),
            Err(Refused::Closed) => Err("the client is closed".to_owned()),
        };
        counters.record(result, "kcpq", &out.subject);
    }
}
