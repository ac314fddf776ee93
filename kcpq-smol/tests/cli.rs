//! The binaries driven as a user would: `kcpq-server` in an empty directory creates its key,
//! `kcpq sub` and `kcpq pub` started in the same directory need no flags; SIGTERM drains.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use futures_lite::StreamExt;
use kcpq_smol::with_timeout;

const KEY_ENV: &str = "KCPQ_AES256_KEY_HEX";
const WAIT: Duration = Duration::from_secs(15);

/// Spawns `program` in `dir` with piped output; its stdout lines arrive on the receiver.
fn spawn(program: &str, dir: &Path, args: &[&str]) -> (Child, Receiver<String>) {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env_remove(KEY_ENV)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the binary");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Waits for a line containing `needle`, returning it.
fn wait_for(lines: &Receiver<String>, needle: &str) -> String {
    loop {
        let line = lines
            .recv_timeout(WAIT)
            .unwrap_or_else(|e| panic!("no line containing {needle:?}: {e}"));
        if line.contains(needle) {
            return line;
        }
    }
}

/// Waits for `child` to exit (its stdout closing first), at most `WAIT` for the output to end.
fn wait_exit(child: &mut Child, lines: &Receiver<String>) -> std::process::ExitStatus {
    use std::sync::mpsc::RecvTimeoutError;
    loop {
        match lines.recv_timeout(WAIT) {
            Ok(_) => {}
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => panic!("the process did not exit"),
        }
    }
    child.wait().expect("wait")
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn server_sub_and_pub_in_one_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server_bin = env!("CARGO_BIN_EXE_kcpq-server");
    let cli = env!("CARGO_BIN_EXE_kcpq");
    let (server, server_out) = spawn(server_bin, dir.path(), &["--listen", "127.0.0.1:0"]);
    let mut server = Killed(server);
    wait_for(&server_out, "created a new key");
    let line = wait_for(&server_out, "listening on udp://");
    let addr = line
        .rsplit("udp://")
        .next()
        .expect("address")
        .trim()
        .to_owned();
    let key_file = dir.path().join("kcpq.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file)
            .expect("key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the key file is private");
    }

    let (sub, sub_out) = spawn(
        cli,
        dir.path(),
        &["sub", "-s", &addr, "demo.*", "--count", "3"],
    );
    let mut sub = Killed(sub);
    wait_for(&sub_out, "Subscribed to demo.*");
    let status = Command::new(cli)
        .args(["pub", "-s", &addr, "demo.hello", "hi there", "--count", "3"])
        .current_dir(dir.path())
        .env_remove(KEY_ENV)
        .status()
        .expect("run kcpq pub");
    assert!(status.success());
    for i in 1..=3 {
        let line = wait_for(&sub_out, &format!("[#{i}]"));
        assert!(line.contains("demo.hello: hi there"), "{line}");
    }
    assert!(
        wait_exit(&mut sub.0, &sub_out).success(),
        "kcpq sub exits 0 after --count"
    );

    let output = Command::new(cli)
        .args(["req", "-s", &addr, "nobody.home", "x", "--timeout", "2s"])
        .current_dir(dir.path())
        .env_remove(KEY_ENV)
        .output()
        .expect("run kcpq req");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no responders"), "{stderr}");

    let status = Command::new("kill")
        .args(["-INT", &server.0.id().to_string()])
        .status()
        .expect("send SIGINT");
    assert!(status.success());
    wait_for(&server_out, "kcpq-server stopped");
    assert!(
        wait_exit(&mut server.0, &server_out).success(),
        "graceful shutdown exits 0"
    );
}

#[test]
fn the_cli_without_a_key_names_the_three_places() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = Command::new(env!("CARGO_BIN_EXE_kcpq"))
        .args(["pub", "x", "y"])
        .current_dir(dir.path())
        .env_remove(KEY_ENV)
        .output()
        .expect("run kcpq");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "one clear line: {stderr}");
    for place in ["--key-file", KEY_ENV, "kcpq.key"] {
        assert!(stderr.contains(place), "{stderr}");
    }
    assert!(
        !dir.path().join("kcpq.key").exists(),
        "only the server creates a key"
    );
}

#[test]
fn the_server_without_udp_offload_answers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, server_out) = spawn(
        env!("CARGO_BIN_EXE_kcpq-server"),
        dir.path(),
        &["--listen", "127.0.0.1:0", "--no-udp-offload"],
    );
    let _server = Killed(server);
    let line = wait_for(&server_out, "listening on udp://");
    let addr = line.rsplit("udp://").next().expect("address").trim();
    let output = Command::new(env!("CARGO_BIN_EXE_kcpq"))
        .args(["req", "-s", addr, "nobody.home", "x", "--timeout", "2s"])
        .current_dir(dir.path())
        .env_remove(KEY_ENV)
        .output()
        .expect("run kcpq req");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no responders"), "a round trip: {stderr}");
}

/// The address a started `kcpq-server` prints.
fn listening_addr(lines: &Receiver<String>) -> std::net::SocketAddr {
    let line = wait_for(lines, "listening on udp://");
    let addr = line.rsplit("udp://").next().expect("address").trim();
    addr.parse().expect("a socket address")
}

