//! `kcpq pub` and `kcpq sub` as a user runs them: headers, bodies from standard input,
//! `--count` with `{{Count}}`, the output formats, queue groups, `kcp://` addresses, names, and
//! Ctrl-C.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::cli::{TestServer, merged_stdout, next_line, wait_for};
use serde_json::{Value, json};

/// Parses one JSON line of `kcpq sub --json`.
fn parse(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"))
}

#[test]
fn json_output_carries_headers_counts_and_stdin_bodies() {
    let server = TestServer::start(&[], false);
    let mut sub = server.start_kcpq(&["sub", "demo.>", "--json", "--count", "4"]);
    // In the JSON format the status line goes to standard error; stdout holds only messages.
    wait_for(&sub.stderr, "Subscribed to demo.>");

    let published = server.kcpq(&[
        "pub",
        "demo.count",
        "n={{Count}}",
        "--count",
        "2",
        "-H",
        "trace:{{Count}}",
        "-H",
        "Kind: test",
        "-H",
        "kind:twice",
    ]);
    assert!(published.status.success(), "{published:?}");
    assert!(
        published.stdout.contains("Published 2 messages"),
        "{published:?}"
    );
    // No body: standard input, bytes as they are (not UTF-8 here).
    let binary = server.kcpq_input(&["pub", "demo.binary"], b"\xff\x00\x01");
    assert!(binary.status.success(), "{binary:?}");
    // `-`: standard input too.
    let text = server.kcpq_input(&["pub", "demo.text", "-"], "h\u{e9}llo\n".as_bytes());
    assert!(text.status.success(), "{text:?}");

    let first = parse(&next_line(&sub.stdout));
    assert_eq!(
        first,
        json!({
            "subject": "demo.count",
            "reply": null,
            "headers": {"trace": ["1"], "Kind": ["test"], "kind": ["twice"]},
            "payload": "n=1",
        })
    );
    let second = parse(&next_line(&sub.stdout));
    assert_eq!(second["payload"], "n=2");
    assert_eq!(second["headers"]["trace"], json!(["2"]));
    let binary = parse(&next_line(&sub.stdout));
    assert_eq!(binary["subject"], "demo.binary");
    assert_eq!(binary["payload_b64"], "/wAB", "{binary}");
    assert!(binary.get("payload").is_none(), "{binary}");
    assert_eq!(binary["headers"], json!({}));
    let text = parse(&next_line(&sub.stdout));
    assert_eq!(text["payload"], "h\u{e9}llo\n", "{text}");
    assert!(sub.wait_exit().success(), "exits 0 after --count");
}

#[test]
fn raw_prints_payloads_only_and_headers_prints_headers() {
    let server = TestServer::start(&[], false);
    let raw = server.start_kcpq(&["sub", "raw.*", "--raw", "--count", "2"]);
    wait_for(&raw.stderr, "Subscribed to raw.*");
    let lines = server.start_kcpq(&["sub", "raw.*", "--headers", "--count", "2"]);
    wait_for(&lines.stdout, "Subscribed to raw.*");

    let published = server.kcpq_input(&["pub", "raw.a", "-H", "id:7"], b"line one\nline two");
    assert!(published.status.success(), "{published:?}");
    let published = server.kcpq(&["pub", "raw.b", "tab\there", "--reply", "answers.here"]);
    assert!(published.status.success(), "{published:?}");

    assert_eq!(next_line(&raw.stdout), "line one");
    assert_eq!(next_line(&raw.stdout), "line two");
    assert_eq!(next_line(&raw.stdout), "tab\there");

    assert_eq!(next_line(&lines.stdout), "[#1] raw.a: line one\\nline two");
    assert_eq!(next_line(&lines.stdout), "  id: 7");
    assert_eq!(
        next_line(&lines.stdout),
        "[#2] raw.b (reply to answers.here): tab\\there"
    );
}

#[test]
fn queue_group_members_share_the_messages() {
    const COUNT: usize = 20;
    let server = TestServer::start(&[], false);
    let mut members = [
        server.start_kcpq(&["sub", "jobs", "--queue", "workers", "--raw"]),
        server.start_kcpq(&["sub", "jobs", "--queue", "workers", "--raw"]),
    ];
    for member in &members {
        wait_for(&member.stderr, "Subscribed to jobs in queue group workers");
    }
    let count = COUNT.to_string();
    let published = server.kcpq(&["pub", "jobs", "job {{Count}}", "--count", &count]);
    assert!(published.status.success(), "{published:?}");

    let lines = merged_stdout(&mut members);
    let mut seen = BTreeSet::new();
    for _ in 0..COUNT {
        let line = next_line(&lines);
        assert!(seen.insert(line.clone()), "{line} delivered twice");
    }
    let expected: BTreeSet<String> = (1..=COUNT).map(|n| format!("job {n}")).collect();
    assert_eq!(seen, expected, "each message to one member");
}

#[test]
fn kcp_urls_and_names() {
    let server = TestServer::start(&[], true);
    let url = format!("kcp://{}", server.addr);
    let monitor = server.monitor.clone().expect("a monitor");
    let mut sub = server.start_kcpq(&["sub", "named", "--name", "watcher", "-s", &url]);
    wait_for(&sub.stdout, "Subscribed to named");

    let info = server.kcpq(&["server", "info", "--monitor", &monitor]);
    assert!(info.status.success(), "{info:?}");
    assert!(
        info.stdout
            .lines()
            .any(|l| l.trim_start().starts_with("watcher ")),
        "the client's name is listed: {info:?}"
    );

    let published = server.kcpq(&["pub", "named", "from kcp://", "-s", &url]);
    assert!(published.status.success(), "{published:?}");
    assert_eq!(next_line(&sub.stdout), "[#1] named: from kcp://");

    // A second client with the name takes it over (a restarted service gets its name back at
    // once); the first is told and stops instead of taking it back.
    let taken = server.kcpq(&["pub", "named", "x", "--name", "watcher", "-s", &url]);
    assert!(taken.status.success(), "{taken:?}");
    assert_eq!(sub.wait_exit().code(), Some(1));
    let why = wait_for(&sub.stderr, "took it over");
    assert!(why.contains("--name"), "{why}");

    // Ctrl-C closes the session properly: the name is free at once.
    let mut again = server.start_kcpq(&["sub", "named", "--name", "watcher2"]);
    wait_for(&again.stdout, "Subscribed to named");
    let status = Command::new("kill")
        .args(["-INT", &again.child.id().to_string()])
        .status()
        .expect("send SIGINT");
    assert!(status.success());
    assert_eq!(again.wait_exit().code(), Some(130), "128 + SIGINT");
    let info = server.kcpq(&["server", "info", "--monitor", &monitor]);
    assert!(
        !info.stdout.contains("watcher2"),
        "the session ended with the process: {info:?}"
    );
}

#[test]
fn a_server_that_refuses_duplicate_names_says_so() {
    let server = TestServer::start(&["--duplicate-names", "refuse"], false);
    let sub = server.start_kcpq(&["sub", "named", "--name", "watcher"]);
    wait_for(&sub.stdout, "Subscribed to named");
    let taken = server.kcpq(&["pub", "named", "x", "--name", "watcher"]);
    assert!(!taken.status.success(), "{taken:?}");
    assert!(
        taken.stderr.contains("already connected") && taken.stderr.contains("--name"),
        "{taken:?}"
    );
}
