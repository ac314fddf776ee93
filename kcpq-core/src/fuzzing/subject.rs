//! Fuzz entry points for the `subject` module, and the naive reference model that the fuzz
//! target and the property tests (`tests/subject_props.rs`) compare the index with.
//!
//! The model is deliberately simple: a list of subscriptions scanned linearly for every match,
//! with a recursive matcher over token slices. It is slow and obviously correct, which is its
//! whole purpose.

use std::collections::BTreeMap;

use crate::subject::{
    IndexConfig, InsertError, MatchResult, QueueChoice, SubjectKind, SubjectLimits,
    SubscriptionIndex, validate_filter, validate_queue_group, validate_subject,
};

/// Whether `filter` matches `subject`, by recursion over their token lists: `*` consumes one
/// token, `>` (as the filter's last token) one or more, anything else must be equal.
pub fn naive_filter_matches(filter: &str, subject: &str) -> bool {
    fn go(f: &[&str], s: &[&str]) -> bool {
        match (f, s) {
            ([], []) => true,
            ([">"], [_, ..]) => true,
            (["*", f_rest @ ..], [_, s_rest @ ..]) => go(f_rest, s_rest),
            ([a, f_rest @ ..], [b, s_rest @ ..]) => a == b && go(f_rest, s_rest),
            _ => false,
        }
    }
    let f: Vec<&str> = filter.split('.').collect();
    let s: Vec<&str> = subject.split('.').collect();
    go(&f, &s)
}

/// The validation rules written as a plain specification: the answer `validate_*` must give.
pub fn naive_is_valid(kind: SubjectKind, text: &str, limits: &SubjectLimits) -> bool {
    let tokens: Vec<&str> = text.split('.').collect();
    let last = tokens.len() - 1;
    let token_ok = |(i, t): (usize, &&str)| {
        let wildcard_ok = match *t {
            "*" => kind == SubjectKind::Filter,
            ">" => kind == SubjectKind::Filter && i == last,
            _ => true,
        };
        !t.is_empty() && !t.chars().any(char::is_whitespace) && wildcard_ok
    };
    !text.is_empty()
        && text.len() <= limits.max_len
        && tokens.len() <= limits.max_tokens
        && (kind != SubjectKind::QueueGroup || tokens.len() == 1)
        && tokens.iter().enumerate().all(token_ok)
}

/// One matching queue group name in the model's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NaiveGroup<T> {
    /// The group's name.
    pub name: String,
    /// The filters of this name that match the subject, ascending, each once.
    pub filters: Vec<String>,
    /// The members subscribed under any of those filters, ascending, each once.
    pub members: Vec<T>,
}

/// The model's answer for one subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NaiveMatch<T> {
    /// Plain subscribers of every matching filter, ascending, one per subscription.
    pub plain: Vec<T>,
    /// Matching queue group names, ascending by name.
    pub groups: Vec<NaiveGroup<T>>,
}

/// A subscription index as a plain list, scanned linearly.
#[derive(Debug, Clone)]
pub struct NaiveIndex<T> {
    limits: SubjectLimits,
    max_subscriptions: usize,
    subs: Vec<(String, Option<String>, T)>,
    /// Round-robin memory per (filter, group name), while that pair has members: the member
    /// served last through it and the turn number then.
    last_served: BTreeMap<(String, String), (T, u64)>,
    /// Round-robin choices made so far.
    turn: u64,
}

impl<T: Copy + Ord> NaiveIndex<T> {
    /// An empty model with the index's limits and bound.
    pub fn new(limits: SubjectLimits, max_subscriptions: usize) -> Self {
        NaiveIndex {
            limits,
            max_subscriptions,
            subs: Vec::new(),
            last_served: BTreeMap::new(),
            turn: 0,
        }
    }

    /// The subscriptions held, in insertion order.
    pub fn subscriptions(&self) -> &[(String, Option<String>, T)] {
        &self.subs
    }

    /// The answer `SubscriptionIndex::insert` must give, applied to the model.
    pub fn insert(
        &mut self,
        filter: &str,
        queue: Option<&str>,
        value: T,
    ) -> Result<(), InsertError> {
        validate_filter(filter, &self.limits).map_err(InsertError::InvalidFilter)?;
        if let Some(q) = queue {
            validate_queue_group(q, &self.limits).map_err(InsertError::InvalidQueueGroup)?;
        }
        let exists = self.position(filter, queue, value).is_some();
        if !exists && self.subs.len() >= self.max_subscriptions {
            return Err(InsertError::Full {
                max: self.max_subscriptions,
            });
        }
        if exists {
            return Err(InsertError::Duplicate {
                filter: filter.into(),
                queue: queue.map(Into::into),
            });
        }
        self.subs
            .push((filter.into(), queue.map(Into::into), value));
        Ok(())
    }

