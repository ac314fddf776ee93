//! A `kcpq -> kafka` route: takes the messages of its KCPQ subscription and offers them to the
//! [`Sink`], named by the route's templates and marked with the bridge's origin header. It never
//! waits on Kafka: the sink's bound drops what Kafka cannot take.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use log::debug;

use super::sink::{Record, Sink};
use crate::bridge::{ORIGIN_HEADER, names_bridge};
use crate::config::kafka::{KafkaOutRoute, KeySource};
use crate::counters::Direction;
use crate::kcpq::{self, Incoming, Subscription};
use crate::template::token;

/// Forwards the messages of `sub` until it ends.
pub(crate) async fn pump(
    id: Arc<str>,
    route: KafkaOutRoute,
    mut sub: Subscription,
    sink: Arc<Sink>,
    counters: Arc<Direction>,
) {
    while let Some(message) = kcpq::next(&mut sub).await {
        forward(&id, &route, message, &sink, &counters);
    }
    debug!(
        "bridge {id}: kcpq subscription {} (to kafka) ended",
        route.filter
    );
}

fn forward(id: &str, route: &KafkaOutRoute, message: Incoming, sink: &Sink, counters: &Direction) {
    counters.received.fetch_add(1, Ordering::Relaxed);
    if message.headers.iter().any(|(n, v)| names_bridge(n, v, id)) {
        counters.looped.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let Ok(topic) = route.topic.render(&message.subject) else {
        counters.invalid.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let key = match &route.key {
        KeySource::None => None,
        KeySource::Token(n) => token(&message.subject, *n).ok().map(str::to_owned),
        KeySource::Header(name) => message
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone()),
    };
    let mut headers = message.headers;
    headers.push((ORIGIN_HEADER.to_owned(), id.to_owned()));
    sink.offer(&Record {
        topic: &topic,
        key: key.as_deref().map(str::as_bytes),
        headers: &headers,
        payload: &message.payload,
    });
}
