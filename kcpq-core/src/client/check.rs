//! The checks a publish must pass, in one place: the core client applies them, and an adapter
//! applies them on the caller's side too, so that the caller gets the error at once.

use super::events::PublishError;
use crate::subject::{SubjectError, SubjectLimits, validate_subject};

/// Checks a publish to `subject` (with `reply`, an encoded `headers` block and a payload of
/// `payload_len` bytes) against the subject `limits` and the server's `max_payload`, which
/// counts headers and payload together.
pub fn check_publish(
    limits: &SubjectLimits,
    max_payload: usize,
    subject: &str,
    reply: Option<&str>,
    headers: Option<&[u8]>,
    payload_len: usize,
) -> Result<(), PublishError> {
    validate_subject(subject, limits)?;
    check_reply_and_size(limits, max_payload, reply, headers, payload_len)
}

/// [`check_publish`] but the subject.
pub(super) fn check_reply_and_size(
    limits: &SubjectLimits,
    max_payload: usize,
    reply: Option<&str>,
    headers: Option<&[u8]>,
    payload_len: usize,
) -> Result<(), PublishError> {
    if let Some(r) = reply {
        validate_subject(r, limits)?;
    }
    let size = payload_len + headers.map_or(0, <[u8]>::len);
    if size > max_payload {
        return Err(PublishError::PayloadTooLarge {
            size,
            max: max_payload,
        });
    }
    Ok(())
}

/// The subject the client's last publish passed [`validate_subject`] with: a stream of
/// publishes on one subject is checked once, not once per message (an adapter has checked it
/// on the caller's side already). Holds one subject, at most `max_len` bytes.
#[derive(Debug, Default)]
pub(super) struct LastValidSubject(String);

impl LastValidSubject {
    /// Checks `subject` unless it is the last one that passed.
    pub(super) fn check(
        &mut self,
        subject: &str,
        limits: &SubjectLimits,
    ) -> Result<(), SubjectError> {
        if !self.0.is_empty() && self.0 == subject {
            return Ok(());
        }
        validate_subject(subject, limits)?;
        self.0.clear();
        self.0.push_str(subject);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_valid_subject_passes_again_and_anything_else_is_checked() {
        let limits = SubjectLimits::default();
        let mut last = LastValidSubject::default();
        assert!(
            last.check("", &limits).is_err(),
            "the empty start is no valid subject"
        );
        assert_eq!(last.check("a.b", &limits), Ok(()));
        assert_eq!(last.check("a.b", &limits), Ok(()));
        assert!(last.check("a.*", &limits).is_err());
        assert!(last.check("a..b", &limits).is_err());
        assert_eq!(
            last.check("a.b", &limits),
            Ok(()),
            "a refused one replaced nothing"
        );
        assert_eq!(last.check("c", &limits), Ok(()));
        assert!(last.check("", &limits).is_err());
    }
}
