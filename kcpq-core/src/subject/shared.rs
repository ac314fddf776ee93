//! [`Subject`]: the subject of a received message, shared instead of copied.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// The subject of a received message: an immutable string that clones without copying its bytes
/// (as async-nats's `Subject` does).
///
/// A client keeps the last subject each of its subscriptions received, so a stream of messages
/// on one subject shares one allocation instead of making one per message. Read it as a `&str`
/// (it dereferences to one, and compares with `&str` and `String`); turn it into a `String` with
/// `String::from` or [`ToString`].
///
/// ```
/// use kcpq_core::Subject;
///
/// let subject = Subject::from("sensors.temp");
/// assert_eq!(subject, "sensors.temp");
/// assert!(subject.starts_with("sensors."));
/// let copy = subject.clone(); // no bytes copied
/// assert_eq!(String::from(copy), "sensors.temp");
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Subject(Arc<str>);

impl Subject {
    /// The subject as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// This subject if it is `text`, else a new one holding `text`: how a subscription reuses
    /// the subject its previous message carried.
    pub(crate) fn reuse_or_new(last: &mut Option<Subject>, text: &str) -> Subject {
        match last {
            Some(subject) if subject.as_str() == text => subject.clone(),
            _ => last.insert(Subject::from(text)).clone(),
        }
    }
}

impl Deref for Subject {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Subject {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<[u8]> for Subject {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl Borrow<str> for Subject {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl fmt::Debug for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl From<&str> for Subject {
    fn from(text: &str) -> Subject {
        Subject(Arc::from(text))
    }
}

impl From<String> for Subject {
    fn from(text: String) -> Subject {
        Subject(Arc::from(text))
    }
}

impl From<&String> for Subject {
    fn from(text: &String) -> Subject {
        Subject::from(text.as_str())
    }
}

impl From<Subject> for String {
    fn from(subject: Subject) -> String {
        subject.0.as_ref().to_owned()
    }
}

impl PartialEq<str> for Subject {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Subject {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for Subject {
    fn eq(&self, other: &String) -> bool {
        &*self.0 == other.as_str()
    }
}

impl PartialEq<Subject> for str {
    fn eq(&self, other: &Subject) -> bool {
        self == &*other.0
    }
}

impl PartialEq<Subject> for &str {
    fn eq(&self, other: &Subject) -> bool {
        *self == &*other.0
    }
}

impl PartialEq<Subject> for String {
    fn eq(&self, other: &Subject) -> bool {
        self.as_str() == &*other.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_subject_shares_the_last_one_and_a_new_one_replaces_it() {
        let mut last = None;
        let first = Subject::reuse_or_new(&mut last, "a.b");
        let again = Subject::reuse_or_new(&mut last, "a.b");
        assert!(
            Arc::ptr_eq(&first.0, &again.0),
            "the same subject is shared"
        );
        let other = Subject::reuse_or_new(&mut last, "a.c");
        assert_eq!(other, "a.c");
        assert!(!Arc::ptr_eq(&first.0, &other.0));
        assert_eq!(last.as_ref().map(Subject::as_str), Some("a.c"));
        assert_eq!(first, "a.b", "earlier messages keep their subject");
    }

    #[test]
    fn it_reads_compares_and_converts_as_a_string() {
        let subject = Subject::from(String::from("x.y"));
        assert_eq!(subject, "x.y");
        assert_eq!("x.y", subject);
        assert_eq!(subject, String::from("x.y"));
        assert_eq!(String::from("x.y"), subject);
        assert_eq!(subject.len(), 3);
        assert_eq!(subject.to_string(), "x.y");
        assert_eq!(format!("{subject:?}"), "\"x.y\"");
        assert_eq!(String::from(subject.clone()), "x.y");
        let set: std::collections::HashSet<Subject> = [subject].into_iter().collect();
        assert!(set.contains("x.y"), "looked up by &str");
    }
}
