//! smol's part: [`Smol`] lends kcpq-async async-io's reactor and timers and smol's executors.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_io::Async;
use kcpq_async::{Interest, Runtime, Socket, Timer};
use quinn_udp::UdpSockRef;

use crate::Spawner;

/// smol as kcpq-async's runtime: the type parameter behind this crate's [`Client`](crate::Client)
/// and [`Server`](crate::Server).
#[derive(Debug, Clone, Copy, Default)]
pub struct Smol;

impl Runtime for Smol {
    type Spawner = Spawner;
    type Task = smol::Task<()>;
    type Socket = SmolSocket;
    type Timer = SmolTimer;

    fn spawn(spawner: &Spawner, future: impl Future<Output = ()> + Send + 'static) -> Self::Task {
        spawner.spawn(future)
    }

    fn spawn_detached(spawner: &Spawner, future: impl Future<Output = ()> + Send + 'static) {
        spawner.spawn(future).detach();
    }

    async fn cancel(task: Self::Task) {
        task.cancel().await;
    }

    async fn sleep(duration: Duration) {
        async_io::Timer::after(duration).await;
    }

    fn run_on_new_thread<F>(
        name: String,
        make: impl FnOnce() -> F + Send + 'static,
    ) -> io::Result<std::thread::JoinHandle<()>>
    where
        F: Future<Output = ()> + 'static,
    {
        // async-io's reactor serves every thread; `block_on` drives it while this one waits.
        std::thread::Builder::new()
            .name(name)
            .spawn(move || async_io::block_on(make()))
    }
}

/// A UDP socket on async-io's reactor.
#[derive(Debug)]
pub struct SmolSocket(Async<UdpSocket>);

impl Socket for SmolSocket {
    fn register(socket: UdpSocket) -> io::Result<Self> {
        Ok(SmolSocket(Async::new(socket)?))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().local_addr()
    }

    async fn readable(&self) -> io::Result<()> {
        self.0.readable().await
    }

    async fn writable(&self) -> io::Result<()> {
        self.0.writable().await
    }

    /// async-io keeps no readiness between waits: the operation runs as it is.
    fn try_io<T>(&self, _: Interest, op: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
        op()
    }

    fn sock_ref(&self) -> UdpSockRef<'_> {
        UdpSockRef::from(self.0.get_ref())
    }

    fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.0.get_ref().recv_from(buf)
    }

    fn try_send_to(&self, datagram: &[u8], destination: SocketAddr) -> io::Result<usize> {
        self.0.get_ref().send_to(datagram, destination)
    }
}

/// async-io's timer.
#[derive(Debug)]
pub struct SmolTimer(async_io::Timer);

impl Timer for SmolTimer {
    fn never() -> Self {
        SmolTimer(async_io::Timer::never())
    }

    fn set_at(&mut self, at: std::time::Instant) {
        self.0.set_at(at);
    }

    fn poll_fired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(drop)
    }
}

/// Runs `fut` for at most `duration`; dropping the returned future cancels `fut`.
pub async fn with_timeout<T>(
    duration: Duration,
    fut: impl Future<Output = T>,
) -> Result<T, kcpq_async::Elapsed> {
    kcpq_async::with_timeout::<Smol, T>(duration, fut).await
}
