//! `kcpq server info` and `kcpq server check` against a real `kcpq-server --monitor`, a
//! stopped one, and an endpoint that answers unhealthy.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

use common::cli::{TestServer, kcpq, wait_for};

/// The value after `label:` on the line of `info` that starts with it.
fn field<'a>(info: &'a str, label: &str) -> &'a str {
    info.lines()
        .find_map(|line| line.strip_prefix(&format!("{label}:")))
        .unwrap_or_else(|| panic!("no {label} line in {info}"))
        .trim()
}

#[test]
fn info_reads_the_counters_and_check_says_ok() {
    let server = TestServer::start(&[], true);
    let monitor = server.monitor.clone().expect("a monitor");
    let sub = server.start_kcpq(&["sub", "m.>", "--name", "counted"]);
    wait_for(&sub.stdout, "Subscribed to m.>");
    let published = server.kcpq(&["pub", "m.x", "12345", "--count", "2"]);
    assert!(published.status.success(), "{published:?}");
    wait_for(&sub.stdout, "[#2]");

    let info = server.kcpq(&["server", "info", "--monitor", &monitor]);
    assert!(info.status.success(), "{info:?}");
    let out = &info.stdout;
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        field(out, "Server"),
        format!("kcpq-server {version} at udp://{}", server.addr)
    );
    assert!(field(out, "Uptime").ends_with('s'), "{out}");
    assert!(
        field(out, "Connections").starts_with("1 open, 2 since start, 1 closed"),
        "{out}"
    );
    assert_eq!(field(out, "Subscriptions"), "1");
    assert_eq!(field(out, "Messages"), "2 in, 2 out");
    assert_eq!(field(out, "Bytes"), "10 B in, 10 B out");
    assert_eq!(field(out, "Dropped"), "none");
    assert!(out.contains("Clients (1):"), "{out}");
    assert!(out.contains("counted  127.0.0.1:"), "{out}");

    // The monitor's address without the scheme works too.
    let bare = monitor.trim_start_matches("http://");
    let check = server.kcpq(&["server", "check", "--monitor", bare]);
    assert!(check.status.success(), "{check:?}");
    assert!(
        check.stdout.starts_with(&format!(
            "OK: kcpq-server at udp://{} is healthy",
            server.addr
        )),
        "{check:?}"
    );
}

#[test]
fn a_stopped_server_fails_the_check_with_the_reason() {
    let server = TestServer::start(&[], true);
    let monitor = server.monitor.clone().expect("a monitor");
    drop(server);
    let dir = tempfile::tempdir().expect("temp dir");
    for command in ["check", "info"] {
        let run = kcpq(
            dir.path(),
            &["server", command, "--monitor", &monitor],
            b"",
            &[],
        );
        assert!(!run.status.success(), "{run:?}");
        assert!(
            run.stderr.contains(&format!("cannot reach {monitor}/"))
                && run.stderr.contains("is kcpq-server running with --monitor"),
            "{run:?}"
        );
    }
}

/// Answers one HTTP request on `listener` with `status` and `body`.
fn answer_once(listener: &TcpListener, status: &str, body: &str) {
    let (mut stream, _): (TcpStream, _) = listener.accept().expect("a connection");
    let mut request = [0u8; 1024];
    let _ = stream.read(&mut request);
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).expect("answer");
}

#[test]
fn an_unhealthy_answer_fails_the_check() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let dir = tempfile::tempdir().expect("temp dir");
    let responder = std::thread::spawn(move || {
        answer_once(&listener, "503 Service Unavailable", "server stopped\n");
        answer_once(&listener, "200 OK", "<html>not a monitor</html>");
    });
    let run = kcpq(
        dir.path(),
        &["server", "check", "--monitor", &url],
        b"",
        &[],
    );
    assert!(!run.status.success(), "{run:?}");
    assert!(
        run.stderr.contains("the server is unhealthy: ")
            && run
                .stderr
                .contains("503 Service Unavailable: server stopped"),
        "{run:?}"
    );
    let run = kcpq(dir.path(), &["server", "info", "--monitor", &url], b"", &[]);
    assert!(!run.status.success(), "{run:?}");
    assert!(
        run.stderr.contains("is not kcpq-server's monitor"),
        "{run:?}"
    );
    responder.join().expect("the responder");
}
