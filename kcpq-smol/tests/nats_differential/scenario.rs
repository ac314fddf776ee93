//! What a scenario is: clients, subscriptions and a sequence of actions, all plain data, so
//! that both brokers run exactly the same thing and a failing seed can print it.

use std::fmt;
use std::time::Duration;

/// One client of a scenario.
#[derive(Debug, Clone)]
pub(crate) struct ClientSpec {
    /// Connects with no_echo: its own publishes do not reach its subscriptions.
    pub(crate) no_echo: bool,
}

/// One subscription of a scenario (made by an [`Action::Subscribe`]).
#[derive(Debug, Clone)]
pub(crate) struct SubSpec {
    pub(crate) client: usize,
    pub(crate) filter: String,
    pub(crate) queue: Option<String>,
    /// Answers every message whose reply subject is an inbox (a request).
    pub(crate) responder: bool,
}

/// A publish.
#[derive(Debug, Clone)]
pub(crate) struct PublishSpec {
    pub(crate) subject: String,
    pub(crate) reply: Option<String>,
    pub(crate) headers: Option<Vec<(String, String)>>,
    pub(crate) payload: String,
}

/// An input whose acceptance is compared: nothing else is done with it.
#[derive(Debug, Clone)]
pub(crate) enum Probe {
    Publish(String),
    Subscribe(String),
    /// A queue subscription: filter, group name.
    Queue(String, String),
}

/// One step, made by one client; the next step starts once the broker has processed it.
#[derive(Debug, Clone)]
pub(crate) enum Action {
    /// Subscribes `sub`, then (if `max`) unsubscribes it after `max` messages.
    Subscribe {
        sub: usize,
        max: Option<u64>,
    },
    /// Auto-unsubscribe later in the subscription's life: `max` counts every message it
    /// received since it started (the NATS meaning).
    UnsubscribeAfter {
        sub: usize,
        max: u64,
    },
    Unsubscribe {
        sub: usize,
    },
    Publish {
        client: usize,
        publish: PublishSpec,
    },
    Request {
        client: usize,
        subject: String,
        payload: String,
        timeout: Duration,
    },
    Probe {
        client: usize,
        probe: Probe,
    },
}

/// Everything one seed runs.
#[derive(Debug, Clone)]
pub(crate) struct Scenario {
    pub(crate) seed: u64,
    pub(crate) clients: Vec<ClientSpec>,
    pub(crate) subs: Vec<SubSpec>,
    pub(crate) actions: Vec<Action>,
}

impl Scenario {
    /// The client that performs `action`.
    pub(crate) fn actor(&self, action: &Action) -> usize {
        match action {
            Action::Subscribe { sub, .. }
            | Action::UnsubscribeAfter { sub, .. }
            | Action::Unsubscribe { sub } => self.subs[*sub].client,
            Action::Publish { client, .. }
            | Action::Request { client, .. }
            | Action::Probe { client, .. } => *client,
        }
    }
}

impl fmt::Display for PublishSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.payload.split_once(':') {
            Some((id, rest)) => write!(f, "{} {id:?} + {} bytes", self.subject, rest.len() + 1)?,
            None => write!(f, "{} {:?}", self.subject, self.payload)?,
        }
        if let Some(reply) = &self.reply {
            write!(f, " reply {reply}")?;
        }
        if let Some(headers) = &self.headers {
            write!(f, " headers {headers:?}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Probe::Publish(subject) => write!(f, "publish to {subject:?}"),
            Probe::Subscribe(filter) => write!(f, "subscribe to {filter:?}"),
            Probe::Queue(filter, group) => write!(f, "subscribe to {filter:?} in group {group:?}"),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Subscribe { sub, max: None } => write!(f, "subscribe s{sub}"),
            Action::Subscribe {
                sub,
                max: Some(max),
            } => {
                write!(f, "subscribe s{sub}, unsubscribe after {max}")
            }
            Action::UnsubscribeAfter { sub, max } => {
                write!(f, "unsubscribe s{sub} after {max} in all")
            }
            Action::Unsubscribe { sub } => write!(f, "unsubscribe s{sub}"),
            Action::Publish { publish, .. } => write!(f, "publish {publish}"),
            Action::Request {
                subject,
                payload,
                timeout,
                ..
            } => write!(f, "request {subject} {payload:?} within {timeout:?}"),
            Action::Probe { probe, .. } => write!(f, "probe: {probe}"),
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "scenario of seed {}:", self.seed)?;
        for (i, client) in self.clients.iter().enumerate() {
            let echo = if client.no_echo { " (no_echo)" } else { "" };
            writeln!(f, "  client c{i}{echo}")?;
        }
        for (i, sub) in self.subs.iter().enumerate() {
            write!(f, "  s{i}: c{} {}", sub.client, sub.filter)?;
            if let Some(queue) = &sub.queue {
                write!(f, " queue {queue}")?;
            }
            let role = if sub.responder { " (responds)" } else { "" };
            writeln!(f, "{role}")?;
        }
        for (i, action) in self.actions.iter().enumerate() {
            writeln!(f, "  #{i} c{}: {action}", self.actor(action))?;
        }
        Ok(())
    }
}
