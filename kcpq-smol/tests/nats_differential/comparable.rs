//! What makes a drawn scenario's outcome independent of what the brokers may choose freely
//! (which queue group member gets a message) and of timing (how long a request waits).

use std::time::Duration;

use kcpq_smol::core::subject::filter_matches;

use super::scenario::{Action, Scenario};

/// A request the scenario expects an answer to (a reply or no-responders) waits this long;
/// it only elapses when a broker misbehaves.
pub(crate) const ANSWER_EXPECTED: Duration = Duration::from_secs(5);
/// A request that a subscription that never answers receives waits this long: it ends by
/// timing out whatever the load.
const NO_ANSWER_EXPECTED: Duration = Duration::from_millis(150);
/// A request that may reach subscriptions that never answer, or nobody (they may have ended):
/// long enough for a no-responders answer on a loaded machine.
const ANSWER_UNSURE: Duration = Duration::from_secs(1);

/// Removes message limits from queue groups where they would make the outcome depend on
/// the broker's choice of member.
///
/// A group delivers a message if some member may take it; with a limit, which member took
/// the earlier messages decides whether one still may. That choice does not matter only when
/// every member matches the same subjects (one filter), every member may take every message
/// (no member on a no_echo client) and no member leaves early (no unsubscribe): then the
/// group takes exactly the first messages up to the sum of its limits. (Limits set later, by
/// [`Action::UnsubscribeAfter`], are never drawn for members.)
pub(crate) fn keep_groups_deterministic(scenario: &mut Scenario) {
    let mut groups: Vec<&str> = (scenario.subs.iter())
        .filter_map(|s| s.queue.as_deref())
        .collect();
    groups.sort_unstable();
    groups.dedup();
    let mut uncapped = Vec::new();
    for group in groups {
        let members: Vec<usize> = (0..scenario.subs.len())
            .filter(|&s| scenario.subs[s].queue.as_deref() == Some(group))
            .collect();
        let one_filter = members
            .iter()
            .all(|&s| scenario.subs[s].filter == scenario.subs[members[0]].filter);
        let all_echo = members
            .iter()
            .all(|&s| !scenario.clients[scenario.subs[s].client].no_echo);
        let none_leaves = !scenario
            .actions
            .iter()
            .any(|a| matches!(a, Action::Unsubscribe { sub } if members.contains(sub)));
        if !(one_filter && all_echo && none_leaves) {
            uncapped.extend(members);
        }
    }
    for action in &mut scenario.actions {
        if let Action::Subscribe { sub, max } = action
            && uncapped.contains(sub)
        {
            *max = None;
        }
    }
}

/// Gives each request the time it should wait. A responder receives it, or nothing at all
/// does: [`ANSWER_EXPECTED`]. A subscription that never answers and has no limit receives it:
/// no answer can come, so [`NO_ANSWER_EXPECTED`]. Only subscriptions with a limit, which may
/// have ended, may receive it: no-responders comes at once if they have, so
/// [`ANSWER_UNSURE`].
pub(crate) fn set_request_timeouts(scenario: &mut Scenario) {
    let mut live: Vec<usize> = Vec::new();
    let mut capped: Vec<usize> = Vec::new();
    let (clients, subs) = (&scenario.clients, &scenario.subs);
    for action in &mut scenario.actions {
        match action {
            Action::Subscribe { sub, max } => {
                live.push(*sub);
                if max.is_some() {
                    capped.push(*sub);
                }
            }
            Action::UnsubscribeAfter { sub, .. } => capped.push(*sub),
            Action::Unsubscribe { sub } => live.retain(|s| s != sub),
            Action::Request {
                client,
                subject,
                timeout,
                ..
            } => {
                let no_echo = clients[*client].no_echo;
                let receivers: Vec<usize> = (live.iter().copied())
                    .filter(|&s| filter_matches(&subs[s].filter, subject))
                    .filter(|&s| !(no_echo && subs[s].client == *client))
                    .collect();
                *timeout = if receivers.is_empty() || receivers.iter().any(|&s| subs[s].responder) {
                    ANSWER_EXPECTED
                } else if receivers.iter().any(|s| !capped.contains(s)) {
                    NO_ANSWER_EXPECTED
                } else {
                    ANSWER_UNSURE
                };
            }
            Action::Publish { .. } | Action::Probe { .. } => {}
        }
    }
}
