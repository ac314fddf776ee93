//! Subject mapping: a route's filter (`telemetry.*.>`) and its target (`edge1.telemetry.*.>`).
//!
//! The rule: the target holds the same wildcards as the filter, in the same order. The tokens a
//! `*` of the filter matched fill the target's `*`s in order, and the tokens `>` matched fill the
//! target's `>`. Literal tokens are free on both sides. A target without wildcards is allowed
//! only for a filter without wildcards.

/// Why a filter and a target do not form a mapping.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MappingError {
    /// A subject or filter is malformed (empty token, `>` not last, wildcard inside a token).
    #[error("invalid subject {subject:?}: {reason}")]
    Invalid {
        /// The subject.
        subject: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The target's wildcards differ from the filter's.
    #[error(
        "the target {target:?} must hold the same wildcards as the filter {filter:?}, in the same order"
    )]
    Wildcards {
        /// The filter.
        filter: String,
        /// The target.
        target: String,
    },
}

/// One token of a filter or target.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(String),
    One,
    Rest,
}

fn parse(subject: &str) -> Result<Vec<Token>, MappingError> {
    let invalid = |reason| MappingError::Invalid {
        subject: subject.to_owned(),
        reason,
    };
    if subject.is_empty() {
        return Err(invalid("empty"));
    }
    let parts: Vec<&str> = subject.split('.').collect();
    let last = parts.len() - 1;
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| match *part {
            "" => Err(invalid("empty token")),
            "*" => Ok(Token::One),
            ">" if i == last => Ok(Token::Rest),
            ">" => Err(invalid("`>` must be the last token")),
            p if p.contains(['*', '>', ' ', '\t', '\r', '\n']) => {
                Err(invalid("wildcard or white space inside a token"))
            }
            p => Ok(Token::Literal(p.to_owned())),
        })
        .collect()
}

/// A filter and the target its matches map to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectMap {
    filter: String,
    from: Vec<Token>,
    to: Vec<Token>,
}

impl SubjectMap {
    /// Checks that `target` holds the same wildcards as `filter`, in the same order.
    pub fn new(filter: &str, target: &str) -> Result<SubjectMap, MappingError> {
        let from = parse(filter)?;
        let to = parse(target)?;
        let wildcards = |tokens: &[Token]| {
            tokens
                .iter()
                .filter(|t| !matches!(t, Token::Literal(_)))
                .cloned()
                .collect::<Vec<_>>()
        };
        if wildcards(&from) != wildcards(&to) {
            return Err(MappingError::Wildcards {
                filter: filter.to_owned(),
                target: target.to_owned(),
            });
        }
        Ok(SubjectMap {
            filter: filter.to_owned(),
            from,
            to,
        })
    }

    /// The filter, as given.
    pub fn filter(&self) -> &str {
        &self.filter
    }

    /// The target subject for `subject`, or `None` if `subject` does not match the filter.
    pub fn map(&self, subject: &str) -> Option<String> {
        let tokens: Vec<&str> = subject.split('.').collect();
        let mut ones = Vec::new();
        let mut rest = None;
        for (i, token) in self.from.iter().enumerate() {
            match token {
                Token::Rest => {
                    if tokens.len() <= i {
                        return None;
                    }
                    rest = Some(tokens[i..].join("."));
                    break;
                }
                Token::One => ones.push(*tokens.get(i)?),
                Token::Literal(literal) => {
                    if tokens.get(i) != Some(&literal.as_str()) {
                        return None;
                    }
                }
            }
        }
        if rest.is_none() && tokens.len() != self.from.len() {
            return None;
        }
        if tokens.iter().any(|t| t.is_empty()) {
            return None;
        }
        let mut ones = ones.into_iter();
        let mut out = Vec::with_capacity(self.to.len());
        for token in &self.to {
            match token {
                Token::Literal(literal) => out.push(literal.clone()),
                Token::One => out.push(ones.next()?.to_owned()),
                Token::Rest => out.push(rest.clone()?),
            }
        }
        Some(out.join("."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_and_single_tokens_map_in_order() {
        let map = SubjectMap::new("telemetry.>", "edge1.telemetry.>").expect("valid");
        assert_eq!(
            map.map("telemetry.cpu.load").as_deref(),
            Some("edge1.telemetry.cpu.load")
        );
        assert_eq!(map.map("telemetry"), None);
        assert_eq!(map.map("other.cpu"), None);

        let map = SubjectMap::new("a.*.b.*", "x.*.*.y").expect("valid");
        assert_eq!(map.map("a.1.b.2").as_deref(), Some("x.1.2.y"));
        assert_eq!(map.map("a.1.c.2"), None);
        assert_eq!(map.map("a.1.b.2.3"), None);

        let map = SubjectMap::new("cmd", "edge1.cmd").expect("valid");
        assert_eq!(map.map("cmd").as_deref(), Some("edge1.cmd"));
        assert_eq!(map.map("cmd.x"), None);
    }

    #[test]
    fn mismatched_wildcards_and_bad_subjects_are_refused() {
        assert!(matches!(
            SubjectMap::new("a.>", "b.*"),
            Err(MappingError::Wildcards { .. })
        ));
        assert!(matches!(
            SubjectMap::new("a.*", "b"),
            Err(MappingError::Wildcards { .. })
        ));
        assert!(matches!(
            SubjectMap::new("a.>.b", "a.>.b"),
            Err(MappingError::Invalid { .. })
        ));
        assert!(matches!(
            SubjectMap::new("a..b", "a.b"),
            Err(MappingError::Invalid { .. })
        ));
        assert!(matches!(
            SubjectMap::new("a.b*", "a.b"),
            Err(MappingError::Invalid { .. })
        ));
    }
}
