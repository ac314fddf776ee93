//! The binaries driven as a user would: `kcpq-server` in an empty directory creates its key,
//! `kcpq sub` and `kcpq pub` started in the same directory need no flags; SIGTERM drains.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::cli::{KEY_ENV, Running, kcpq, next_line, wait_for};
use futures_lite::StreamExt;
use kcpq_smol::with_timeout;

/// Spawns `program` in `dir`; its output is read line by line.
fn spawn(program: &str, dir: &Path, args: &[&str]) -> Running {
    Running::start(program, dir, args)
}

#[test]
fn server_sub_and_pub_in_one_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server_bin = env!("CARGO_BIN_EXE_kcpq-server");
    let cli = env!("CARGO_BIN_EXE_kcpq");
    let mut server = spawn(server_bin, dir.path(), &["--listen", "127.0.0.1:0"]);
    wait_for(&server.stdout, "created a new key");
    let line = wait_for(&server.stdout, "listening on udp://");
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

    let mut sub = spawn(
        cli,
        dir.path(),
        &["sub", "-s", &addr, "demo.*", "--count", "3"],
    );
    wait_for(&sub.stdout, "Subscribed to demo.*");
    let published = kcpq(
        dir.path(),
        &["pub", "-s", &addr, "demo.hello", "hi there", "--count", "3"],
        b"",
        &[],
    );
    assert!(published.status.success(), "{published:?}");
    for i in 1..=3 {
        let line = wait_for(&sub.stdout, &format!("[#{i}]"));
        assert!(line.contains("demo.hello: hi there"), "{line}");
    }
    assert!(sub.wait_exit().success(), "kcpq sub exits 0 after --count");

    let output = kcpq(
        dir.path(),
        &["req", "-s", &addr, "nobody.home", "x", "--timeout", "2s"],
        b"",
        &[],
    );
    assert!(!output.status.success());
    assert!(output.stderr.contains("no responders"), "{output:?}");

    let status = Command::new("kill")
        .args(["-INT", &server.child.id().to_string()])
        .status()
        .expect("send SIGINT");
    assert!(status.success());
    wait_for(&server.stdout, "kcpq-server stopped");
    assert!(server.wait_exit().success(), "graceful shutdown exits 0");
}

#[test]
fn the_cli_without_a_key_names_the_three_places() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = kcpq(dir.path(), &["pub", "x", "y"], b"", &[]);
    assert!(!output.status.success());
    let stderr = output.stderr;
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
fn a_server_of_two_workers_serves_publishers_subscribers_and_requests() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = spawn(
        env!("CARGO_BIN_EXE_kcpq-server"),
        dir.path(),
        &["--listen", "127.0.0.1:0", "--workers", "2"],
    );
    wait_for(&server.stdout, "2 workers");
    let line = wait_for(&server.stdout, "listening on udp://");
    let addr = line
        .rsplit("udp://")
        .next()
        .expect("address")
        .trim()
        .to_owned();
    // Four subscribers and a replier: new ports, spread over both workers' sockets.
    let mut subscribers: Vec<Running> = (0..4)
        .map(|_| {
            spawn(
                common::cli::kcpq_bin(),
                dir.path(),
                &["sub", "-s", &addr, "w.>", "--count", "3"],
            )
        })
        .collect();
    for s in &subscribers {
        wait_for(&s.stdout, "Subscribed");
    }
    let replier = spawn(
        common::cli::kcpq_bin(),
        dir.path(),
        &["reply", "-s", &addr, "svc.echo", "pong"],
    );
    wait_for(&replier.stdout, "svc.echo");
    for i in 0..3 {
        let output = kcpq(
            dir.path(),
            &["pub", "-s", &addr, "w.x", &format!("m{i}")],
            b"",
            &[],
        );
        assert!(output.status.success(), "{output:?}");
    }
    for s in &mut subscribers {
        let status = s.wait_exit();
        assert!(
            status.success(),
            "a subscriber got its 3 messages and exited"
        );
    }
    let output = kcpq(
        dir.path(),
        &["req", "-s", &addr, "svc.echo", "hi"],
        b"",
        &[],
    );
    assert!(output.stdout.contains("pong"), "{output:?}");
}

#[test]
fn the_server_without_udp_offload_answers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = spawn(
        env!("CARGO_BIN_EXE_kcpq-server"),
        dir.path(),
        &["--listen", "127.0.0.1:0", "--no-udp-offload"],
    );
    let line = wait_for(&server.stdout, "listening on udp://");
    let addr = line.rsplit("udp://").next().expect("address").trim();
    let output = kcpq(
        dir.path(),
        &["req", "-s", addr, "nobody.home", "x", "--timeout", "2s"],
        b"",
        &[],
    );
    assert!(
        output.stderr.contains("no responders"),
        "a round trip: {output:?}"
    );
}

/// The address a started `kcpq-server` prints.
fn listening_addr(lines: &std::sync::mpsc::Receiver<String>) -> std::net::SocketAddr {
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
    let mut server = spawn(
        env!("CARGO_BIN_EXE_kcpq-server"),
        dir.path(),
        &["--listen", "127.0.0.1:0", "--key-file", "test.key"],
    );
    let addr = listening_addr(&server.stdout);

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
            .args(["-TERM", &server.child.id().to_string()])
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
    wait_for(&server.stdout, "kcpq-server stopped");
    assert!(server.wait_exit().success(), "a drained server exits 0");
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
    let server = spawn(
        env!("CARGO_BIN_EXE_kcpq-server"),
        dir.path(),
        &["--listen", "127.0.0.1:0"],
    );
    let url = format!("kcp://{}", listening_addr(&server.stdout));

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
    let relay = spawn(
        env!("CARGO_BIN_EXE_kcpq-bench"),
        dir.path(),
        &["udprelay", "--listen", "127.0.0.1:0"],
    );
    let first_line = next_line(&relay.stderr);
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
