//! What a broker side must do to run a scenario, and what running one yields.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use futures_lite::Stream;

use super::scenario::{Probe, PublishSpec};

/// A failure of the test's own machinery (a bounded wait ran out, a connection broke): the
/// scenario's outcome is unknown.
pub(crate) type Broken = String;

/// A message as the comparison sees it. Reply subjects are inboxes that differ between the
/// brokers, so only their presence counts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Rec {
    pub(crate) subject: String,
    pub(crate) payload: String,
    pub(crate) reply: bool,
    /// Header (name, value) pairs, sorted; `None` when the message has no headers block.
    pub(crate) headers: Option<Vec<(String, String)>>,
    /// A NATS status code (503 for no responders); KCPQ messages have none.
    pub(crate) status: Option<u16>,
}

impl fmt::Display for Rec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.payload.char_indices().nth(40) {
            Some((end, _)) => write!(f, "{} {:?}...", self.subject, &self.payload[..end])?,
            None => write!(f, "{} {:?}", self.subject, self.payload)?,
        }
        if self.reply {
            write!(f, " +reply")?;
        }
        if let Some(headers) = &self.headers {
            write!(f, " headers {headers:?}")?;
        }
        if let Some(status) = self.status {
            write!(f, " status {status}")?;
        }
        Ok(())
    }
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    Reply(String),
    NoResponders,
    TimedOut,
}

/// What one broker did with a scenario.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// Per subscription (by index), every message it received.
    pub(crate) received: Vec<Vec<Rec>>,
    /// Per action that can be refused (by index): `Err` with what the user saw when refused.
    pub(crate) verdicts: BTreeMap<usize, Result<(), String>>,
    /// Per request action (by index).
    pub(crate) answers: BTreeMap<usize, Answer>,
}

/// One broker, through its client library, with a scenario's clients connected (numbered as
/// the scenario numbers them).
///
/// Results are nested: the outer `Err` is [`Broken`], the inner one a refusal, which is part
/// of the outcome.
pub(crate) trait Side {
    /// A subscription: a stream of received messages.
    type Sub: Stream<Item = Self::Msg> + Unpin;
    type Msg;

    /// How the comparison sees `msg`.
    fn record(msg: &Self::Msg) -> Rec;
    /// The reply subject of `msg`, if any.
    fn reply_subject(msg: &Self::Msg) -> Option<&str>;

    async fn subscribe(
        &self,
        client: usize,
        filter: &str,
        queue: Option<&str>,
    ) -> Result<Result<Self::Sub, String>, Broken>;
    /// Ends `sub` now.
    async fn unsubscribe(&self, sub: Self::Sub) -> Result<(), Broken>;
    /// Ends `sub` once it has received `total` messages since it started (at once if it has).
    async fn unsubscribe_after(&self, sub: &mut Self::Sub, total: u64) -> Result<(), Broken>;
    async fn publish(
        &self,
        client: usize,
        publish: &PublishSpec,
    ) -> Result<Result<(), String>, Broken>;
    /// Answers a request (a plain publish of `payload` to `subject`).
    async fn reply(&self, client: usize, subject: &str, payload: String) -> Result<(), Broken>;
    async fn request(
        &self,
        client: usize,
        subject: &str,
        payload: &str,
        timeout: Duration,
    ) -> Result<Answer, Broken>;
    /// Whether the broker accepts `probe` (the subscription a probe makes is removed again).
    async fn probe(&self, client: usize, probe: &Probe) -> Result<Result<(), String>, Broken>;
    /// Returns once the broker has processed everything `client` sent before.
    async fn barrier(&self, client: usize) -> Result<(), Broken>;
    /// Returns once every message the broker routed to `client` so far (everything sent
    /// before the last barriers) waits in its subscriptions.
    async fn settle(&self, client: usize) -> Result<(), Broken>;
}
