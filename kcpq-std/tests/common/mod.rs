//! Shared helpers of the end-to-end tests: keys, a server on an ephemeral loopback port, clients.

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use kcpq_std::core::client::ClientConfig;
use kcpq_std::core::crypto::{Key, KeySet};
use kcpq_std::{Client, ClientOptions, Server, ServerConfig};

/// The bound of every wait in the tests.
pub const WAIT: Duration = Duration::from_secs(5);

/// The key every test server and client shares.
pub fn keys() -> KeySet {
    KeySet::single(Key::from_bytes([0x5a; 32]))
}

/// A server on 127.0.0.1 and an ephemeral port.
pub fn server() -> Server {
    Server::bind("127.0.0.1:0", keys(), ServerConfig::default()).expect("bind on loopback")
}

/// Options for a client of `server_addr` with a short connect timeout.
pub fn options(server_addr: impl ToString, name: &str) -> ClientOptions {
    let mut options = ClientOptions::new(server_addr.to_string(), keys());
    let mut config = ClientConfig::default();
    config.name = name.to_owned();
    options.config = config;
    options.connect_timeout = Duration::from_secs(3);
    options.operation_timeout = WAIT;
    options
}

/// A connected client of `server`.
pub fn client(server: &Server, name: &str) -> Client {
    Client::connect_with(options(server.local_addr(), name)).expect("connect")
}

/// The first event matching `want` within [`WAIT`], skipping others.
pub fn wait_for<T>(events: &kcpq_std::Events<T>, want: impl Fn(&T) -> bool) -> Option<T> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match events.recv_timeout(left) {
            Ok(event) if want(&event) => return Some(event),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}
