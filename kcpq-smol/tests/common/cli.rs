//! Driving the binaries as a user would: `kcpq-server` in a temporary directory, `kcpq`
//! commands run to their end or kept running with their output read line by line, every wait
//! bounded.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

/// The environment variable holding a key; removed so that tests only use the keys they mean.
pub const KEY_ENV: &str = "KCPQ_AES256_KEY_HEX";
/// The longest any single wait in these tests may take.
pub const WAIT: Duration = Duration::from_secs(15);

/// The `kcpq` binary.
pub fn kcpq_bin() -> &'static str {
    env!("CARGO_BIN_EXE_kcpq")
}

/// The `kcpq-server` binary.
pub fn server_bin() -> &'static str {
    env!("CARGO_BIN_EXE_kcpq-server")
}

/// Sends each line `read` yields to the returned receiver, from a thread.
fn lines_of(read: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(read).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A running process whose output is read line by line; killed when dropped.
pub struct Running {
    /// The process.
    pub child: Child,
    /// Its standard output, line by line.
    pub stdout: Receiver<String>,
    /// Its standard error, line by line.
    pub stderr: Receiver<String>,
}

impl Running {
    /// Starts `program` with `args` in `dir`, without a key in the environment.
    pub fn start(program: &str, dir: &Path, args: &[&str]) -> Running {
        Running::start_with(program, dir, args, &[])
    }

    /// As [`Running::start`], with extra environment variables.
    pub fn start_with(program: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Running {
        let mut child = Command::new(program)
            .args(args)
            .current_dir(dir)
            .env_remove(KEY_ENV)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the binary");
        let stdout = lines_of(child.stdout.take().expect("piped stdout"));
        let stderr = lines_of(child.stderr.take().expect("piped stderr"));
        Running {
            child,
            stdout,
            stderr,
        }
    }

    /// Waits for the process to exit after its standard output closed; bounded by `WAIT`.
    pub fn wait_exit(&mut self) -> ExitStatus {
        loop {
            match self.stdout.recv_timeout(WAIT) {
                Ok(_) => {}
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!("the process did not exit"),
            }
        }
        self.child.wait().expect("wait")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The standard output lines of all `processes` on one receiver, in the order they come.
pub fn merged_stdout(processes: &mut [Running]) -> Receiver<String> {
    let (tx, rx) = channel();
    for process in processes {
        let (_, closed) = channel();
        let lines = std::mem::replace(&mut process.stdout, closed);
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in lines {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    rx
}

/// Waits for a line containing `needle`, returning it.
pub fn wait_for(lines: &Receiver<String>, needle: &str) -> String {
    loop {
        let line = lines
            .recv_timeout(WAIT)
            .unwrap_or_else(|e| panic!("no line containing {needle:?}: {e}"));
        if line.contains(needle) {
            return line;
        }
    }
}

/// The next line, within `WAIT`.
pub fn next_line(lines: &Receiver<String>) -> String {
    lines
        .recv_timeout(WAIT)
        .unwrap_or_else(|e| panic!("no further line: {e}"))
}

/// What a finished command printed.
#[derive(Debug)]
pub struct Finished {
    /// Its exit status.
    pub status: ExitStatus,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

/// Reads all of `read` on a thread; the receiver gets it at the end of the stream.
fn read_all(mut read: impl Read + Send + 'static) -> Receiver<Vec<u8>> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let mut all = Vec::new();
        let _ = read.read_to_end(&mut all);
        let _ = tx.send(all);
    });
    rx
}

/// Runs `kcpq` with `args` in `dir` to its end, `input` on its standard input; the process
/// is killed if its output has not ended within `WAIT`.
pub fn kcpq(dir: &Path, args: &[&str], input: &[u8], env: &[(&str, &str)]) -> Finished {
    let mut child = Command::new(kcpq_bin())
        .args(args)
        .current_dir(dir)
        .env_remove(KEY_ENV)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kcpq");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_vec();
    std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let stdout: ChildStdout = child.stdout.take().expect("piped stdout");
    let stdout = read_all(stdout);
    let stderr = read_all(child.stderr.take().expect("piped stderr"));
    let (Ok(out), Ok(err)) = (stdout.recv_timeout(WAIT), stderr.recv_timeout(WAIT)) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("kcpq {args:?} did not finish within {WAIT:?}");
    };
    Finished {
        status: child.wait().expect("wait"),
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
    }
}

/// A `kcpq-server` in its own temporary directory, which holds the key it created; killed
/// when dropped.
pub struct TestServer {
    /// The server process.
    pub process: Running,
    /// Its UDP address.
    pub addr: SocketAddr,
    /// Its monitoring address, when started with `--monitor`.
    pub monitor: Option<String>,
    dir: tempfile::TempDir,
}

impl TestServer {
    /// Starts a server on an ephemeral port with the extra `args`; with `monitor`, it serves
    /// monitoring on another ephemeral port.
    pub fn start(args: &[&str], monitor: bool) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut all = vec!["--listen", "127.0.0.1:0"];
        if monitor {
            all.extend(["--monitor", "127.0.0.1:0"]);
        }
        all.extend(args);
        let process = Running::start(server_bin(), dir.path(), &all);
        let monitor = monitor.then(|| {
            let line = wait_for(&process.stdout, "monitoring on http://");
            let url = line.split_whitespace().nth(2).expect("the monitor's URL");
            url.to_owned()
        });
        let line = wait_for(&process.stdout, "listening on udp://");
        let addr = line
            .rsplit("udp://")
            .next()
            .expect("address")
            .trim()
            .parse()
            .expect("a socket address");
        TestServer {
            process,
            addr,
            monitor,
            dir,
        }
    }

    /// The directory the server runs in; clients run there find its key by themselves.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The key file the server created.
    pub fn key_file(&self) -> PathBuf {
        self.dir.path().join("kcpq.key")
    }

    /// `--server ADDR`, for client commands.
    pub fn server_arg(&self) -> String {
        self.addr.to_string()
    }

    /// Runs `kcpq -s ADDR args...` in the server's directory to its end.
    pub fn kcpq(&self, args: &[&str]) -> Finished {
        self.kcpq_input(args, b"")
    }

    /// As [`TestServer::kcpq`], with `input` on standard input.
    pub fn kcpq_input(&self, args: &[&str], input: &[u8]) -> Finished {
        let addr = self.server_arg();
        let mut all = vec!["-s", addr.as_str()];
        all.extend(args);
        kcpq(self.dir(), &all, input, &[])
    }

    /// Starts `kcpq -s ADDR args...` in the server's directory, kept running.
    pub fn start_kcpq(&self, args: &[&str]) -> Running {
        let addr = self.server_arg();
        let mut all = vec!["-s", addr.as_str()];
        all.extend(args);
        Running::start(kcpq_bin(), self.dir(), &all)
    }
}
