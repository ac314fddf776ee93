//! The porting guide in code: kcpq-core's `Server` and `Client` driven by one hand-written loop
//! over `std::net::UdpSocket` and nothing else, following the drain contract of the
//! `kcpq_core::Drive` trait literally. Bring KCPQ to another runtime by writing this loop for it.
//!
//! The server runs on a thread and answers requests on `time.now` through its owner API; the
//! client subscribes to `greet.*`, publishes to itself, asks for the time, and closes. Then the
//! server shuts down, sending CLOSE to every session.
//!
//! Run with `cargo run -p kcpq-examples --example event_loop`.

use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use kcpq_core::client::{Client, ClientConfig, ClientEvent};
use kcpq_core::crypto::{Key, KeySet};
use kcpq_core::server::{Server, ServerConfig, ServerEvent};
use kcpq_core::{Drive, Instant};

/// The clock: microseconds since the program started, as the core's `Instant`.
struct Clock(std::time::Instant);

impl Clock {
    fn now(&self) -> Instant {
        Instant::from_micros(u64::try_from(self.0.elapsed().as_micros()).unwrap_or(u64::MAX))
    }
}

/// 32 bytes of OS randomness for a seed (real adapters use the `getrandom` crate).
fn os_seed() -> std::io::Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut seed)?;
    Ok(seed)
}

/// Waits for one datagram until `deadline` (or forever when `None`): the "sleep" step of the
/// drain contract. Returns `None` when the deadline passed first.
fn recv_until(
    socket: &UdpSocket,
    clock: &Clock,
    deadline: Option<Instant>,
    buf: &mut [u8],
) -> std::io::Result<Option<(usize, SocketAddr)>> {
    let timeout = match deadline {
        Some(at) => {
            let wait = at.saturating_duration_since(clock.now());
            if wait.is_zero() {
                return Ok(None);
            }
            Some(wait)
        }
        None => None,
    };
    socket.set_read_timeout(timeout)?;
    match socket.recv_from(buf) {
        Ok(received) => Ok(Some(received)),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(None),
        Err(e) => Err(e),
    }
}

/// What the application's reaction to an event says about the loop.
enum Step {
    /// Nothing for the loop.
    Go,
    /// The reaction called the API: drain again before sleeping.
    Acted,
    /// The work is done: leave the loop.
    Done,
}

/// The loop of the drain contract ([`Drive`]), the same for the server and the client: drain
/// (transmits, then events; after events that called the API, drain again), sleep until a
/// datagram or the deadline, feed what woke it, repeat. `react` handles one event (or, with
/// `None`, looks for work of its own before the loop sleeps); `cap` bounds each sleep.
fn drive<M: Drive>(
    machine: &mut M,
    socket: &UdpSocket,
    clock: &Clock,
    cap: Option<Duration>,
    mut react: impl FnMut(&mut M, Option<M::Event>) -> std::io::Result<Step>,
) -> std::io::Result<()> {
    let mut out = vec![0u8; 65_536];
    let mut inbound = vec![0u8; 65_536];
    loop {
        let now = clock.now();
        while let Some(t) = machine.poll_transmit(now, &mut out) {
            socket.send_to(&out[..t.len], t.destination)?;
        }
        let mut acted = false;
        let mut events = Vec::new();
        while let Some(event) = machine.poll_event() {
            events.push(event);
        }
        for event in events.into_iter().map(Some).chain([None]) {
            match react(machine, event)? {
                Step::Go => {}
                Step::Acted => acted = true,
                Step::Done => return Ok(()),
            }
        }
        // Events may have led to API calls: drain again before sleeping (poll_timeout is only
        // meaningful once poll_transmit has returned None after the last call).
        if acted {
            continue;
        }
        let deadline = match cap {
            Some(cap) => {
                let cap = clock.now() + cap;
                Some(machine.poll_timeout().map_or(cap, |t| t.min(cap)))
            }
            None => machine.poll_timeout(),
        };
        match recv_until(socket, clock, deadline, &mut inbound)? {
            Some((len, from)) => machine.handle_datagram(clock.now(), from, &mut inbound[..len]),
            None => machine.handle_timeout(clock.now()),
        }
    }
}

