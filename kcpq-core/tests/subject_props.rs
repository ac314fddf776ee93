//! Property tests: the subscription index against the naive linear-scan model, the cache against
//! an uncached index, and validation against its plain specification.

use kcpq_core::fuzzing::subject::{NaiveIndex, check_match, naive_filter_matches, naive_is_valid};
use kcpq_core::subject::{
    IndexConfig, MatchResult, QueueChoice, SubjectError, SubjectKind, SubjectLimits,
    SubscriptionIndex, filter_matches, validate_filter, validate_queue_group, validate_subject,
};
use proptest::prelude::*;

const LIMITS: SubjectLimits = SubjectLimits::new(32, 5);

#[derive(Debug, Clone)]
enum Op {
    Insert(String, Option<&'static str>, u8),
    Remove(String, Option<&'static str>, u8),
    RemoveHeld(usize),
    Match(String, u8),
}

/// Subjects over a four-token alphabet, so filters below actually match them.
fn subject() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(vec!["a", "b", "c", "d"]), 1..=4)
        .prop_map(|t| t.join("."))
}

/// Mostly valid filters (`*` anywhere, `>` last), sometimes invalid ones.
fn filter() -> impl Strategy<Value = String> {
    let tokens = prop::collection::vec(prop::sample::select(vec!["a", "b", "c", "*"]), 0..=4);
    (tokens, any::<bool>(), 0u8..10).prop_map(|(mut t, full, noise)| {
        if full || t.is_empty() {
            t.push(">");
        }
        match noise {
            0 => t.insert(0, ">"),
            1 => t.push(""),
            _ => {}
        }
        t.join(".")
    })
}

fn queue() -> impl Strategy<Value = Option<&'static str>> {
    prop::sample::select(vec![None, None, None, Some("q"), Some("r")])
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (filter(), queue(), 0u8..6).prop_map(|(f, q, v)| Op::Insert(f, q, v)),
        1 => (filter(), queue(), 0u8..6).prop_map(|(f, q, v)| Op::Remove(f, q, v)),
        1 => any::<usize>().prop_map(Op::RemoveHeld),
        4 => (subject(), 1u8..4).prop_map(|(s, n)| Op::Match(s, n)),
    ]
}

fn config(cache_capacity: usize, random: Option<u8>, max_subscriptions: usize) -> IndexConfig {
    let mut c = IndexConfig::default();
    c.limits = LIMITS;
    c.cache_capacity = cache_capacity;
    c.max_subscriptions = max_subscriptions;
    if let Some(seed) = random {
        c.queue_choice = QueueChoice::Random { seed: [seed; 32] };
    }
    c
}