    /// The answer `SubscriptionIndex::remove` must give, applied to the model.
    pub fn remove(&mut self, filter: &str, queue: Option<&str>, value: T) -> bool {
        let Some(at) = self.position(filter, queue, value) else {
            return false;
        };
        self.subs.remove(at);
        if let Some(q) = queue {
            let group_left = self
                .subs
                .iter()
                .any(|(f, g, _)| f == filter && g.as_deref() == Some(q));
            if !group_left {
                self.last_served.remove(&(filter.to_owned(), q.to_owned()));
            }
        }
        true
    }

    /// Who `subject` reaches, by scanning every subscription.
    pub fn matches(&self, subject: &str) -> NaiveMatch<T> {
        let mut plain = Vec::new();
        let mut groups: BTreeMap<String, (Vec<String>, Vec<T>)> = BTreeMap::new();
        for (filter, queue, value) in &self.subs {
            if !naive_filter_matches(filter, subject) {
                continue;
            }
            match queue {
                None => plain.push(*value),
                Some(q) => {
                    let (filters, members) = groups.entry(q.clone()).or_default();
                    filters.push(filter.clone());
                    members.push(*value);
                }
            }
        }
        plain.sort_unstable();
        let groups = groups
            .into_iter()
            .map(|(name, (mut filters, mut members))| {
                filters.sort_unstable();
                filters.dedup();
                members.sort_unstable();
                members.dedup();
                NaiveGroup {
                    name,
                    filters,
                    members,
                }
            })
            .collect();
        NaiveMatch { plain, groups }
    }

    /// The member round-robin must serve next in `group` (which must be non-empty), recorded
    /// as served: the smallest member above the last one served through any of the group's
    /// matching filters (the most recent such turn), else the smallest.
    pub fn serve_round_robin(&mut self, group: &NaiveGroup<T>) -> T {
        let key = |filter: &String| (filter.clone(), group.name.clone());
        let last = group
            .filters
            .iter()
            .filter_map(|f| self.last_served.get(&key(f)))
            .max_by_key(|(_, turn)| *turn)
            .map(|(member, _)| *member);
        let next = last.and_then(|last| group.members.iter().copied().find(|m| *m > last));
        let chosen = next.unwrap_or(group.members[0]);
        self.turn += 1;
        for filter in &group.filters {
            self.last_served.insert(key(filter), (chosen, self.turn));
        }
        chosen
    }

    fn position(&self, filter: &str, queue: Option<&str>, value: T) -> Option<usize> {
        self.subs
            .iter()
            .position(|(f, q, v)| f == filter && q.as_deref() == queue && *v == value)
    }
}

/// Checks one index answer against the model; panics on any divergence.
///
/// Plain subscribers must be equal; queue members must be one per matching group name, in name
/// order, each a member of its group and, under round-robin, exactly the model's turn.
pub fn check_match<T: Copy + Ord + std::fmt::Debug>(
    model: &mut NaiveIndex<T>,
    round_robin: bool,
    subject: &str,
    got: &MatchResult<T>,
) {
    let want = model.matches(subject);
    assert_eq!(
        got.plain(),
        want.plain.as_slice(),
        "plain subscribers of {subject:?}"
    );
    assert_eq!(
        got.queued().len(),
        want.groups.len(),
        "one member per matching queue group name of {subject:?}"
    );
    for (chosen, group) in got.queued().iter().zip(&want.groups) {
        assert!(
            group.members.contains(chosen),
            "{chosen:?} is not in {group:?}"
        );
        if round_robin {
            assert_eq!(
                *chosen,
                model.serve_round_robin(group),
                "round-robin turn in {group:?}"
            );
        }
    }
}

/// Reads fuzz input one byte at a time; the input ends with zeros.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn next(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn text(&mut self, alphabet: &[&str]) -> String {
        let count = usize::from(self.next() % 7);
        let tokens: Vec<&str> = (0..count)
            .map(|_| alphabet[usize::from(self.next()) % alphabet.len()])
            .collect();
        tokens.join(".")
    }

    fn queue(&mut self) -> Option<&'static str> {
        const QUEUES: [Option<&str>; 6] =
            [None, None, Some("q"), Some("r"), Some("q.r"), Some("*")];
        QUEUES[usize::from(self.next()) % QUEUES.len()]
    }
}

