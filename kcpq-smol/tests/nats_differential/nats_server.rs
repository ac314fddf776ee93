//! A real nats-server child process, and a connection that speaks its text protocol directly
//! to ask whether it accepts a subject, filter or group name.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader as AsyncBufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::time::timeout;

use super::scenario::Probe;
use super::side::Broken;

/// Bound of every single wait on nats-server.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// The nats-server binary, or a failure that says how to get it.
fn binary() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join("nats-server"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "nats-server is not installed: the differential test compares KCPQ with a real \
                 NATS server. Install it with `apt-get install -y nats-server` (.ci/run does)"
            )
        })
}

/// A nats-server on 127.0.0.1 and an ephemeral port; killed on drop.
pub(crate) struct NatsServer {
    child: Child,
    port: u16,
}

impl NatsServer {
    /// Starts nats-server and returns once it says it is ready.
    pub(crate) fn start() -> NatsServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("find a free TCP port")
            .port();
        let mut child = Command::new(binary())
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nats-server");
        let stderr = child.stderr.take().expect("piped stderr");
        let (ready, is_ready) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("Server is ready") {
                    let _ = ready.send(());
                }
            }
        });
        let server = NatsServer { child, port };
        is_ready
            .recv_timeout(WAIT)
            .expect("nats-server did not report ready within 10 s");
        server
    }

    pub(crate) fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw protocol connection. async-nats checks no subject and reports nats-server's `-ERR`
/// only as an asynchronous event, so whether nats-server accepts something is asked here:
/// the operation, then PING; an `-ERR` before the PONG refuses it.
pub(crate) struct RawConnection {
    reader: AsyncBufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    next_sid: u64,
}

fn broken(what: &str) -> impl Fn(std::io::Error) -> Broken + '_ {
    move |e| format!("raw nats connection, {what}: {e}")
}

impl RawConnection {
    pub(crate) async fn open(port: u16) -> Result<RawConnection, Broken> {
        let stream = timeout(WAIT, TcpStream::connect(("127.0.0.1", port)))
            .await
            .map_err(|_| "raw nats connection: connect timed out".to_owned())?
            .map_err(broken("connect"))?;
        let (reader, writer) = stream.into_split();
        let mut connection = RawConnection {
            reader: AsyncBufReader::new(reader),
            writer,
            next_sid: 1,
        };
        let info = connection.line().await?;
        if !info.starts_with("INFO ") {
            return Err(format!("raw nats connection: expected INFO, got {info:?}"));
        }
        let connect = "CONNECT {\"verbose\":false,\"pedantic\":false,\"protocol\":1}\r\n";
        connection.ask(connect).await?;
        Ok(connection)
    }

    async fn line(&mut self) -> Result<String, Broken> {
        let mut line = String::new();
        timeout(WAIT, self.reader.read_line(&mut line))
            .await
            .map_err(|_| "raw nats connection: no answer within 10 s".to_owned())?
            .map_err(broken("read"))?;
        Ok(line.trim_end().to_owned())
    }

    /// Sends `operations` and a PING; the `-ERR` lines that came before the PONG.
    async fn ask(&mut self, operations: &str) -> Result<Vec<String>, Broken> {
        let text = format!("{operations}PING\r\n");
        self.writer
            .write_all(text.as_bytes())
            .await
            .map_err(broken("write"))?;
        let mut errors = Vec::new();
        loop {
            let line = self.line().await?;
            match line.as_str() {
                "PONG" => return Ok(errors),
                "PING" => {
                    self.writer
                        .write_all(b"PONG\r\n")
                        .await
                        .map_err(broken("write"))?;
                }
                _ if line.starts_with("-ERR") => errors.push(line),
                _ => {}
            }
        }
    }

    /// Whether nats-server accepts `probe` (`Err` with its error when not).
    pub(crate) async fn probe(&mut self, probe: &Probe) -> Result<Result<(), String>, Broken> {
        let sid = self.next_sid;
        self.next_sid += 1;
        let operation = match probe {
            Probe::Publish(subject) => format!("PUB {subject} 5\r\nprobe\r\n"),
            Probe::Subscribe(filter) => format!("SUB {filter} {sid}\r\n"),
            Probe::Queue(filter, group) => format!("SUB {filter} {group} {sid}\r\n"),
        };
        let errors = self.ask(&operation).await?;
        if !matches!(probe, Probe::Publish(_)) && errors.is_empty() {
            self.ask(&format!("UNSUB {sid}\r\n")).await?;
        }
        Ok(match errors.first() {
            Some(error) => Err(error.clone()),
            None => Ok(()),
        })
    }
}