#[test]
fn sigterm_delivers_what_the_server_queued_before_it_exits() {
    const COUNT: u32 = 3000;
    const SIZE: usize = 1024;
    let dir = tempfile::tempdir().expect("temp dir");
    // The key the test clients use (`common::keys`), as a key file.
    std::fs::write(dir.path().join("test.key"), "07".repeat(32)).expect("write the key");
    let (server, server_out) = spawn(
        env!("CARGO_BIN_EXE_kcpq-server"),
        dir.path(),
        &["--listen", "127.0.0.1:0", "--key-file", "test.key"],
    );
    let mut server = Killed(server);
    let addr = listening_addr(&server_out);

    common::bounded(Duration::from_secs(60), async {
        // A 16-segment receive window slows what the server streams to the subscriber, so most
        // of the burst still waits on the server when the signal comes.
        let mut options = common::options(addr);
        options.config.kcp.recv_window = 16;
        let subscriber = kcpq_smol::Client::connect_with(options)
            .await
            .expect("connect");
        let mut sub = subscriber.subscribe("work").await.expect("subscribe");
        let publisher = common::client(addr).await;
        for i in 0..COUNT {
            let mut payload = vec![0x5A; SIZE];
            payload[..4].copy_from_slice(&i.to_le_bytes());
            publisher.publish("work", payload).await.expect("publish");
        }
        publisher
            .flush()
            .await
            .expect("the server has routed everything");

        let status = Command::new("kill")
            .args(["-TERM", &server.0.id().to_string()])
            .status()
            .expect("send SIGTERM");
        assert!(status.success());
        for expected in 0..COUNT {
            let message = with_timeout(Duration::from_secs(10), sub.next())
                .await
                .unwrap_or_else(|_| panic!("message {expected} did not arrive"))
                .unwrap_or_else(|| panic!("the stream ended before message {expected}"));
            let got = u32::from_le_bytes(message.payload[..4].try_into().expect("4 bytes"));
            assert_eq!(got, expected, "in order, none lost");
        }
    });
    wait_for(&server_out, "kcpq-server stopped");
    assert!(
        wait_exit(&mut server.0, &server_out).success(),
        "a drained server exits 0"
    );
}

/// Runs `kcpq-bench` to its end and parses the one JSON line it prints.
fn bench(dir: &Path, args: &[&str]) -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_kcpq-bench"))
        .args(args)
        .current_dir(dir)
        .env_remove(KEY_ENV)
        .output()
        .expect("run kcpq-bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("one JSON line, not {stdout:?}: {e}"));
    assert!(line.get("error").is_none(), "{args:?}: {line}");
    assert!(output.status.success(), "{args:?}: {line}");
    line
}

#[test]
fn the_bench_measures_a_server_and_the_floor_through_a_relay() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, server_out) = spawn(
        env!("CARGO_BIN_EXE_kcpq-server"),
        dir.path(),
        &["--listen", "127.0.0.1:0"],
    );
    let _server = Killed(server);
    let url = format!("kcp://{}", listening_addr(&server_out));

    let latency = bench(
        dir.path(),
        &[
            "--url", &url, "latency", "--count", "300", "--rate", "0", "--warmup", "20",
        ],
    );
    assert_eq!(latency["lost"], 0, "{latency}");
    assert_eq!(latency["rtt_us"]["n"], 300, "{latency}");

    let frames = bench(
        dir.path(),
        &[
            "--url",
            &url,
            "frames",
            "--size",
            "20000",
            "--fps",
            "50",
            "--seconds",
            "1",
            "--subs",
            "2",
            "--grace",
            "2",
        ],
    );
    assert_eq!(frames["all_delivered"], true, "{frames}");
    assert_eq!(frames["dropped_total"], 0, "{frames}");

    // The relay prints its address on stderr; it runs until killed. A relay that forwarded
    // nothing would cost a second per ping (natsbench's loss rule), so the count is small.
    let mut relay = Command::new(env!("CARGO_BIN_EXE_kcpq-bench"))
        .args(["udprelay", "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the relay");
    let stderr = relay.stderr.take().expect("piped stderr");
    let _relay = Killed(relay);
    let mut first_line = String::new();
    BufReader::new(stderr)
        .read_line(&mut first_line)
        .expect("the relay's first line");
    let relay_addr = first_line
        .trim()
        .strip_prefix("udprelay listening on ")
        .unwrap_or_else(|| panic!("the relay's address, not {first_line:?}"))
        .to_owned();
    let floor = bench(
        dir.path(),
        &[
            "udplat",
            "--via",
            &relay_addr,
            "--count",
            "100",
            "--rate",
            "0",
            "--warmup",
            "5",
        ],
    );
    assert_eq!(floor["via_relay"], relay_addr.as_str(), "{floor}");
    assert_eq!(floor["lost"], 0, "{floor}");
    assert_eq!(floor["rtt_us"]["n"], 100, "{floor}");
}
