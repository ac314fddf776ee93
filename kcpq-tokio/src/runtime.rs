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
        TokioTask(Some(spawner.spawn(future)))
    }

    fn detach(mut task: TokioTask) {
        // Dropping a tokio `JoinHandle` lets its task run on.
        drop(task.0.take());
    }

    async fn cancel(mut task: TokioTask) {
        if let Some(handle) = task.0.take() {
            handle.abort();
            // An aborted task reports its cancellation; it no longer runs either way.
            let _ = handle.await;
        }
    }

    async fn sleep(duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// A task on tokio; dropping it aborts the task (as dropping a smol task cancels it).
#[derive(Debug)]
pub struct TokioTask(Option<JoinHandle<()>>);

impl Drop for TokioTask {
    fn drop(&mut self) {
        if let Some(handle) = &self.0 {
            handle.abort();
        }
    }
}

/// tokio's UDP socket.
#[derive(Debug)]
pub struct TokioSocket(tokio::net::UdpSocket);

impl Socket for TokioSocket {
    fn register(socket: std::net::UdpSocket) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
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

/// tokio's timer, made on its first setting (a [`Sleep`] needs the runtime at hand).
#[derive(Debug, Default)]
pub struct TokioTimer {
    sleep: Option<Pin<Box<Sleep>>>,
    armed: bool,
}

impl Timer for TokioTimer {
    fn never() -> Self {
        TokioTimer::default()
    }

    fn set_at(&mut self, at: std::time::Instant) {
        let at = tokio::time::Instant::from_std(at);
        match &mut self.sleep {
            Some(sleep) => sleep.as_mut().reset(at),
            None => self.sleep = Some(Box::pin(tokio::time::sleep_until(at))),
        }
        self.armed = true;
    }

    fn poll_fired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.sleep {
            Some(sleep) if self.armed => {
                let fired = sleep.as_mut().poll(cx);
                if fired.is_ready() {
                    self.armed = false;
                }
                fired
            }
            _ => Poll::Pending,
        }
    }
}

/// Runs `fut` for at most `duration`; dropping the returned future cancels `fut`.
pub async fn with_timeout<T>(
    duration: Duration,
    fut: impl Future<Output = T>,
) -> Result<T, kcpq_async::Elapsed> {
    kcpq_async::with_timeout::<Tokio, T>(duration, fut).await
}