/// The server: answers `time.now` requests until the owner asks it to stop, then shuts down.
fn run_server(
    socket: UdpSocket,
    keys: KeySet,
    stop: std::sync::mpsc::Receiver<()>,
) -> std::io::Result<()> {
    let clock = Clock(std::time::Instant::now());
    let mut server = Server::new(ServerConfig::default(), &keys, os_seed()?, clock.now())
        .map_err(std::io::Error::other)?;
    let time_sid = server
        .subscribe("time.now", None)
        .map_err(std::io::Error::other)?;
    // A short cap on the sleep only so the stop request is seen; a real adapter wakes its loop
    // when the application calls the API (kcpq-std sends itself a datagram).
    let cap = Some(Duration::from_millis(50));
    drive(&mut server, &socket, &clock, cap, |server, event| {
        match event {
            Some(ServerEvent::SessionOpened { name, addr }) => {
                println!("server: {name} at {addr}");
            }
            Some(ServerEvent::Message(m)) if m.sid == time_sid => {
                if let Some(reply) = m.reply {
                    let answer = format!("{:?} since the server started", clock.now());
                    if let Err(e) = server.publish(&reply, None, None, answer.as_bytes()) {
                        eprintln!("server: cannot reply: {e}");
                    }
                    return Ok(Step::Acted);
                }
            }
            Some(ServerEvent::SessionClosed { name, reason, .. }) => {
                println!("server: {name} left ({reason})");
            }
            Some(ServerEvent::ShutdownComplete) => return Ok(Step::Done),
            None if stop.try_recv().is_ok() => {
                server.shutdown(clock.now(), "example finished");
                return Ok(Step::Acted);
            }
            _ => {}
        }
        Ok(Step::Go)
    })
}

/// The client: greets itself, asks the server for the time, then closes.
fn run_client(server_addr: SocketAddr, keys: &KeySet) -> std::io::Result<()> {
    let clock = Clock(std::time::Instant::now());
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    let mut config = ClientConfig::default();
    config.name = "event-loop-example".to_owned();
    let mut client = Client::new(config, server_addr, keys, os_seed()?, clock.now());
    let sid = client
        .subscribe("greet.*", None)
        .map_err(std::io::Error::other)?;
    drive(&mut client, &socket, &clock, None, |client, event| {
        let now = clock.now();
        match event {
            Some(ClientEvent::Connected { client_name, .. }) => {
                println!("client: connected as {client_name}");
            }
            Some(ClientEvent::Subscribed(s)) if s == sid => {
                client
                    .publish("greet.world", None, None, b"hello over KCP")
                    .map_err(std::io::Error::other)?;
                return Ok(Step::Acted);
            }
            Some(ClientEvent::Message(m)) => {
                println!(
                    "client: {} -> {}",
                    m.subject,
                    String::from_utf8_lossy(&m.payload)
                );
                client
                    .request(now, "time.now", None, b"", Duration::from_secs(2))
                    .map_err(std::io::Error::other)?;
                return Ok(Step::Acted);
            }
            Some(ClientEvent::Reply(_, m)) => {
                println!(
                    "client: the time is {}",
                    String::from_utf8_lossy(&m.payload)
                );
                client.close(now);
                return Ok(Step::Acted);
            }
            Some(ClientEvent::RequestFailed(_, why)) => {
                println!("client: request failed: {why}");
                client.close(now);
                return Ok(Step::Acted);
            }
            Some(ClientEvent::ConnectFailed(e)) => return Err(std::io::Error::other(e)),
            Some(ClientEvent::Closed) => return Ok(Step::Done),
            _ => {}
        }
        Ok(Step::Go)
    })
}

pub(crate) fn main() -> std::io::Result<()> {
    let keys = KeySet::single(Key::from_bytes(os_seed()?));
    let server_socket = UdpSocket::bind("127.0.0.1:0")?;
    let server_addr = server_socket.local_addr()?;
    let (stop, stopped) = std::sync::mpsc::channel();
    let server_keys = keys.clone();
    let server = std::thread::spawn(move || run_server(server_socket, server_keys, stopped));
    let outcome = run_client(server_addr, &keys);
    let _ = stop.send(());
    server
        .join()
        .map_err(|_| std::io::Error::other("the server thread panicked"))??;
    outcome?;
    println!("done");
    Ok(())
}
