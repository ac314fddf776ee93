//! This crate's channel types, as the shared drivers of `kcpq_core::adapter` take them.

use async_channel::Sender;
use bytes::Bytes;
use kcpq_core::adapter::{Channels, TaskWaker};

/// Answers and events on `async-channel`s (any executor), `Bytes` payloads, readers woken
/// through their task's waker.
#[derive(Debug)]
pub(crate) struct Async;

impl Channels for Async {
    type Reply<T: Send + 'static> = Sender<T>;
    type Events<T: Send + 'static> = Sender<T>;
    type Payload = Bytes;
    type Wake = TaskWaker;

    fn answer<T: Send + 'static>(reply: Sender<T>, value: T) -> bool {
        reply.try_send(value).is_ok()
    }

    fn emit<T: Send + 'static>(events: &Sender<T>, event: T) {
        if events.try_send(event).is_err() {
            log::debug!("event dropped: nobody reads events() or its queue is full");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kcpq_core::adapter::ClientCommand;

    #[test]
    fn a_client_command_fits_in_72_bytes() {
        // Every slot of every client's command queue is this big (see `ClientCommand`); it was
        // 112 bytes when publishes and subscriptions were stored inline.
        let size = std::mem::size_of::<ClientCommand<Async>>();
        assert!(size <= 72, "ClientCommand is {size} bytes");
    }
}
