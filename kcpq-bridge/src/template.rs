//! Name templates of the Kafka routes: a Kafka topic made from KCPQ subject tokens
//! (`telemetry-{2}`), and a KCPQ subject made from a Kafka topic and key (`edge1.{topic}.{key}`).
//!
//! The literal parts of a template are checked when the configuration loads; what the
//! placeholders bring in is checked for each message, and a name it makes invalid is a
//! [`NameError`] (the message is counted as `invalid` and skipped).

/// Longest Kafka topic name.
pub const MAX_TOPIC_LEN: usize = 249;

/// Why a template is refused when the configuration loads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// A `{` without its `}`, or a `}` alone.
    #[error("template {0:?}: unbalanced braces")]
    Braces(String),
    /// A placeholder this kind of template does not know.
    #[error("template {template:?}: unknown placeholder {{{name}}} (allowed: {allowed})")]
    Placeholder {
        /// The template.
        template: String,
        /// The placeholder's name.
        name: String,
        /// The placeholders allowed.
        allowed: &'static str,
    },
    /// A literal part holds characters the name may not hold.
    #[error("template {template:?}: {reason}")]
    Literal {
        /// The template.
        template: String,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Why a template gave no valid name for one message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The subject has fewer tokens than a placeholder asks for.
    #[error("the subject has no token {0}")]
    MissingToken(usize),
    /// The record has no key, or a key that is not UTF-8, and the template uses it.
    #[error("the record has no UTF-8 key")]
    NoKey,
    /// The name is empty, too long or holds characters the other side refuses.
    #[error("{0:?} is not a valid name")]
    Invalid(String),
}

/// One part of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Placeholder(String),
}

fn parse(template: &str) -> Result<Vec<Part>, TemplateError> {
    let mut parts = Vec::new();
    let mut rest = template;
    while !rest.is_empty() {
        match rest.find(['{', '}']) {
            None => {
                parts.push(Part::Literal(rest.to_owned()));
                break;
            }
            Some(at) if rest.as_bytes()[at] == b'}' => {
                return Err(TemplateError::Braces(template.to_owned()));
            }
            Some(at) => {
                if at > 0 {
                    parts.push(Part::Literal(rest[..at].to_owned()));
                }
                let close = rest[at..]
                    .find('}')
                    .ok_or_else(|| TemplateError::Braces(template.to_owned()))?;
                let name = &rest[at + 1..at + close];
                if name.contains('{') {
                    return Err(TemplateError::Braces(template.to_owned()));
                }
                parts.push(Part::Placeholder(name.to_owned()));
                rest = &rest[at + close + 1..];
            }
        }
    }
    Ok(parts)
}

/// Whether `c` may appear in a Kafka topic name.
fn topic_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// Whether `name` is a valid Kafka topic name: 1 to 249 of `[A-Za-z0-9._-]`, not `.` or `..`.
pub fn valid_topic(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_TOPIC_LEN
        && name != "."
        && name != ".."
        && name.chars().all(topic_char)
}

/// Whether `subject` is a plain KCPQ subject: non-empty tokens without white space, control
/// characters or wildcards. (The KCPQ client checks its own limits, such as the length, too.)
pub fn valid_subject(subject: &str) -> bool {
    !subject.is_empty()
        && subject.split('.').all(|token| {
            !token.is_empty()
                && !token
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == '*' || c == '>')
        })
}

/// One part of a [`TopicTemplate`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum TopicPart {
    Literal(String),
    /// The n-th token of the subject, from 1.
    Token(usize),
}

/// A Kafka topic made from a KCPQ subject: literal text and `{N}` placeholders, each replaced by
/// the N-th token (from 1) of the subject (`telemetry-{2}` maps `telemetry.cpu.load` to
/// `telemetry-cpu`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicTemplate {
    parts: Vec<TopicPart>,
}

impl TopicTemplate {
    /// Parses `template`: literal parts may hold only `[A-Za-z0-9._-]`.
    pub fn new(template: &str) -> Result<TopicTemplate, TemplateError> {
        let parts = parse(template)?
            .into_iter()
            .map(|part| match part {
                Part::Literal(text) if text.chars().all(topic_char) => Ok(TopicPart::Literal(text)),
                Part::Literal(_) => Err(TemplateError::Literal {
                    template: template.to_owned(),
                    reason: "a Kafka topic holds only A-Z, a-z, 0-9, '.', '_' and '-'",
                }),
                Part::Placeholder(name) => match name.parse::<usize>() {
                    Ok(n) if n >= 1 => Ok(TopicPart::Token(n)),
                    _ => Err(TemplateError::Placeholder {
                        template: template.to_owned(),
                        name,
                        allowed: "{1}, {2}, ...: a token of the subject",
                    }),
                },
            })
            .collect::<Result<Vec<_>, _>>()?;
        if parts.is_empty() {
            return Err(TemplateError::Literal {
                template: template.to_owned(),
                reason: "empty",
            });
        }
        Ok(TopicTemplate { parts })
    }

    /// The topic for `subject`.
    pub fn render(&self, subject: &str) -> Result<String, NameError> {
        let mut topic = String::new();
        for part in &self.parts {
            match part {
                TopicPart::Literal(text) => topic.push_str(text),
                TopicPart::Token(n) => topic.push_str(token(subject, *n)?),
            }
        }
        if valid_topic(&topic) {
            Ok(topic)
        } else {
            Err(NameError::Invalid(topic))
        }
    }
}

