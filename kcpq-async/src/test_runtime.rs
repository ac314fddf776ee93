//! A runtime for this crate's unit tests: async-io's reactor and timers, futures-lite's
//! `block_on`, tasks on a plain thread each.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_io::Async;
use quinn_udp::UdpSockRef;

use crate::runtime::{Interest, Runtime, Socket, Timer};

/// The unit tests' runtime.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TestRuntime;

/// A task on a thread of its own, which ends when its future does.
#[derive(Debug)]
pub(crate) struct ThreadTask;

impl Runtime for TestRuntime {
    type Spawner = ();
    type Task = ThreadTask;
    type Socket = TestSocket;
    type Timer = TestTimer;

    fn spawn(_: &(), future: impl Future<Output = ()> + Send + 'static) -> ThreadTask {
        std::thread::spawn(move || futures_lite::future::block_on(future));
        ThreadTask
    }

    fn spawn_detached(_: &(), future: impl Future<Output = ()> + Send + 'static) {
        std::thread::spawn(move || futures_lite::future::block_on(future));
    }

    async fn cancel(_: ThreadTask) {}

    async fn sleep(duration: Duration) {
        async_io::Timer::after(duration).await;
    }

    fn run_on_new_thread<F>(
        name: String,
        make: impl FnOnce() -> F + Send + 'static,
    ) -> std::io::Result<std::thread::JoinHandle<()>>
    where
        F: Future<Output = ()> + 'static,
    {
        std::thread::Builder::new()
            .name(name)
            .spawn(move || async_io::block_on(make()))
    }
}

/// async-io's socket.
#[derive(Debug)]
pub(crate) struct TestSocket(Async<UdpSocket>);

impl Socket for TestSocket {
    fn register(socket: UdpSocket) -> io::Result<Self> {
        Ok(TestSocket(Async::new(socket)?))
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
pub(crate) struct TestTimer(async_io::Timer);

impl Timer for TestTimer {
    fn never() -> Self {
        TestTimer(async_io::Timer::never())
    }
    fn set_at(&mut self, at: std::time::Instant) {
        self.0.set_at(at);
    }
    fn poll_fired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(drop)
    }
}
