//! Every `kcpq` failure says what failed and what to do: a wrong key, no server, an invalid
//! subject, a payload too big, an address of another protocol.

mod common;

use std::net::UdpSocket;

use common::cli::{Finished, KEY_ENV, TestServer, kcpq};

/// Asserts `run` failed with one `kcpq: error:` line containing every one of `needles`.
fn assert_error(run: &Finished, needles: &[&str]) {
    assert!(!run.status.success(), "{run:?}");
    assert!(
        run.stderr.starts_with("kcpq: error: ") && run.stderr.lines().count() == 1,
        "one error line: {run:?}"
    );
    for needle in needles {
        assert!(run.stderr.contains(needle), "{needle:?} missing: {run:?}");
    }
}

#[test]
fn a_wrong_key_names_the_key_and_where_it_came_from() {
    let server = TestServer::start(&[], false);
    let addr = server.server_arg();
    let other_key = "07".repeat(32);
    let run = kcpq(
        server.dir(),
        &["pub", "-s", &addr, "x", "y", "--connect-timeout", "500ms"],
        b"",
        &[(KEY_ENV, &other_key)],
    );
    assert_error(
        &run,
        &[
            "did not answer the handshake",
            "check that the key matches the server's",
            "--key-file",
            KEY_ENV,
            "this client used the environment variable",
        ],
    );
}

#[test]
fn no_server_says_nothing_listens() {
    // A port nobody listens on: bound, then released.
    let port = UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free port")
        .port();
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("kcpq.key"), "07".repeat(32)).expect("a key");
    let addr = format!("kcp://127.0.0.1:{port}");
    let run = kcpq(
        dir.path(),
        &["sub", "-s", &addr, "x", "--connect-timeout", "500ms"],
        b"",
        &[],
    );
    assert_error(
        &run,
        &[
            &format!("nothing listens on udp://127.0.0.1:{port}"),
            "start kcpq-server",
            "--server",
        ],
    );
}

#[test]
fn invalid_subjects_say_what_a_subject_is() {
    let server = TestServer::start(&[], false);
    assert_error(
        &server.kcpq(&["pub", "orders new", "x"]),
        &[
            "contains whitespace",
            "dot-separated tokens such as orders.new",
        ],
    );
    assert_error(
        &server.kcpq(&["pub", "orders.*", "x"]),
        &["wildcard", "only subscription filters"],
    );
    assert_error(
        &server.kcpq(&["req", "orders..new", "x"]),
        &["is empty", "dot-separated"],
    );
    assert_error(
        &server.kcpq(&["sub", "orders.>.x"]),
        &["'>' must be the last token", "orders.>"],
    );
}

#[test]
fn a_payload_too_big_names_both_sizes_and_the_server_limit() {
    let server = TestServer::start(&["--max-payload", "100"], false);
    let big = vec![b'x'; 300];
    assert_error(
        &server.kcpq_input(&["pub", "big"], &big),
        &[
            "too big",
            "300 bytes",
            "at most 100",
            "kcpq-server --max-payload",
        ],
    );
    assert_error(
        &server.kcpq_input(&["req", "big", "-H", "a:b"], &big),
        &["too big", "at most 100"],
    );
    let fits = server.kcpq_input(&["pub", "big"], &big[..100]);
    assert!(fits.status.success(), "{fits:?}");
}

#[test]
fn other_protocols_and_bad_headers_are_refused_before_connecting() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("kcpq.key"), "07".repeat(32)).expect("a key");
    assert_error(
        &kcpq(
            dir.path(),
            &["pub", "-s", "nats://127.0.0.1:4222", "x", "y"],
            b"",
            &[],
        ),
        &["nats:// is another protocol", "kcp://HOST:PORT"],
    );
    let run = kcpq(dir.path(), &["pub", "x", "y", "-H", "novalue"], b"", &[]);
    assert!(!run.status.success());
    assert!(run.stderr.contains("write NAME:VALUE"), "{run:?}");
}

#[test]
fn the_help_describes_the_cli() {
    let dir = tempfile::tempdir().expect("temp dir");
    let help = kcpq(dir.path(), &["--help"], b"", &[]);
    assert!(help.status.success(), "{help:?}");
    assert!(
        help.stdout
            .starts_with("Publish, subscribe, request and reply on a KCPQ server"),
        "{help:?}"
    );
    assert!(
        !help.stdout.contains("async client"),
        "not the crate's description"
    );
    for command in [
        "pub",
        "sub",
        "req",
        "reply",
        "server",
        "kcp://HOST:PORT",
        "--name",
    ] {
        assert!(help.stdout.contains(command), "{command}: {help:?}");
    }
    let publish = kcpq(dir.path(), &["pub", "--help"], b"", &[]);
    assert!(publish.stdout.contains("{{Count}}"), "{publish:?}");
    assert!(publish.stdout.contains("standard input"), "{publish:?}");
    let reply = kcpq(dir.path(), &["reply", "--help"], b"", &[]);
    assert!(
        reply.stdout.contains("never through a shell") && reply.stdout.contains("Kcpq-Error"),
        "{reply:?}"
    );
}
