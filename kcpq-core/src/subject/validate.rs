//! Validation of published subjects, subscription filters and queue group names.
//!
//! The rules are those of NATS:
//!
//! - A subject is a sequence of tokens separated by `.`; every token is non-empty (no leading,
//!   trailing or doubled `.`) and contains no whitespace (any Unicode whitespace).
//! - A *published* subject contains no wildcard token.
//! - A *filter* (what a subscription listens on) may use `*` as a whole token anywhere (matches
//!   exactly one token) and `>` as a whole token in the last position only (matches one or more
//!   tokens, so `foo.>` matches `foo.a` and `foo.a.b` but not `foo`).
//! - A wildcard character inside a longer token is an ordinary character, as in NATS: `foo*`,
//!   `a>b` and `*x` are literal tokens, valid in subjects and filters alike, and a filter token
//!   `foo*` matches only the subject token `foo*`.
//! - A queue group name is a single token: non-empty, no `.`, no whitespace, and not a wildcard.
//!
//! Lengths are counted in bytes of UTF-8. Token positions in errors count from 1.

use std::fmt;

/// Default [`SubjectLimits::max_len`]: 256 bytes.
///
/// Subjects in NATS deployments are short (hierarchical names, inbox subjects of about 40
/// bytes); 256 leaves ample room while bounding what every frame header, trie path and match
/// cache key may cost (a full default cache holds at most 256 KiB of subject text).
pub const DEFAULT_MAX_SUBJECT_LEN: usize = 256;

/// Default [`SubjectLimits::max_tokens`]: 16 tokens.
///
/// Naming schemes rarely go past 8 levels; 16 bounds the depth of the subscription trie, and
/// with it the recursion depth and the work of one match.
pub const DEFAULT_MAX_TOKENS: usize = 16;

/// Bounds every subject, filter and queue group name must respect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubjectLimits {
    /// The longest accepted text, in bytes (default [`DEFAULT_MAX_SUBJECT_LEN`]).
    pub max_len: usize,
    /// The most tokens a subject or filter may have (default [`DEFAULT_MAX_TOKENS`]).
    pub max_tokens: usize,
}

impl SubjectLimits {
    /// Limits with the given maximum length in bytes and maximum token count.
    pub const fn new(max_len: usize, max_tokens: usize) -> Self {
        SubjectLimits {
            max_len,
            max_tokens,
        }
    }
}

impl Default for SubjectLimits {
    fn default() -> Self {
        SubjectLimits::new(DEFAULT_MAX_SUBJECT_LEN, DEFAULT_MAX_TOKENS)
    }
}

/// What was being validated, named in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubjectKind {
    /// A subject a message is published to.
    Subject,
    /// A subscription filter, which may contain wildcards.
    Filter,
    /// A queue group name.
    QueueGroup,
}

impl fmt::Display for SubjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SubjectKind::Subject => "subject",
            SubjectKind::Filter => "filter",
            SubjectKind::QueueGroup => "queue group",
        })
    }
}

/// Why a subject, filter or queue group name was refused.
///
/// Checks run in this order and the first failure is reported: empty, too long, not a single
/// token (queue groups), too many tokens, then each token from the first: empty, whitespace,
/// wildcard placement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubjectError {
    /// The text is empty.
    #[error("{kind} is empty")]
    Empty {
        /// What was validated.
        kind: SubjectKind,
    },
    /// The text is longer than [`SubjectLimits::max_len`].
    #[error("{kind} is {len} bytes long; the limit is {max} bytes")]
    TooLong {
        /// What was validated.
        kind: SubjectKind,
        /// Its length in bytes.
        len: usize,
        /// The limit it exceeds.
        max: usize,
    },
    /// The text has more than [`SubjectLimits::max_tokens`] tokens.
    #[error("{kind} {text:?} has {count} tokens; the limit is {max}")]
    TooManyTokens {
        /// What was validated.
        kind: SubjectKind,
        /// The offending text.
        text: String,
        /// Its token count.
        count: usize,
        /// The limit it exceeds.
        max: usize,
    },
    /// A token is empty: a leading, trailing or doubled `.`.
    #[error("token {position} of {kind} {text:?} is empty (leading, trailing or doubled '.')")]
    EmptyToken {
        /// What was validated.
        kind: SubjectKind,
        /// The offending text.
        text: String,
        /// The 1-based position of the empty token.
        position: usize,
    },
    /// A token contains whitespace.
    #[error("token {position} ({token:?}) of {kind} {text:?} contains whitespace")]
    Whitespace {
        /// What was validated.
        kind: SubjectKind,
        /// The offending text.
        text: String,
        /// The offending token.
        token: String,
        /// Its 1-based position.
        position: usize,
    },
    /// A wildcard token where none is allowed (a published subject or a queue group name).
    #[error(
        "token {position} of {kind} {text:?} is the wildcard '{wildcard}'; only subscription \
         filters may contain wildcards"
    )]
    WildcardNotAllowed {
        /// What was validated.
        kind: SubjectKind,
        /// The offending text.
        text: String,
        /// The wildcard found: `*` or `>`.
        wildcard: char,
        /// Its 1-based position.
        position: usize,
    },
    /// A filter has `>` before its last token.
    #[error(
        "wildcard '>' must be the last token, found at token {position} of {count} in filter \
         {text:?}"
    )]
    FullWildcardNotLast {
        /// The offending filter.
        text: String,
        /// The 1-based position of the `>`.
        position: usize,
        /// The filter's token count.
        count: usize,
    },
    /// A queue group name contains `.`.
    #[error("queue group {text:?} must be a single token, without '.'")]
    NotSingleToken {
        /// The offending name.
        text: String,
    },
}

