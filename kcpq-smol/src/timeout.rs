//! Bounding a future in time.

use std::future::Future;
use std::time::Duration;

use async_io::Timer;
use futures_lite::future;

/// The time given to [`with_timeout`] passed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("timed out")]
pub struct Elapsed;

/// Runs `fut` for at most `duration`; dropping the returned future cancels `fut`.
pub async fn with_timeout<T>(
    duration: Duration,
    fut: impl Future<Output = T>,
) -> Result<T, Elapsed> {
    future::or(async { Ok(fut.await) }, async {
        Timer::after(duration).await;
        Err(Elapsed)
    })
    .await
}
