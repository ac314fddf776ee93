//! The checks a publish must pass, in one place: the core client applies them, and an adapter
//! applies them on the caller's side too, so that the caller gets the error at once.

use super::events::PublishError;
use crate::subject::{SubjectLimits, validate_subject};

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
