//! Where kcpq-smol runs the tasks it starts: a client's or a server's driver, and the task behind
//! [`Client::subscribe_callback`](crate::Client::subscribe_callback).

use std::future::Future;
use std::sync::Arc;

use smol::{Executor, Task};

/// The executor kcpq-smol spawns its background tasks on.
///
/// Every datagram and every API call passes through the driver task, so where it runs decides
/// how many threads take part in one round trip:
///
/// - [`Spawner::Global`] (the default) is smol's global executor, which runs on threads of its
///   own (`SMOL_THREADS`, 1 unless set). Nothing to set up, but a task awaiting the client on
///   another thread (the one in `smol::block_on`, say) is woken across threads at every step,
///   and the threads take turns polling the socket: each message costs several wake-ups of
///   sleeping threads.
/// - [`Spawner::Executor`] is an executor the caller runs, typically on the thread that also
///   uses the client: `async_io::block_on(executor.run(main))`. Driver and caller then share one
///   thread, which also polls the sockets while it waits, so a message costs no thread switch
///   at all. Run the same executor on more threads (`executor.run` on each) to spread many
///   clients over cores. In `kcpq-bench latency` on a 2-vCPU VM, this took the futex calls per
///   round trip from 13 to under 1 and the p90 round trip from about 430 µs to 300 µs.
///
/// ```no_run
/// # fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use kcpq_smol::{Client, ClientOptions, Spawner, core::crypto::KeySet};
///
/// let executor = Arc::new(smol::Executor::new());
/// let mut options = ClientOptions::new("127.0.0.1:4000".parse()?, KeySet::from_env()?);
/// options.spawner = Spawner::Executor(executor.clone());
/// async_io::block_on(executor.run(async {
///     let client = Client::connect_with(options).await?;
///     client.publish("sensors.temp", "21.5").await?;
///     client.close().await;
///     Ok::<_, Box<dyn std::error::Error>>(())
/// }))?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub enum Spawner {
    /// smol's global executor (`smol::spawn`).
    #[default]
    Global,
    /// An executor the caller runs.
    Executor(Arc<Executor<'static>>),
}

impl Spawner {
    /// Starts `future` on this spawner's executor.
    pub fn spawn<T: Send + 'static>(
        &self,
        future: impl Future<Output = T> + Send + 'static,
    ) -> Task<T> {
        match self {
            Spawner::Global => smol::spawn(future),
            Spawner::Executor(executor) => executor.spawn(future),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_executor_spawner_runs_its_tasks_on_that_executor() {
        let executor = Arc::new(Executor::new());
        let spawner = Spawner::Executor(executor.clone());
        let task = spawner.spawn(async { 7 });
        assert!(!executor.is_empty(), "the task is the executor's");
        assert!(executor.try_tick(), "the executor runs it");
        assert_eq!(futures_lite::future::block_on(task), 7);
        assert!(executor.is_empty());
    }

    #[test]
    fn the_default_is_the_global_executor() {
        assert!(matches!(Spawner::default(), Spawner::Global));
        assert_eq!(smol::block_on(Spawner::Global.spawn(async { 3 })), 3);
    }
}
