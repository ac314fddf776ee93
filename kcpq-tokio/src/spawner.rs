//! Where kcpq-tokio runs the tasks it starts: a client's or a server's driver, and the task
//! behind [`Client::subscribe_callback`](crate::Client::subscribe_callback).

use std::future::Future;

use tokio::runtime::Handle;
use tokio::task::JoinHandle;

/// The tokio runtime kcpq-tokio spawns its background tasks on.
///
/// Every datagram and every API call passes through the driver task. On a current-thread
/// runtime, driver and caller share the thread and a message costs no thread switch; on a
/// multi-thread runtime the driver may run on another worker, which spreads many clients over
/// cores at the price of cross-thread wake-ups.
///
/// ```no_run
/// # fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use kcpq_tokio::{Client, ClientOptions, Spawner, core::crypto::KeySet};
///
/// let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// let mut options = ClientOptions::new("127.0.0.1:4000".parse()?, KeySet::from_env()?);
/// options.spawner = Spawner::Handle(runtime.handle().clone());
/// runtime.block_on(async {
///     let client = Client::connect_with(options).await?;
///     client.publish("sensors.temp", "21.5").await?;
///     client.close().await;
///     Ok::<_, Box<dyn std::error::Error>>(())
/// })?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub enum Spawner {
    /// The runtime the calling task runs on (`tokio::spawn`): connect, bind and spawn from
    /// within it.
    #[default]
    Current,
    /// The runtime behind this handle.
    Handle(Handle),
}

impl Spawner {
    /// Starts `future` on this spawner's runtime.
    ///
    /// # Panics
    ///
    /// With [`Spawner::Current`], outside a tokio runtime (as `tokio::spawn` does).
    pub fn spawn<T: Send + 'static>(
        &self,
        future: impl Future<Output = T> + Send + 'static,
    ) -> JoinHandle<T> {
        match self {
            Spawner::Current => tokio::spawn(future),
            Spawner::Handle(handle) => handle.spawn(future),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handle_spawner_runs_its_tasks_on_that_runtime() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let spawner = Spawner::Handle(runtime.handle().clone());
        let task = spawner.spawn(async { 7 });
        assert_eq!(runtime.block_on(task).expect("the task ran"), 7);
    }

    #[test]
    fn the_default_spawns_on_the_current_runtime() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let value = runtime.block_on(async { Spawner::default().spawn(async { 3 }).await });
        assert_eq!(value.expect("the task ran"), 3);
    }
}
