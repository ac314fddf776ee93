//! The server's owner as a participant over real UDP on 127.0.0.1: publish, publish_to,
//! subscribe, request and request_to.

mod common;

use std::time::{Duration, Instant};

use common::{WAIT, client, server};
use kcpq_std::core::server::ServerPublishError as CorePublishError;
use kcpq_std::{Client, RecvTimeoutError, ServerPublishError, ServerRequestError, TryRecvError};

/// Answers one request on `subject` with `answer`, on a thread.
fn respond_once(c: Client, subject: &str, answer: &'static [u8]) -> std::thread::JoinHandle<()> {
    let sub = c.subscribe(subject).expect("subscribe");
    std::thread::spawn(move || {
        let m = sub.recv_timeout(WAIT).expect("the request arrives");
        let reply = m.reply.expect("requests carry a reply subject");
        c.publish(&reply, answer).expect("reply");
        c.flush().expect("flush");
    })
}

#[test]
fn the_owner_publishes_to_subscribers_and_receives_what_clients_publish() {
    let server = server();
    let c = client(&server, "c");
    let news = c.subscribe("news.>").expect("client subscribes");
    let inbox = server.subscribe("owner.*").expect("owner subscribes");

    server
        .publish_with_headers(
            None,
            "news.today",
            Some("owner.answers"),
            &[("k", "v")],
            b"hello",
        )
        .expect("owner publishes");
    let m = news.recv_timeout(WAIT).expect("the client gets it");
    assert_eq!(m.payload, b"hello");
    assert_eq!(m.reply.as_deref(), Some("owner.answers"));
    assert_eq!(m.header("k"), Some("v"));

    c.publish("owner.ping", b"up").expect("client publishes");
    c.publish("other.ping", b"no").expect("client publishes");
    c.flush().expect("flush");
    let m = inbox.recv_timeout(WAIT).expect("the owner gets it");
    assert_eq!(
        (m.subject.as_str(), m.payload.as_slice()),
        ("owner.ping", &b"up"[..])
    );
    assert_eq!(m.sid, inbox.sid());
    assert_eq!(inbox.try_recv(), Err(TryRecvError::Empty));

    let error = server.publish("bad subject", b"").expect_err("invalid");
    assert!(matches!(error, ServerPublishError::Refused(_)), "{error:?}");
    server.shutdown();
    assert_eq!(inbox.recv_timeout(WAIT), Err(RecvTimeoutError::Closed));
}

#[test]
fn publish_to_reaches_only_the_named_client() {
    let server = server();
    let a = client(&server, "a");
    let b = client(&server, "b");
    let to_a = a.subscribe("direct").expect("a subscribes");
    let to_b = b.subscribe("direct").expect("b subscribes");
    server
        .publish_to("b", "direct", b"for b")
        .expect("publish_to");
    assert_eq!(
        to_b.recv_timeout(WAIT).expect("b gets it").payload,
        b"for b"
    );
    a.flush().expect("a's round trip");
    assert_eq!(to_a.try_recv(), Err(TryRecvError::Empty), "a gets nothing");

    let error = server
        .publish_to("nobody", "direct", b"?")
        .expect_err("unknown client");
    assert_eq!(
        error,
        ServerPublishError::Refused(CorePublishError::UnknownClient("nobody".to_owned()))
    );
    server.shutdown();
}

#[test]
fn the_owners_requests_get_replies_from_everyone_or_from_the_named_client() {
    let server = server();
    let a = respond_once(client(&server, "a"), "svc.a", b"from a");
    let reply = server.request("svc.a", b"?", WAIT).expect("a reply from a");
    assert_eq!(reply.payload, b"from a");
    a.join().expect("responder a");

    let x = client(&server, "x");
    let y = client(&server, "y");
    let _x_listens = x.subscribe("svc.both").expect("x subscribes");
    let y_answers = respond_once(y, "svc.both", b"from y");
    let reply = server
        .request_to("y", "svc.both", b"?", WAIT)
        .expect("a reply from y");
    assert_eq!(reply.payload, b"from y");
    y_answers.join().expect("responder y");

    let started = Instant::now();
    let error = server
        .request("nobody.home", b"?", WAIT)
        .expect_err("no responders");
    assert_eq!(error, ServerRequestError::NoResponders);
    assert!(started.elapsed() < WAIT / 2, "answered at once");
    let error = server
        .request("svc.both", b"?", Duration::from_millis(200))
        .expect_err("x never answers");
    assert_eq!(
        error,
        ServerRequestError::TimedOut(Duration::from_millis(200))
    );
    server.shutdown();
}

#[test]
fn a_client_request_is_answered_by_the_owner() {
    let server = server();
    let service = server.subscribe("time.now").expect("owner subscribes");
    let c = client(&server, "c");
    let asking = std::thread::spawn(move || c.request("time.now", b"?", WAIT));
    let m = service.recv_timeout(WAIT).expect("the request arrives");
    let reply = m.reply.expect("requests carry a reply subject");
    server.publish(&reply, b"noon").expect("the owner answers");
    let answer = asking.join().expect("requester").expect("a reply");
    assert_eq!(answer.payload, b"noon");
    server.shutdown();
}
