//! Routing one publish to the subscriptions that match it, clients' and the owner's alike.

use crate::proto::{Msg, Pub};
use crate::subject::MatchResult;

use super::cross::remote_worker;
use super::table::SlotId;
use super::{LOCAL_SLOT, Server, SubKey, split_key};

/// Who published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    /// A client's session.
    Session(SlotId),
    /// The server's owner, through the API.
    Owner,
}

/// Whom a publish may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Target {
    /// Every matching subscription.
    Everyone,
    /// Only the matching subscriptions of one session.
    Session(SlotId),
    /// Only the matching subscriptions of the client `client`, whose session is on another
    /// worker (the owner's publish goes there whole; never passed to `route`).
    Remote { worker: usize, client: String },
}

impl Server {
    /// Delivers `p` to every matching subscription allowed by `target`. Returns how many
    /// subscriptions it was routed to. A request nobody listens to is answered at once.
    pub(super) fn route(&mut self, origin: Origin, target: Target, p: &Pub<'_>) -> usize {
        let reach = self.reach(origin, target);
        let mut matches = self.match_reachable(&reach, p.subject);
        let mut listeners = 0usize;
        for key in matches.iter() {
            let (slot, sid) = split_key(key);
            if !reach.allows(slot) {
                continue;
            }
            listeners += 1;
            if remote_worker(slot).is_some() {
                continue;
            }
            let msg = Msg {
                sid,
                subject: p.subject,
                reply: p.reply,
                headers: p.headers,
                no_responders: false,
                payload: p.payload,
            };
            if slot == LOCAL_SLOT {
                self.deliver_local(&msg);
            } else {
                self.deliver(slot, &msg);
            }
        }
        self.forward_remote(&matches, |slot| reach.allows(slot), p);
        if p.request
            && listeners == 0
            && let Some(reply) = p.reply
        {
            match origin {
                Origin::Session(slot) => self.answer_no_responders(slot, reply, &mut matches),
                Origin::Owner => self.owner_no_responders(reply),
            }
        }
        self.matches = matches;
        listeners
    }

    /// The subscriptions a publish on `subject` from `origin` reaches, chosen as [`route`]
    /// would (queue groups pick their member now), appended to `out` without delivering.
    ///
    /// [`route`]: Server::route
    pub(super) fn recipients(&mut self, origin: Origin, subject: &str, out: &mut Vec<SubKey>) {
        let reach = self.reach(origin, Target::Everyone);
        let matches = self.match_reachable(&reach, subject);
        out.extend(matches.iter().filter(|&key| reach.allows(split_key(key).0)));
        self.matches = matches;
    }

    fn reach(&self, origin: Origin, target: Target) -> Reach {
        let no_echo = match origin {
            Origin::Session(slot) if self.table.get(slot).is_some_and(|e| e.no_echo) => Some(slot),
            _ => None,
        };
        Reach { no_echo, target }
    }

    /// The matches of `subject` (taken from the reused buffer: the caller puts it back). Plain
    /// subscriptions match whatever `reach` says, so callers filter them with it; a queue
    /// group's member is chosen among those `reach` allows.
    fn match_reachable(&mut self, reach: &Reach, subject: &str) -> MatchResult<SubKey> {
        let mut matches = std::mem::take(&mut self.matches);
        if reach.no_echo.is_some() || reach.target != Target::Everyone {
            // As in NATS, a queue group's message goes to a member the publish may reach: not
            // the no_echo publisher's own, and only the target session's when there is one.
            let eligible = |key: SubKey| reach.allows(split_key(key).0);
            self.index
                .match_eligible_into(subject, &eligible, &mut matches);
        } else {
            self.index.match_into(subject, &mut matches);
        }
        matches
    }

    /// Tells the requester at once that nobody listens, on its own subscription to `reply`.
    fn answer_no_responders(
        &mut self,
        slot: SlotId,
        reply: &str,
        matches: &mut MatchResult<SubKey>,
    ) {
        self.index.match_into(reply, matches);
        let own = matches
            .iter()
            .map(split_key)
            .find(|(target, _)| *target == slot);
        if let Some((_, sid)) = own {
            self.stats.no_responders += 1;
            let msg = Msg {
                sid,
                subject: reply,
                reply: None,
                headers: None,
                no_responders: true,
                payload: &[],
            };
            self.deliver(slot, &msg);
        }
    }
}

/// Whom one publish may reach: not a no_echo publisher's own session, and only the target's.
struct Reach {
    no_echo: Option<SlotId>,
    target: Target,
}

impl Reach {
    fn allows(&self, slot: SlotId) -> bool {
        Some(slot) != self.no_echo
            && match self.target {
                Target::Everyone => true,
                Target::Session(only) => slot == only,
                Target::Remote { .. } => false,
            }
    }
}