const FILTER_TOKENS: [&str; 7] = ["a", "b", "c", "*", ">", "a*", ""];
const SUBJECT_TOKENS: [&str; 5] = ["a", "b", "c", "a*", "*"];

/// Fuzz target `subject_index`: the input drives a configuration and a sequence of inserts,
/// removes and matches over small token alphabets (so matches happen), plus raw strings through
/// validation and matching. Every answer of the index, cached or not, is compared with
/// [`NaiveIndex`] and every validation with [`naive_is_valid`]. A divergence panics (that is the
/// fuzz assertion); any input on which the index agrees with the model returns normally.
pub fn subject_index(data: &[u8]) {
    let mut input = Bytes(data);
    let setup = input.next();
    let limits = SubjectLimits::new(24, 5);
    let round_robin = setup & 8 == 0;
    let queue_choice = if round_robin {
        QueueChoice::RoundRobin
    } else {
        QueueChoice::Random {
            seed: [input.next(); 32],
        }
    };
    let config = IndexConfig::default()
        .with_limits(limits)
        .with_cache_capacity([0, 1, 2, 4, 16][usize::from(setup % 5)])
        .with_max_subscriptions(4 + usize::from(setup >> 4))
        .with_queue_choice(queue_choice);
    let mut index = SubscriptionIndex::new(config.clone());
    let mut model = NaiveIndex::new(limits, config.max_subscriptions);
    let mut out = MatchResult::new();
    while !input.0.is_empty() {
        match input.next() % 8 {
            0 | 1 => {
                let filter = input.text(&FILTER_TOKENS);
                let queue = input.queue();
                let value = input.next() % 8;
                let want = model.insert(&filter, queue, value);
                assert_eq!(
                    index.insert(&filter, queue, value),
                    want,
                    "insert {filter:?} {queue:?}"
                );
            }
            2 => {
                let filter = input.text(&FILTER_TOKENS);
                let queue = input.queue();
                let value = input.next() % 8;
                let want = model.remove(&filter, queue, value);
                assert_eq!(
                    index.remove(&filter, queue, value),
                    want,
                    "remove {filter:?}"
                );
            }
            3 => {
                let held = model.subscriptions().len();
                if held > 0 {
                    let (f, q, v) = model.subscriptions()[usize::from(input.next()) % held].clone();
                    assert!(model.remove(&f, q.as_deref(), v));
                    assert!(
                        index.remove(&f, q.as_deref(), v),
                        "remove held {f:?} {q:?} {v}"
                    );
                }
            }
            4..=6 => {
                let subject = input.text(&SUBJECT_TOKENS);
                for _ in 0..1 + input.next() % 3 {
                    index.match_into(&subject, &mut out);
                    check_match(&mut model, round_robin, &subject, &out);
                }
            }
            _ => {
                let len = usize::from(input.next() % 32).min(input.0.len());
                let (raw, rest) = input.0.split_at(len);
                input.0 = rest;
                let text = String::from_utf8_lossy(raw);
                let kinds = [
                    (
                        SubjectKind::Subject,
                        validate_subject(&text, &limits).is_ok(),
                    ),
                    (SubjectKind::Filter, validate_filter(&text, &limits).is_ok()),
                    (
                        SubjectKind::QueueGroup,
                        validate_queue_group(&text, &limits).is_ok(),
                    ),
                ];
                for (kind, ok) in kinds {
                    assert_eq!(ok, naive_is_valid(kind, &text, &limits), "{kind} {text:?}");
                }
                index.match_into(&text, &mut out);
                check_match(&mut model, round_robin, &text, &out);
            }
        }
        assert_eq!(index.len(), model.subscriptions().len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naive_matcher_examples() {
        assert!(naive_filter_matches("foo.>", "foo.a.b"));
        assert!(!naive_filter_matches("foo.>", "foo"));
        assert!(naive_filter_matches("*.b", "a.b"));
        assert!(!naive_filter_matches("*", "a.b"));
        assert!(!naive_filter_matches("a.>.b", "a.x.b"));
    }

    #[test]
    fn fuzz_function_runs_on_edge_inputs() {
        subject_index(&[]);
        subject_index(&[0]);
        subject_index(&[255; 64]);
        let mut seq = Vec::new();
        for i in 0..2048u32 {
            seq.push((i.wrapping_mul(2_654_435_761) >> 13) as u8);
        }
        subject_index(&seq);
    }
}
