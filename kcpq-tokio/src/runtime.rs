//! tokio's part: [`Tokio`] lends kcpq-async tokio's UDP socket, timers and tasks.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use kcpq_async::{Interest, Runtime, Socket, Timer};
use quinn_udp::UdpSockRef;
use tokio::task::JoinHandle;
use tokio::time::Sleep;

use crate::Spawner;

/// tokio as kcpq-async's runtime: the type parameter behind this crate's
/// [`Client`](crate::Client) and [`Server`](crate::Server).
#[derive(Debug, Clone, Copy, Default)]
pub struct Tokio;

impl Runtime for Tokio {
    type Spawner = Spawner;
    type Task = TokioTask;
    type Socket = TokioSocket;
    type Timer = TokioTimer;

    fn spawn(spawner: &Spawner, future: impl Future<Output = ()> + Send + 'static) -> TokioTask {
        TokioTask(spawner.spawn(future))
    }

    fn spawn_detached(spawner: &Spawner, future: impl Future<Output = ()> + Send + 'static) {
        // Dropping a tokio `JoinHandle` lets its task run on.
        drop(spawner.spawn(future));
    }

    async fn cancel(mut task: TokioTask) {
        task.0.abort();
        // An aborted task reports its cancellation; it no longer runs either way.
        let _ = (&mut task.0).await;
    }

    async fn sleep(duration: Duration) {
        tokio::time::sleep(duration).await;
    }

    fn run_on_new_thread<F>(
        name: String,
        make: impl FnOnce() -> F + Send + 'static,
    ) -> io::Result<std::thread::JoinHandle<()>>
    where
        F: Future<Output = ()> + 'static,
    {
        // A runtime of its own per thread: the thread's sockets and timers are registered
        // with it, and nothing the thread runs is moved to another.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name(name)
            .spawn(move || runtime.block_on(make()))
    }
}

/// A task on tokio; dropping it aborts the task (as dropping a smol task cancels it).
#[derive(Debug)]
pub struct TokioTask(JoinHandle<()>);

impl Drop for TokioTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// tokio's UDP socket.
#[derive(Debug)]
pub struct TokioSocket(tokio::net::UdpSocket);

impl Socket for TokioSocket {
    fn register(socket: std::net::UdpSocket) -> io::Result<Self> {
        Ok(TokioSocket(tokio::net::UdpSocket::from_std(socket)?))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }

    async fn readable(&self) -> io::Result<()> {
        self.0.readable().await
    }

    async fn writable(&self) -> io::Result<()> {
        self.0.writable().await
    }

    /// tokio keeps the socket's readiness until an operation says `WouldBlock`: `try_io` tells
    /// it, so that the next wait sleeps.
    fn try_io<T>(&self, interest: Interest, op: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
        let interest = match interest {
            Interest::Read => tokio::io::Interest::READABLE,
            Interest::Write => tokio::io::Interest::WRITABLE,
        };
        self.0.try_io(interest, op)
    }

    fn sock_ref(&self) -> UdpSockRef<'_> {
        UdpSockRef::from(&self.0)
    }

    fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.0.try_recv_from(buf)
    }

    fn try_send_to(&self, datagram: &[u8], destination: SocketAddr) -> io::Result<usize> {
        self.0.try_send_to(datagram, destination)
    }
}

/// tokio's timer, made on its first setting (a [`Sleep`] needs the runtime at hand); `None`
/// also once it has fired, until set again.
#[derive(Debug, Default)]
pub struct TokioTimer(Option<Pin<Box<Sleep>>>);

impl Timer for TokioTimer {
    fn never() -> Self {
        TokioTimer(None)
    }

    fn set_at(&mut self, at: std::time::Instant) {
        self.0 = Some(Box::pin(tokio::time::sleep_until(at.into())));
    }

    fn poll_fired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let fired = (self.0.as_mut()).map_or(Poll::Pending, |sleep| sleep.as_mut().poll(cx));
        if fired.is_ready() {
            self.0 = None;
        }
        fired
    }
}

/// Runs `fut` for at most `duration`; dropping the returned future cancels `fut`.
pub async fn with_timeout<T>(
    duration: Duration,
    fut: impl Future<Output = T>,
) -> Result<T, kcpq_async::Elapsed> {
    kcpq_async::with_timeout::<Tokio, T>(duration, fut).await
}
