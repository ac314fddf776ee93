//! From the connection options to a connected client: the server address, the key, the name,
//! and an error that says what to do when the connection fails.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::Duration;

use kcpq_smol::core::crypto::HandshakeError;
use kcpq_smol::core::proto::ErrorCode;
use kcpq_smol::keys::{KeySource, client_keys};
use kcpq_smol::{Client, ClientOptions, ConnectError};

use crate::args::ConnectionArgs;

/// The port a server address without one gets.
const DEFAULT_PORT: u16 = 4000;

/// A connection ready to be made: everything checked that can be without the network.
pub(crate) struct Target {
    options: ClientOptions,
    key_source: KeySource,
}

impl Target {
    /// Resolves the server address and finds the key.
    pub(crate) fn prepare(args: &ConnectionArgs) -> Result<Target, String> {
        let server = server_addr(&args.server)?;
        let cwd = std::env::current_dir().map_err(|e| format!("no working directory: {e}"))?;
        let (keys, key_source) =
            client_keys(args.key_file.as_deref(), &cwd).map_err(|e| e.to_string())?;
        let mut options = ClientOptions::new(server, keys);
        options.connect_timeout = args.connect_timeout;
        if let Some(name) = &args.name {
            options.config.name.clone_from(name);
        }
        options.config.fec = kcpq_smol::core::fec::FecConfig::with_mode(args.fec);
        Ok(Target {
            options,
            key_source,
        })
    }

    /// Connects, explaining a failure.
    pub(crate) async fn connect(self) -> Result<Client, String> {
        let server = self.options.server;
        let timeout = self.options.connect_timeout;
        Client::connect_with(self.options)
            .await
            .map_err(|e| connect_error(&e, server, timeout, &self.key_source))
    }
}

/// Parses `kcp://HOST:PORT`, `HOST:PORT` or `HOST` (port 4000).
pub(crate) fn server_addr(text: &str) -> Result<SocketAddr, String> {
    let trimmed = text.trim().trim_end_matches('/');
    let host_port = match trimmed.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("kcp") => rest,
        Some((scheme, _)) => {
            return Err(format!(
                "{text} is not a KCPQ server address ({scheme}:// is another protocol): write \
                 kcp://HOST:PORT or HOST:PORT"
            ));
        }
        None => trimmed,
    };
    let has_port = match host_port.strip_prefix('[') {
        Some(bracketed) => bracketed.contains("]:"),
        None => host_port.contains(':'),
    };
    let with_port = if has_port {
        host_port.to_owned()
    } else {
        format!("{host_port}:{DEFAULT_PORT}")
    };
    with_port
        .to_socket_addrs()
        .map_err(|e| {
            format!("cannot resolve the server address {text}: {e}; write kcp://HOST:PORT")
        })?
        .next()
        .ok_or_else(|| format!("the server address {text} resolves to nothing"))
}

/// What failed and what to do, for a failed connect.
fn connect_error(
    error: &ConnectError,
    server: SocketAddr,
    timeout: Duration,
    key_source: &KeySource,
) -> String {
    let unanswered = || {
        if port_closed(server) {
            format!(
                "nothing listens on udp://{server} (the port is closed): start kcpq-server \
                 there, or point --server at it"
            )
        } else {
            format!(
                "the server at udp://{server} did not answer the handshake within {timeout:?}: \
                 check that the key matches the server's (--key-file / KCPQ_AES256_KEY_HEX; \
                 this client used the {key_source}) and that kcpq-server listens there (--server)"
            )
        }
    };
    match error {
        ConnectError::Handshake(HandshakeError::KeyMismatchOrNoServer { .. })
        | ConnectError::TimedOut(_) => unanswered(),
        ConnectError::Handshake(e) => format!("{e}; try again, or raise --connect-timeout"),
        ConnectError::Refused(refusal) => match refusal.code {
            ErrorCode::DuplicateName => format!(
                "the server refused the connection: {}; choose another --name, or wait until \
                 that client disconnects",
                refusal.message
            ),
            ErrorCode::Replaced => format!(
                "the server refused the connection: {}; another client took this --name over \
                 since",
                refusal.message
            ),
            ErrorCode::TooManySessions => format!(
                "the server refused the connection: {}; it holds as many sessions as it allows \
                 (max_sessions in its configuration)",
                refusal.message
            ),
            ErrorCode::UnsupportedVersion => format!(
                "the server refused the connection: {}; use a kcpq from the server's release",
                refusal.message
            ),
            _ => format!("the server refused the connection: {}", refusal.message),
        },
        other => format!("cannot connect to udp://{server}: {other}"),
    }
}

/// Whether `server` answers a datagram with "port unreachable", i.e. nothing listens there.
/// Sends one empty datagram (a KCPQ server drops it as malformed) and waits a moment; a
/// firewall that swallows the answer makes this false.
fn port_closed(server: SocketAddr) -> bool {
    let local: SocketAddr = if server.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let Ok(socket) = UdpSocket::bind(local) else {
        return false;
    };
    let ready = socket.connect(server).is_ok()
        && socket
            .set_read_timeout(Some(Duration::from_millis(300)))
            .is_ok()
        && socket.send(&[]).is_ok();
    ready
        && matches!(
            socket.recv(&mut [0u8; 16]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses_take_the_kcp_scheme_and_a_default_port() {
        let addr: SocketAddr = "127.0.0.1:4100".parse().expect("addr");
        assert_eq!(server_addr("kcp://127.0.0.1:4100"), Ok(addr));
        assert_eq!(server_addr("KCP://127.0.0.1:4100/"), Ok(addr));
        assert_eq!(server_addr("127.0.0.1:4100"), Ok(addr));
        assert_eq!(
            server_addr("127.0.0.1"),
            Ok("127.0.0.1:4000".parse().expect("addr"))
        );
        assert_eq!(
            server_addr("kcp://[::1]"),
            Ok("[::1]:4000".parse().expect("addr"))
        );
        let nats = server_addr("nats://127.0.0.1:4222").expect_err("another protocol");
        assert!(nats.contains("kcp://HOST:PORT"), "{nats}");
    }
}
