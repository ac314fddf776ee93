//! A received message, as the async API hands it out: kcpq-core's, the same in every adapter,
//! its payload in `Bytes`.

use bytes::Bytes;

/// A message received on a subscription or as the reply to a request.
pub type Message = kcpq_core::adapter::Message<Bytes>;
