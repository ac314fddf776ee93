//! The errors of each client operation: kcpq-core's, the same in every adapter.

pub use kcpq_core::adapter::{
    CloseError, ClosedError, ConnectError, DrainError, FlushError, PublishError, RequestError,
    SubscribeError, UnsubscribeError,
};
