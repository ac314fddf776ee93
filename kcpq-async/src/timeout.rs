//! Bounding a future in time.

use std::future::Future;
use std::time::Duration;

use futures_lite::future;

use crate::runtime::Runtime;

/// The time given to [`with_timeout`] passed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("timed out")]
pub struct Elapsed;

/// Runs `fut` for at most `duration` on runtime `R`'s timers; dropping the returned future
/// cancels `fut`.
pub async fn with_timeout<R: Runtime, T>(
    duration: Duration,
    fut: impl Future<Output = T>,
) -> Result<T, Elapsed> {
    future::or(async { Ok(fut.await) }, async {
        R::sleep(duration).await;
        Err(Elapsed)
    })
    .await
}