/// Checks a subject a message is published to: tokens only, no wildcards.
pub fn validate_subject(subject: &str, limits: &SubjectLimits) -> Result<(), SubjectError> {
    check(SubjectKind::Subject, subject, limits)
}

/// Checks a subscription filter: `*` as any whole token, `>` as the last whole token.
pub fn validate_filter(filter: &str, limits: &SubjectLimits) -> Result<(), SubjectError> {
    check(SubjectKind::Filter, filter, limits)
}

/// Checks a queue group name: a single token, not a wildcard, within `limits.max_len`.
pub fn validate_queue_group(name: &str, limits: &SubjectLimits) -> Result<(), SubjectError> {
    check(SubjectKind::QueueGroup, name, limits)
}

/// Whether `filter` contains a wildcard token (`*` or `>` as a whole token).
///
/// A filter without one matches exactly the subject spelled the same way.
pub fn has_wildcards(filter: &str) -> bool {
    filter.split('.').any(|t| t == "*" || t == ">")
}

/// Whether the (valid) filter `filter` matches the (valid) subject `subject`.
///
/// `*` matches exactly one token, a final `>` one or more, any other token itself. Allocates
/// nothing. For invalid inputs the answer is that of this token-by-token comparison, never a
/// panic.
pub fn filter_matches(filter: &str, subject: &str) -> bool {
    let mut f = filter.split('.');
    let mut s = subject.split('.');
    loop {
        match (f.next(), s.next()) {
            (None, None) => return true,
            (Some(">"), Some(_)) => return f.next().is_none(),
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

/// Every publish is validated (by the client before it queues it, by the server when it
/// arrives), so the common case takes one pass over the bytes; whatever that pass does not
/// accept at once (an error, or a non-ASCII byte that may start Unicode whitespace) goes
/// through [`check_precisely`], which names the first failure.
fn check(kind: SubjectKind, text: &str, limits: &SubjectLimits) -> Result<(), SubjectError> {
    if accepts_at_once(kind, text.as_bytes(), limits) {
        Ok(())
    } else {
        check_precisely(kind, text, limits)
    }
}

/// Whether `text` is valid ASCII for `kind` within `limits`, in one pass. `false` means
/// "not shown valid": the precise check decides.
fn accepts_at_once(kind: SubjectKind, text: &[u8], limits: &SubjectLimits) -> bool {
    if text.is_empty() || text.len() > limits.max_len {
        return false;
    }
    let mut tokens = 1;
    let mut token_start = 0;
    for (i, &byte) in text.iter().enumerate() {
        if byte == b'.' {
            if kind == SubjectKind::QueueGroup
                || !token_accepted(kind, &text[token_start..i], false)
            {
                return false;
            }
            tokens += 1;
            token_start = i + 1;
        } else if !byte.is_ascii() || char::from(byte).is_whitespace() {
            return false;
        }
    }
    tokens <= limits.max_tokens && token_accepted(kind, &text[token_start..], true)
}

/// Whether one token is non-empty and, if a wildcard, allowed where it stands.
fn token_accepted(kind: SubjectKind, token: &[u8], last: bool) -> bool {
    match token {
        [] => false,
        b"*" => kind == SubjectKind::Filter,
        b">" => kind == SubjectKind::Filter && last,
        _ => true,
    }
}

/// Every rule in the documented order; the first failure is the error.
fn check_precisely(
    kind: SubjectKind,
    text: &str,
    limits: &SubjectLimits,
) -> Result<(), SubjectError> {
    if text.is_empty() {
        return Err(SubjectError::Empty { kind });
    }
    if text.len() > limits.max_len {
        return Err(SubjectError::TooLong {
            kind,
            len: text.len(),
            max: limits.max_len,
        });
    }
    if kind == SubjectKind::QueueGroup && text.contains('.') {
        return Err(SubjectError::NotSingleToken { text: text.into() });
    }
    let count = text.split('.').count();
    if count > limits.max_tokens {
        return Err(SubjectError::TooManyTokens {
            kind,
            text: text.into(),
            count,
            max: limits.max_tokens,
        });
    }
    for (index, token) in text.split('.').enumerate() {
        let position = index + 1;
        if token.is_empty() {
            return Err(SubjectError::EmptyToken {
                kind,
                text: text.into(),
                position,
            });
        }
        if token.chars().any(char::is_whitespace) {
            return Err(SubjectError::Whitespace {
                kind,
                text: text.into(),
                token: token.into(),
                position,
            });
        }
        let wildcard = match token {
            "*" => '*',
            ">" => '>',
            _ => continue,
        };
        if kind != SubjectKind::Filter {
            return Err(SubjectError::WildcardNotAllowed {
                kind,
                text: text.into(),
                wildcard,
                position,
            });
        }
        if wildcard == '>' && position != count {
            return Err(SubjectError::FullWildcardNotLast {
                text: text.into(),
                position,
                count,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const L: SubjectLimits = SubjectLimits::new(DEFAULT_MAX_SUBJECT_LEN, DEFAULT_MAX_TOKENS);

    #[test]
    fn accepts_nats_style_subjects() {
        for s in [
            "foo",
            "foo.bar",
            "a.b.c.d",
            "_INBOX.abc123.7",
            "foo*",
            "a>b.*x",
            "ünï.cødé",
        ] {
            assert_eq!(validate_subject(s, &L), Ok(()), "{s}");
            assert_eq!(validate_filter(s, &L), Ok(()), "{s}");
        }
        for f in ["*", ">", "foo.*", "foo.>", "*.bar.>", "*.*.*"] {
            assert_eq!(validate_filter(f, &L), Ok(()), "{f}");
        }
        for q in ["workers", "q-1", "a*b"] {
            assert_eq!(validate_queue_group(q, &L), Ok(()), "{q}");
        }
    }

    #[test]
    fn empty_tokens_are_named_by_position() {
        let e = validate_subject("a.b..c", &L).unwrap_err();
        assert_eq!(
            e,
            SubjectError::EmptyToken {
                kind: SubjectKind::Subject,
                text: "a.b..c".into(),
                position: 3
            }
        );
        assert_eq!(
            e.to_string(),
            "token 3 of subject \"a.b..c\" is empty (leading, trailing or doubled '.')"
        );
        assert!(matches!(
            validate_filter(".a", &L),
            Err(SubjectError::EmptyToken { position: 1, .. })
        ));
        assert!(matches!(
            validate_filter("a.", &L),
            Err(SubjectError::EmptyToken { position: 2, .. })
        ));
        assert_eq!(
            validate_subject("", &L),
            Err(SubjectError::Empty {
                kind: SubjectKind::Subject
            })
        );
    }

    #[test]
    fn whitespace_is_refused_anywhere() {
        for s in ["a b", "a.\tb", "a\n", "a.b\r.c", "a\u{a0}b"] {
            assert!(
                matches!(
                    validate_subject(s, &L),
                    Err(SubjectError::Whitespace { .. })
                ),
                "{s:?}"
            );
        }
        let e = validate_filter("x.a b", &L).unwrap_err();
        assert_eq!(
            e.to_string(),
            "token 2 (\"a b\") of filter \"x.a b\" contains whitespace"
        );
    }

    #[test]
    fn wildcards_only_in_filters_and_full_wildcard_last() {
        let e = validate_subject("a.*.b", &L).unwrap_err();
        assert_eq!(
            e,
            SubjectError::WildcardNotAllowed {
                kind: SubjectKind::Subject,
                text: "a.*.b".into(),
                wildcard: '*',
                position: 2
            }
        );
        assert!(matches!(
            validate_subject(">", &L),
            Err(SubjectError::WildcardNotAllowed { wildcard: '>', .. })
        ));
        let e = validate_filter("a.>.b", &L).unwrap_err();
        assert_eq!(
            e.to_string(),
            "wildcard '>' must be the last token, found at token 2 of 3 in filter \"a.>.b\""
        );
    }

    #[test]
    fn queue_groups_are_single_plain_tokens() {
        assert_eq!(
            validate_queue_group("a.b", &L),
            Err(SubjectError::NotSingleToken { text: "a.b".into() })
        );
        assert!(matches!(
            validate_queue_group("*", &L),
            Err(SubjectError::WildcardNotAllowed {
                kind: SubjectKind::QueueGroup,
                ..
            })
        ));
        assert!(matches!(
            validate_queue_group("my group", &L),
            Err(SubjectError::Whitespace { .. })
        ));
        assert!(matches!(
            validate_queue_group("", &L),
            Err(SubjectError::Empty { .. })
        ));
    }

    #[test]
    fn limits_bound_length_and_tokens() {
        let small = SubjectLimits::new(8, 3);
        assert_eq!(validate_subject("abcdefgh", &small), Ok(()));
        assert_eq!(
            validate_subject("abcdefghi", &small),
            Err(SubjectError::TooLong {
                kind: SubjectKind::Subject,
                len: 9,
                max: 8
            })
        );
        assert_eq!(validate_filter("a.b.>", &small), Ok(()));
        assert!(matches!(
            validate_filter("a.b.c.d", &small),
            Err(SubjectError::TooManyTokens {
                count: 4,
                max: 3,
                ..
            })
        ));
        // Length is counted in bytes.
        assert!(matches!(
            validate_subject("ééééé", &small),
            Err(SubjectError::TooLong { len: 10, .. })
        ));
        assert_eq!(SubjectLimits::default(), L);
    }

    #[test]
    fn matcher_follows_nats_semantics() {
        assert!(filter_matches("foo.bar", "foo.bar"));
        assert!(!filter_matches("foo.bar", "foo.baz"));
        assert!(filter_matches("foo.*", "foo.a"));
        assert!(!filter_matches("foo.*", "foo.a.b"));
        assert!(!filter_matches("foo.*", "foo"));
        assert!(filter_matches("foo.>", "foo.a"));
        assert!(filter_matches("foo.>", "foo.a.b"));
        assert!(!filter_matches("foo.>", "foo"));
        assert!(filter_matches(">", "x"));
        assert!(filter_matches("*.b.>", "a.b.c.d"));
        assert!(!filter_matches("*.b.>", "a.c.c.d"));
        // A wildcard character inside a token is a literal.
        assert!(filter_matches("foo*", "foo*"));
        assert!(!filter_matches("foo*", "foox"));
        assert!(!filter_matches("foo.bar", "foo"));
        assert!(has_wildcards("a.*") && has_wildcards(">") && !has_wildcards("a*.b>"));
    }

    /// Text made of tokens that matter to the rules (wildcards alone and inside a token, empty
    /// tokens, ASCII and Unicode whitespace, other non-ASCII), joined by `.`.
    fn subject_text() -> impl Strategy<Value = String> {
        let token = prop_oneof![
            6 => "[a-d]{1,3}",
            2 => Just("*".to_owned()),
            2 => Just(">".to_owned()),
            1 => Just(String::new()),
            1 => Just("a*".to_owned()),
            1 => Just(">b".to_owned()),
            1 => Just("a b".to_owned()),
            1 => Just("\t".to_owned()),
            1 => Just("x\u{0b}".to_owned()),
            1 => Just("\u{85}".to_owned()),
            1 => Just("\u{3000}y".to_owned()),
            1 => Just("é".to_owned()),
        ];
        proptest::collection::vec(token, 1..6).prop_map(|tokens| tokens.join("."))
    }

    proptest! {
        /// The one-pass check never accepts what the precise check refuses, and on ASCII text
        /// it decides exactly as the precise check does.
        #[test]
        fn the_fast_path_agrees_with_the_precise_check(
            text in subject_text(),
            max_len in 0usize..24,
            max_tokens in 1usize..6,
        ) {
            let limits = SubjectLimits::new(max_len, max_tokens);
            for kind in [SubjectKind::Subject, SubjectKind::Filter, SubjectKind::QueueGroup] {
                let fast = accepts_at_once(kind, text.as_bytes(), &limits);
                let precise = check_precisely(kind, &text, &limits);
                if fast {
                    prop_assert_eq!(&precise, &Ok(()), "{:?} {:?}", kind, text);
                }
                if text.is_ascii() {
                    prop_assert_eq!(fast, precise.is_ok(), "{:?} {:?}", kind, text);
                }
                prop_assert_eq!(check(kind, &text, &limits), precise);
            }
        }
    }
}
