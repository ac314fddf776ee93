//! What an async runtime lends this crate: a UDP socket it can wait on, a timer, and a place to
//! run tasks. kcpq-smol implements it on smol and async-io, kcpq-tokio on tokio; everything
//! else (the drivers, the handles, the batching of datagrams) is written once, here.

use std::fmt::Debug;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};
use std::time::Duration;

use quinn_udp::UdpSockRef;

/// An async runtime, as a marker type (`kcpq_smol::Smol`, `kcpq_tokio::Tokio`).
pub trait Runtime: Debug + Clone + Copy + Default + Send + Sync + 'static {
    /// Where tasks run: the executor chosen in the client's and server's options.
    type Spawner: Debug + Clone + Default + Send + Sync + 'static;
    /// A running task. Dropping it cancels the task.
    type Task: Debug + Send + 'static;
    /// A non-blocking UDP socket registered with the runtime's reactor.
    type Socket: Socket;
    /// The event loop's one timer.
    type Timer: Timer;

    /// Starts `future` on `spawner`'s executor; it runs while the returned task is kept.
    fn spawn(
        spawner: &Self::Spawner,
        future: impl Future<Output = ()> + Send + 'static,
    ) -> Self::Task;

    /// Starts `future` on `spawner`'s executor, to run to its end without a handle.
    fn spawn_detached(spawner: &Self::Spawner, future: impl Future<Output = ()> + Send + 'static);

    /// Cancels `task` and waits until it no longer runs.
    fn cancel(task: Self::Task) -> impl Future<Output = ()> + Send;

    /// Completes after `duration`.
    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send;

    /// Runs the future that `make` returns on a new OS thread named `name`, with this
    /// runtime's reactor and timers available there, until it completes. The server's extra
    /// workers run this way, each on its own core.
    fn run_on_new_thread<F>(
        name: String,
        make: impl FnOnce() -> F + Send + 'static,
    ) -> io::Result<std::thread::JoinHandle<()>>
    where
        F: Future<Output = ()> + 'static;
}

/// Which readiness a non-blocking operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    /// A receive.
    Read,
    /// A send.
    Write,
}

/// A UDP socket in non-blocking mode, registered with a reactor.
pub trait Socket: Debug + Send + Sync + Sized + 'static {
    /// Registers `socket` (bound, non-blocking) with the reactor; call from within the
    /// runtime.
    fn register(socket: std::net::UdpSocket) -> io::Result<Self>;

    /// The address the socket is bound to.
    fn local_addr(&self) -> io::Result<SocketAddr>;

    /// Waits until a datagram may be read.
    fn readable(&self) -> impl Future<Output = io::Result<()>> + Send;

    /// Waits until a datagram may be sent.
    fn writable(&self) -> impl Future<Output = io::Result<()>> + Send;

    /// Runs `op`, one non-blocking operation on [`Socket::sock_ref`]; a `WouldBlock` from it
    /// tells the reactor that the socket is not ready for `interest` any more.
    fn try_io<T>(&self, interest: Interest, op: impl FnOnce() -> io::Result<T>) -> io::Result<T>;

    /// The socket, for `quinn-udp`'s batched calls and plain `recv_from` / `send_to`.
    fn sock_ref(&self) -> UdpSockRef<'_>;

    /// Receives one datagram without waiting.
    fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)>;

    /// Sends one datagram without waiting.
    fn try_send_to(&self, datagram: &[u8], destination: SocketAddr) -> io::Result<usize>;
}

/// Runs `op` on `socket` until it does not report `WouldBlock`, waiting for writability in
/// between.
pub(crate) async fn write_with<S: Socket, T>(
    socket: &S,
    mut op: impl FnMut() -> io::Result<T>,
) -> io::Result<T> {
    loop {
        match socket.try_io(Interest::Write, &mut op) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => socket.writable().await?,
            result => return result,
        }
    }
}

/// A one-shot timer that can be moved.
pub trait Timer: Debug + Send + Unpin + 'static {
    /// A timer that never fires until set.
    fn never() -> Self;

    /// Fires at `at` (at once when it has passed), replacing any earlier setting.
    fn set_at(&mut self, at: std::time::Instant);

    /// Ready once when the time set has come; pending again until set anew.
    fn poll_fired(&mut self, cx: &mut Context<'_>) -> Poll<()>;
}
