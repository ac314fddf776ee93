//! Compares what the two brokers did with one scenario.
//!
//! Plain subscriptions: the multiset of messages each received. Queue groups (by name, as
//! NATS groups): the multiset of messages all members together received, and on each broker
//! that no message reached two members (which member is the broker's choice: NATS picks at
//! random, KCPQ round-robin). Requests: reply payload, no responders, or timeout. Actions that
//! can be refused: accepted or refused alike, except the documented differences.

use std::collections::BTreeMap;

use super::rules::{documented_refusal, unanswered_publish_status};
use super::scenario::{Action, Scenario};
use super::side::{Outcome, Rec};

/// Every difference between the outcome on nats-server and on KCPQ, in words.
pub(crate) fn differences(scenario: &Scenario, nats: &Outcome, kcpq: &Outcome) -> Vec<String> {
    let mut found = Vec::new();
    verdicts(scenario, nats, kcpq, &mut found);
    for (index, on_nats) in &nats.answers {
        let on_kcpq = kcpq.answers.get(index);
        if Some(on_nats) != on_kcpq {
            found.push(format!(
                "#{index} request: nats-server {on_nats:?}, KCPQ {on_kcpq:?}"
            ));
        }
    }
    let nats_received = tolerated(scenario, nats);
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (sub, spec) in scenario.subs.iter().enumerate() {
        match &spec.queue {
            Some(group) => groups.entry(group).or_default().push(sub),
            None => compare(
                &format!("s{sub}"),
                nats_received[sub].clone(),
                kcpq.received[sub].clone(),
                &mut found,
            ),
        }
    }
    for (group, members) in groups {
        let union = |received: &[Vec<Rec>]| -> Vec<Rec> {
            members.iter().flat_map(|&s| received[s].clone()).collect()
        };
        let (on_nats, on_kcpq) = (union(&nats_received), union(&kcpq.received));
        twice("nats-server", group, &on_nats, &mut found);
        twice("KCPQ", group, &on_kcpq, &mut found);
        compare(&format!("group {group}"), on_nats, on_kcpq, &mut found);
    }
    found
}

fn verdicts(scenario: &Scenario, nats: &Outcome, kcpq: &Outcome, found: &mut Vec<String>) {
    for (index, on_nats) in &nats.verdicts {
        let Some(on_kcpq) = kcpq.verdicts.get(index) else {
            found.push(format!("#{index}: KCPQ has no verdict"));
            continue;
        };
        if on_nats.is_ok() == on_kcpq.is_ok() {
            continue;
        }
        let action = &scenario.actions[*index];
        if let Action::Probe { probe, .. } = action
            && on_nats.is_ok()
            && documented_refusal(probe).is_some()
        {
            continue;
        }
        let say = |verdict: &Result<(), String>| match verdict {
            Ok(()) => "accepted".to_owned(),
            Err(why) => format!("refused ({why})"),
        };
        found.push(format!(
            "#{index} {action}: nats-server {}, KCPQ {}",
            say(on_nats),
            say(on_kcpq)
        ));
    }
}

/// What nats-server's subscriptions received, less the documented no-responders statuses.
fn tolerated(scenario: &Scenario, nats: &Outcome) -> Vec<Vec<Rec>> {
    (nats.received.iter().enumerate())
        .map(|(sub, received)| {
            (received.iter())
                .filter(|rec| !unanswered_publish_status(scenario, sub, rec))
                .cloned()
                .collect()
        })
        .collect()
}

/// Reports the messages of one multiset missing from the other.
fn compare(what: &str, mut nats: Vec<Rec>, mut kcpq: Vec<Rec>, found: &mut Vec<String>) {
    nats.sort();
    kcpq.sort();
    if nats == kcpq {
        return;
    }
    let only_nats = missing(&nats, &kcpq);
    let only_kcpq = missing(&kcpq, &nats);
    let list = |recs: &[Rec]| -> String {
        let items: Vec<String> = recs.iter().map(ToString::to_string).collect();
        format!("[{}]", items.join(", "))
    };
    found.push(format!(
        "{what}: only nats-server delivered {}, only KCPQ delivered {}",
        list(&only_nats),
        list(&only_kcpq)
    ));
}

/// The elements of sorted `a` not in sorted `b`, counted with multiplicity.
fn missing(a: &[Rec], b: &[Rec]) -> Vec<Rec> {
    let mut left = b.to_vec();
    let mut out = Vec::new();
    for rec in a {
        match left.iter().position(|r| r == rec) {
            Some(at) => {
                left.remove(at);
            }
            None => out.push(rec.clone()),
        }
    }
    out
}

/// Reports a message (payloads are unique per publish, but for empty ones) that reached
/// several members of a group.
fn twice(broker: &str, group: &str, union: &[Rec], found: &mut Vec<String>) {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for rec in union.iter().filter(|rec| !rec.payload.is_empty()) {
        *counts.entry(rec.payload.as_str()).or_default() += 1;
    }
    for (payload, count) in counts {
        // A long payload starts with its id and a colon.
        let payload = payload.split(':').next().unwrap_or(payload);
        if count > 1 {
            found.push(format!(
                "{broker}: message {payload:?} reached {count} members of group {group}"
            ));
        }
    }
}
