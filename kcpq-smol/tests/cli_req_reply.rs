//! `kcpq req` and `kcpq reply` as a user runs them: headers on requests, fixed replies, replies
//! from a program run without a shell, and the error reply when the program fails.

mod common;

use common::cli::{TestServer, next_line, wait_for};
use serde_json::json;

#[test]
fn a_request_with_headers_gets_the_fixed_reply() {
    let server = TestServer::start(&[], false);
    let mut replier = server.start_kcpq(&["reply", "svc.ping", "pong", "--count", "1"]);
    wait_for(
        &replier.stdout,
        "Subscribed to svc.ping, answering requests",
    );
    // A subscriber on the same subject sees the request as sent: headers and reply subject.
    let watcher = server.start_kcpq(&["sub", "svc.ping", "--json", "--count", "1"]);
    wait_for(&watcher.stderr, "Subscribed to svc.ping");

    let reply = server.kcpq_input(
        &["req", "svc.ping", "-H", "trace:42", "-H", "who: me"],
        b"ping?",
    );
    assert!(reply.status.success(), "{reply:?}");
    assert_eq!(reply.stdout, "pong\n");

    let seen: serde_json::Value =
        serde_json::from_str(&next_line(&watcher.stdout)).expect("a JSON line");
    assert_eq!(seen["payload"], "ping?");
    assert_eq!(seen["headers"], json!({"trace": ["42"], "who": ["me"]}));
    assert!(
        seen["reply"]
            .as_str()
            .is_some_and(|r| r.starts_with("_INBOX.")),
        "{seen}"
    );
    wait_for(
        &replier.stdout,
        "[#1] answered a request on svc.ping: ping?",
    );
    assert!(replier.wait_exit().success(), "exits 0 after --count");
}

#[test]
fn a_program_answers_with_its_output_without_a_shell() {
    let server = TestServer::start(&[], false);
    let mut upper = server.start_kcpq(&[
        "reply",
        "svc.upper",
        "--count",
        "2",
        "--command",
        "tr",
        "a-z",
        "A-Z",
    ]);
    wait_for(&upper.stdout, "answering requests");
    let reply = server.kcpq_input(&["req", "svc.upper", "--raw"], b"hello\n");
    assert!(reply.status.success(), "{reply:?}");
    assert_eq!(
        reply.stdout, "HELLO\n\n",
        "the program's output byte for byte"
    );
    let reply = server.kcpq(&["req", "svc.upper", "quiet", "--json"]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(reply.stdout.trim()).expect("JSON")["payload"],
        "QUIET"
    );
    assert!(upper.wait_exit().success());

    // Shell syntax reaches the program as plain arguments.
    let echo = server.start_kcpq(&[
        "reply",
        "svc.echo",
        "--count",
        "1",
        "--command",
        "echo",
        "$HOME",
        ";",
        "|",
        "x",
    ]);
    wait_for(&echo.stdout, "answering requests");
    let reply = server.kcpq(&["req", "svc.echo", "", "--raw"]);
    assert!(reply.status.success(), "{reply:?}");
    assert_eq!(reply.stdout, "$HOME ; | x\n\n");
}

#[test]
fn a_failing_program_is_logged_and_answered_with_an_error() {
    let server = TestServer::start(&[], false);
    let failing = server.start_kcpq(&["reply", "svc.fail", "--command", "false"]);
    wait_for(&failing.stdout, "answering requests");
    let reply = server.kcpq(&["req", "svc.fail", "x"]);
    assert!(!reply.status.success(), "{reply:?}");
    assert!(reply.stdout.is_empty(), "{reply:?}");
    assert!(
        reply.stderr.contains("the responder on svc.fail failed")
            && reply.stderr.contains("`false` failed (exit status: 1)"),
        "{reply:?}"
    );
    let log = wait_for(&failing.stderr, "request #1 on svc.fail");
    assert!(
        log.contains("`false` failed") && log.contains("answered with an error reply"),
        "{log}"
    );

    let missing = server.start_kcpq(&["reply", "svc.none", "--command", "kcpq-no-such-program"]);
    wait_for(&missing.stdout, "answering requests");
    let reply = server.kcpq(&["req", "svc.none", "x", "--headers"]);
    assert!(!reply.status.success(), "{reply:?}");
    assert!(
        reply.stderr.contains("cannot run `kcpq-no-such-program`"),
        "{reply:?}"
    );

    let slow = server.start_kcpq(&[
        "reply",
        "svc.slow",
        "--command-timeout",
        "200ms",
        "--command",
        "sleep",
        "30",
    ]);
    wait_for(&slow.stdout, "answering requests");
    let reply = server.kcpq(&["req", "svc.slow", "x", "--timeout", "10s"]);
    assert!(!reply.status.success(), "{reply:?}");
    assert!(
        reply
            .stderr
            .contains("ran longer than 200ms and was killed"),
        "{reply:?}"
    );
}

#[test]
fn reply_needs_a_body_or_a_command() {
    let server = TestServer::start(&[], false);
    let neither = server.kcpq(&["reply", "svc"]);
    assert!(!neither.status.success());
    assert!(neither.stderr.contains("--command"), "{neither:?}");
}
