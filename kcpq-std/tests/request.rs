//! Request/reply, no responders, a 1 MiB payload and a wrong key, over UDP on 127.0.0.1.

mod common;

use std::time::{Duration, Instant};

use common::{WAIT, client, options, server};
use kcpq_std::core::crypto::{HandshakeError, Key, KeySet};
use kcpq_std::{Client, ConnectError, RequestError};

#[test]
fn a_request_gets_the_responders_reply() {
    let server = server();
    let responder = client(&server, "responder");
    let requester = client(&server, "requester");
    let service = responder.subscribe("math.double").expect("subscribe");
    let worker = std::thread::spawn(move || {
        let m = service.recv_timeout(WAIT).expect("request arrives");
        let n = u32::from_le_bytes(m.payload[..4].try_into().expect("4 bytes"));
        let reply = m.reply.expect("requests carry a reply subject");
        responder
            .publish_with_headers(&reply, None, &[("op", "double")], (2 * n).to_le_bytes())
            .expect("reply");
        responder.flush().expect("flush");
    });
    let answer = requester
        .request("math.double", 21u32.to_le_bytes(), WAIT)
        .expect("reply");
    assert_eq!(answer.payload, 42u32.to_le_bytes());
    assert_eq!(answer.header("op"), Some("double"));
    worker.join().expect("responder thread");
    server.shutdown();
}

#[test]
fn a_request_nobody_listens_to_fails_at_once_with_no_responders() {
    let server = server();
    let requester = client(&server, "requester");
    let started = Instant::now();
    let error = requester
        .request("nobody.home", b"?", WAIT)
        .expect_err("no responders");
    assert_eq!(error, RequestError::NoResponders);
    assert!(
        started.elapsed() < WAIT / 2,
        "answered at once, not by timeout"
    );
    let error = requester
        .request("bad subject", b"?", WAIT)
        .expect_err("invalid subject");
    assert!(matches!(error, RequestError::Invalid(_)), "{error:?}");
    server.shutdown();
}

#[test]
fn a_request_without_reply_times_out_within_its_bound() {
    let server = server();
    let silent = client(&server, "silent");
    let _sub = silent.subscribe("slow.service").expect("subscribe");
    let requester = client(&server, "requester");
    let started = Instant::now();
    let error = requester
        .request("slow.service", b"?", Duration::from_millis(200))
        .expect_err("nobody answers");
    assert_eq!(error, RequestError::TimedOut(Duration::from_millis(200)));
    assert!(started.elapsed() < Duration::from_secs(2));
    server.shutdown();
}

#[test]
fn a_one_mebibyte_payload_arrives_whole() {
    let server = server();
    let publisher = client(&server, "pub");
    let subscriber = client(&server, "sub");
    let sub = subscriber.subscribe("video.frame").expect("subscribe");
    let payload: Vec<u8> = (0..1024 * 1024).map(|i: u32| (i % 251) as u8).collect();
    assert_eq!(payload.len(), publisher.max_payload());
    publisher
        .publish("video.frame", payload.as_slice())
        .expect("publish 1 MiB");
    let m = sub.recv_timeout(WAIT).expect("frame arrives");
    assert!(m.payload == payload, "payload intact");
    let error = publisher
        .publish("video.frame", vec![0u8; payload.len() + 1])
        .expect_err("over the limit");
    assert!(
        matches!(error, kcpq_std::PublishError::Invalid(_)),
        "{error:?}"
    );
    server.shutdown();
}

#[test]
fn a_wrong_key_fails_to_connect_within_the_timeout_with_key_mismatch() {
    let server = server();
    let mut opts = options(server.local_addr(), "intruder");
    opts.keys = KeySet::single(Key::from_bytes([0x11; 32]));
    opts.connect_timeout = Duration::from_millis(800);
    let started = Instant::now();
    let error = Client::connect_with(opts).expect_err("wrong key");
    let elapsed = started.elapsed();
    assert!(
        matches!(
            error,
            ConnectError::Handshake(HandshakeError::KeyMismatchOrNoServer { server: s })
                if s == server.local_addr()
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("key mismatch"), "{error}");
    assert!(elapsed < Duration::from_secs(2), "failed after {elapsed:?}");
    assert_eq!(
        server.sessions().expect("sessions").len(),
        0,
        "no state for the intruder"
    );
    server.shutdown();
}

#[test]
fn server_reports_sessions_stats_and_events() {
    let server = server();
    let events = server.events();
    let c = client(&server, "watched");
    let sessions = server.sessions().expect("sessions");
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].name, "watched");
    c.close();
    let mut closed = false;
    while let Ok(event) = events.recv_timeout(WAIT) {
        if matches!(event, kcpq_std::ServerEvent::ClientDisconnected { ref name, .. } if name == "watched")
        {
            closed = true;
            break;
        }
    }
    assert!(closed, "the session's end is reported");
    assert_eq!(server.stats().expect("stats").sessions, 0);
    server.shutdown();
}
