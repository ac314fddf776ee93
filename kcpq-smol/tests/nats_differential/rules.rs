//! The differences from nats-server that docs/protocol.md documents as deliberate (§8.5); the
//! comparison tolerates exactly these. The choice of queue member is not compared (only each
//! group's union).

use kcpq_smol::core::subject::{DEFAULT_MAX_SUBJECT_LEN, DEFAULT_MAX_TOKENS};

use super::scenario::{Action, Probe, Scenario};
use super::side::Rec;

/// Over KCPQ's subject limits (nats-server has none but its control line length).
fn over_limits(text: &str) -> bool {
    text.len() > DEFAULT_MAX_SUBJECT_LEN || text.split('.').count() > DEFAULT_MAX_TOKENS
}

/// A subject nats-server's pedantic mode would refuse to publish to: an empty token, or a
/// wildcard token.
fn invalid_to_publish(subject: &str) -> bool {
    subject
        .split('.')
        .any(|token| token.is_empty() || token == "*" || token == ">")
}

/// Why KCPQ documents refusing `probe` where nats-server accepts it, if it does.
pub(crate) fn documented_refusal(probe: &Probe) -> Option<&'static str> {
    match probe {
        Probe::Publish(subject) | Probe::Subscribe(subject) if over_limits(subject) => {
            Some("subject limits")
        }
        Probe::Publish(subject) if invalid_to_publish(subject) => {
            Some("published subjects are checked (nats-server does so only in pedantic mode)")
        }
        Probe::Queue(_, group)
            if group.len() > DEFAULT_MAX_SUBJECT_LEN
                || group.contains('.')
                || group == "*"
                || group == ">" =>
        {
            Some("a queue group name is one token, not a wildcard")
        }
        _ => None,
    }
}

/// Whether `rec`, received by subscription `sub` on nats-server, is the no-responders status
/// nats-server sends for a plain publish with a reply subject that nobody received, to the
/// publisher's own subscription matching the reply subject. KCPQ answers only requests so.
pub(crate) fn unanswered_publish_status(scenario: &Scenario, sub: usize, rec: &Rec) -> bool {
    let client = scenario.subs[sub].client;
    rec.status == Some(503)
        && rec.payload.is_empty()
        && scenario.actions.iter().any(|action| {
            matches!(action, Action::Publish { client: c, publish }
                if *c == client && publish.reply.as_deref() == Some(rec.subject.as_str()))
        })
}
