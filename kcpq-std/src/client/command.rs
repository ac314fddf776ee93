//! What client handles ask of the I/O thread.

use std::sync::Arc;
use std::time::Duration;

use kcpq_core::client::Sid;

use super::Event;
use super::error::{FlushError, RequestError, SubscribeError};
use crate::link::{Deadline, Link, LinkError, Reply};
use crate::message::Message;
use crate::subscription::{Control, Inbox};

/// One API call, carried to the I/O thread.
#[derive(Debug)]
pub(crate) enum Command {
    /// An event found outside the I/O thread (a callback that ran too long), for `events()`.
    Emit(Box<Event>),
    /// `Client::publish` and friends (fire and forget).
    Publish {
        subject: String,
        reply: Option<String>,
        headers: Option<Vec<u8>>,
        payload: Vec<u8>,
    },
    /// `Client::subscribe`; answered once the server confirmed.
    Subscribe {
        filter: String,
        options: kcpq_core::client::SubscribeOptions,
        inbox: Arc<Inbox>,
        reply: Reply<Result<Sid, SubscribeError>>,
    },
    /// `Subscription::unsubscribe` (now, or after a count).
    Unsubscribe { sid: Sid, after: Option<u64> },
    /// `Client::request`; answered with the reply or the failure.
    Request {
        subject: String,
        headers: Option<Vec<u8>>,
        payload: Vec<u8>,
        timeout: Duration,
        reply: Reply<Result<Message, RequestError>>,
    },
    /// `Client::flush`; answered after the server's round trip.
    Flush {
        timeout: Duration,
        reply: Reply<Result<(), FlushError>>,
    },
    /// `Client::close`; answered once the session has ended.
    Close { reply: Option<Reply<()>> },
    /// The last `Client` handle was dropped: close, and report once the CLOSE is sent.
    Dropped {
        sent: std::sync::mpsc::SyncSender<()>,
    },
    /// `Client::drain`; answered once the session has ended.
    Drain { timeout: Duration, reply: Reply<()> },
}

/// A client's subscriptions ask its I/O thread through its command link.
impl Control for Link<Command> {
    fn unsubscribe(
        &self,
        sid: Sid,
        after: Option<u64>,
        deadline: Deadline,
    ) -> Result<(), LinkError> {
        self.send(Command::Unsubscribe { sid, after }, deadline)
    }

    fn try_unsubscribe(&self, sid: Sid) {
        let _ = self.try_send(Command::Unsubscribe { sid, after: None });
    }

    fn try_emit(&self, event: Event) {
        let _ = self.try_send(Command::Emit(Box::new(event)));
    }
}
