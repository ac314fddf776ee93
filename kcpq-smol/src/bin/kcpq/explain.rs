//! Error messages that say what failed and what to do, for the operations after the connect.

use kcpq_smol::core::client::{PublishError as Refusal, SubscribeError as Invalid};
use kcpq_smol::{FlushError, PublishError, RequestError, SubscribeError};

/// A publish (or the reply `kcpq reply` sends) to `subject` failed.
pub(crate) fn publish(error: &PublishError, subject: &str) -> String {
    match error {
        PublishError::Invalid(refusal) => refused(refusal, "publish to", subject),
        other => format!("cannot publish to {subject}: {other}"),
    }
}

/// A request to `subject` failed.
pub(crate) fn request(error: &RequestError, subject: &str) -> String {
    match error {
        RequestError::Invalid(refusal) => refused(refusal, "send a request to", subject),
        RequestError::NoResponders => format!(
            "no responders: nobody subscribes to {subject}; start one, e.g. kcpq reply {subject} \
             --command PROG"
        ),
        RequestError::TimedOut(timeout) => format!(
            "no reply on {subject} within {timeout:?}: the responder is slow or gone; raise \
             --timeout to wait longer"
        ),
        other => format!("the request to {subject} failed: {other}"),
    }
}

/// A subscription to `filter` failed.
pub(crate) fn subscribe(error: &SubscribeError, filter: &str) -> String {
    match error {
        SubscribeError::Invalid(Invalid::InvalidSubject(e)) => format!(
            "cannot subscribe: {e}; a filter is dot-separated tokens such as orders.new, \
             orders.* or orders.>"
        ),
        other => format!("cannot subscribe to {filter}: {other}"),
    }
}

/// The final flush failed: what was published may not have reached the server.
pub(crate) fn flush(error: &FlushError) -> String {
    format!(
        "the server did not confirm what was sent ({error}); it may not have arrived: check the \
         server and try again"
    )
}

fn refused(refusal: &Refusal, action: &str, subject: &str) -> String {
    match refusal {
        Refusal::InvalidSubject(e) => format!(
            "cannot {action} {subject:?}: {e}; a subject is dot-separated tokens such as \
             orders.new, without spaces or wildcards"
        ),
        Refusal::PayloadTooLarge { size, max } => format!(
            "cannot {action} {subject}: the payload is too big: {size} bytes (headers \
             included), the server accepts at most {max}; send less, or raise the server's \
             limit (kcpq-server --max-payload)"
        ),
        Refusal::InvalidHeaders(e) => format!("cannot {action} {subject}: {e}"),
        other => format!("cannot {action} {subject}: {other}"),
    }
}