/// Runs `ops` against the index and the model, comparing every answer; returns every match
/// result in order.
fn run_against_model(config: IndexConfig, ops: &[Op]) -> Vec<MatchResult<u8>> {
    let round_robin = config.queue_choice == QueueChoice::RoundRobin;
    let mut index = SubscriptionIndex::new(config.clone());
    let mut model = NaiveIndex::new(config.limits, config.max_subscriptions);
    let mut out = MatchResult::new();
    let mut results = Vec::new();
    for op in ops {
        match op {
            Op::Insert(f, q, v) => assert_eq!(index.insert(f, *q, *v), model.insert(f, *q, *v)),
            Op::Remove(f, q, v) => assert_eq!(index.remove(f, *q, *v), model.remove(f, *q, *v)),
            Op::RemoveHeld(i) => {
                let held = model.subscriptions();
                if !held.is_empty() {
                    let (f, q, v) = held[i % held.len()].clone();
                    assert!(model.remove(&f, q.as_deref(), v));
                    assert!(index.remove(&f, q.as_deref(), v));
                }
            }
            Op::Match(s, repeats) => {
                for _ in 0..*repeats {
                    index.match_into(s, &mut out);
                    check_match(&mut model, round_robin, s, &out);
                    results.push(out.clone());
                }
            }
        }
        assert_eq!(index.len(), model.subscriptions().len());
    }
    results
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn index_agrees_with_the_naive_model(
        ops in prop::collection::vec(op(), 1..150),
        capacity in prop::sample::select(vec![0usize, 1, 3, 64]),
        random in prop::option::of(any::<u8>()),
        max in 3usize..40,
    ) {
        run_against_model(config(capacity, random, max), &ops);
    }

    /// The cache never answers stale: a cached index gives exactly the answers (queue choices
    /// included) of an uncached one fed the same operations.
    #[test]
    fn cached_answers_equal_uncached_answers(
        ops in prop::collection::vec(op(), 1..150),
        capacity in prop::sample::select(vec![1usize, 2, 5, 64]),
        random in prop::option::of(any::<u8>()),
    ) {
        let cached = run_against_model(config(capacity, random, 1000), &ops);
        let uncached = run_against_model(config(0, random, 1000), &ops);
        prop_assert_eq!(cached, uncached);
    }

    /// The same operations and seed give the same answers, queue choices included.
    #[test]
    fn runs_reproduce(ops in prop::collection::vec(op(), 1..100), seed in any::<u8>()) {
        let a = run_against_model(config(8, Some(seed), 1000), &ops);
        let b = run_against_model(config(8, Some(seed), 1000), &ops);
        prop_assert_eq!(a, b);
    }

    #[test]
    fn matcher_agrees_with_recursive_matcher(f in filter(), s in subject()) {
        prop_assert_eq!(filter_matches(&f, &s), naive_filter_matches(&f, &s));
    }

    #[test]
    fn validation_follows_the_spec(text in "[ab.*> \té]{0,40}") {
        for (kind, result) in [
            (SubjectKind::Subject, validate_subject(&text, &LIMITS)),
            (SubjectKind::Filter, validate_filter(&text, &LIMITS)),
            (SubjectKind::QueueGroup, validate_queue_group(&text, &LIMITS)),
        ] {
            prop_assert_eq!(result.is_ok(), naive_is_valid(kind, &text, &LIMITS), "{} {:?}", kind, text);
            if let Err(e) = result {
                check_error_names_the_first_bad_token(kind, &text, &e);
            }
        }
    }
}

/// A token error must point at a token that is bad in the stated way, after only good tokens.
fn check_error_names_the_first_bad_token(kind: SubjectKind, text: &str, e: &SubjectError) {
    let tokens: Vec<&str> = text.split('.').collect();
    let position = match e {
        SubjectError::EmptyToken { position, .. } => {
            assert!(tokens[position - 1].is_empty());
            *position
        }
        SubjectError::Whitespace {
            position, token, ..
        } => {
            assert_eq!(tokens[position - 1], token);
            assert!(token.chars().any(char::is_whitespace));
            *position
        }
        SubjectError::WildcardNotAllowed {
            position, wildcard, ..
        } => {
            assert_eq!(tokens[position - 1], wildcard.to_string());
            assert_ne!(kind, SubjectKind::Filter);
            *position
        }
        SubjectError::FullWildcardNotLast {
            position, count, ..
        } => {
            assert_eq!(tokens[position - 1], ">");
            assert_eq!(*count, tokens.len());
            assert!(*position < tokens.len());
            *position
        }
        SubjectError::Empty { .. } => return assert!(text.is_empty()),
        SubjectError::TooLong { len, .. } => return assert!(*len > LIMITS.max_len),
        SubjectError::TooManyTokens { count, .. } => return assert!(*count > LIMITS.max_tokens),
        SubjectError::NotSingleToken { .. } => return assert!(tokens.len() > 1),
        other => panic!("unexpected error {other:?}"),
    };
    let good = |t: &&str| {
        !t.is_empty()
            && !t.chars().any(char::is_whitespace)
            && (kind == SubjectKind::Filter || (*t != "*" && *t != ">"))
    };
    assert!(
        tokens[..position - 1].iter().all(good),
        "{e} : an earlier token is bad"
    );
}