/// The `n`-th token (from 1) of `subject`.
pub fn token(subject: &str, n: usize) -> Result<&str, NameError> {
    subject
        .split('.')
        .nth(n.wrapping_sub(1))
        .ok_or(NameError::MissingToken(n))
}

/// One part of a [`SubjectTemplate`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum SubjectPart {
    Literal(String),
    Topic,
    Key,
}

/// A KCPQ subject made from a Kafka record: literal text, `{topic}` (the record's topic) and
/// `{key}` (its key, which must then be UTF-8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectTemplate {
    parts: Vec<SubjectPart>,
}

impl SubjectTemplate {
    /// Parses `template`: literal parts may not hold white space or wildcards.
    pub fn new(template: &str) -> Result<SubjectTemplate, TemplateError> {
        let parts = parse(template)?
            .into_iter()
            .map(|part| match part {
                Part::Literal(text)
                    if !text
                        .chars()
                        .any(|c| c.is_whitespace() || c.is_control() || c == '*' || c == '>') =>
                {
                    Ok(SubjectPart::Literal(text))
                }
                Part::Literal(_) => Err(TemplateError::Literal {
                    template: template.to_owned(),
                    reason: "a subject template may not hold white space or wildcards",
                }),
                Part::Placeholder(name) if name == "topic" => Ok(SubjectPart::Topic),
                Part::Placeholder(name) if name == "key" => Ok(SubjectPart::Key),
                Part::Placeholder(name) => Err(TemplateError::Placeholder {
                    template: template.to_owned(),
                    name,
                    allowed: "{topic}, {key}",
                }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let plain = parts.iter().all(|p| matches!(p, SubjectPart::Literal(_)));
        if plain && !valid_subject(template) {
            return Err(TemplateError::Literal {
                template: template.to_owned(),
                reason: "not a valid subject",
            });
        }
        Ok(SubjectTemplate { parts })
    }

    /// The subject for a record of `topic` with `key`.
    pub fn render(&self, topic: &str, key: Option<&[u8]>) -> Result<String, NameError> {
        let mut subject = String::new();
        for part in &self.parts {
            match part {
                SubjectPart::Literal(text) => subject.push_str(text),
                SubjectPart::Topic => subject.push_str(topic),
                SubjectPart::Key => {
                    let key = key
                        .and_then(|k| std::str::from_utf8(k).ok())
                        .ok_or(NameError::NoKey)?;
                    subject.push_str(key);
                }
            }
        }
        if valid_subject(&subject) {
            Ok(subject)
        } else {
            Err(NameError::Invalid(subject))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_templates_take_subject_tokens() {
        let template = TopicTemplate::new("telemetry-{2}").expect("valid");
        assert_eq!(
            template.render("telemetry.cpu.load").as_deref(),
            Ok("telemetry-cpu")
        );
        assert_eq!(
            template.render("telemetry"),
            Err(NameError::MissingToken(2))
        );
        assert_eq!(
            template.render("telemetry.a:b"),
            Err(NameError::Invalid("telemetry-a:b".into()))
        );
        let long = format!("t.{}", "x".repeat(MAX_TOPIC_LEN + 1));
        assert!(matches!(
            TopicTemplate::new("{2}").expect("valid").render(&long),
            Err(NameError::Invalid(_))
        ));
        assert_eq!(
            TopicTemplate::new("plain")
                .expect("valid")
                .render("any.thing"),
            Ok("plain".into())
        );
    }

    #[test]
    fn bad_topic_templates_are_refused() {
        assert!(matches!(
            TopicTemplate::new("a b"),
            Err(TemplateError::Literal { .. })
        ));
        assert!(matches!(
            TopicTemplate::new("a-{0}"),
            Err(TemplateError::Placeholder { .. })
        ));
        assert!(matches!(
            TopicTemplate::new("a-{x}"),
            Err(TemplateError::Placeholder { .. })
        ));
        assert!(matches!(
            TopicTemplate::new("a-{1"),
            Err(TemplateError::Braces(_))
        ));
        assert!(matches!(
            TopicTemplate::new("a}"),
            Err(TemplateError::Braces(_))
        ));
        assert!(TopicTemplate::new("").is_err());
    }

    #[test]
    fn subject_templates_take_topic_and_key() {
        let template = SubjectTemplate::new("edge1.{topic}.{key}").expect("valid");
        assert_eq!(
            template.render("cmd", Some(b"dev7")).as_deref(),
            Ok("edge1.cmd.dev7")
        );
        assert_eq!(template.render("cmd", None), Err(NameError::NoKey));
        assert_eq!(template.render("cmd", Some(&[0xff])), Err(NameError::NoKey));
        assert_eq!(
            template.render("cmd", Some(b"a b")),
            Err(NameError::Invalid("edge1.cmd.a b".into()))
        );
        assert_eq!(
            template.render("a..b", Some(b"k")),
            Err(NameError::Invalid("edge1.a..b.k".into()))
        );
        assert!(matches!(
            SubjectTemplate::new("a.*"),
            Err(TemplateError::Literal { .. })
        ));
        assert!(matches!(
            SubjectTemplate::new("a.{partition}"),
            Err(TemplateError::Placeholder { .. })
        ));
        assert!(SubjectTemplate::new("a..b").is_err());
    }
}
