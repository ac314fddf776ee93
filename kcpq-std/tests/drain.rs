//! Draining over real UDP on 127.0.0.1: a client's drain delivers what was routed to it before
//! it closes; a server's drain delivers what it queued before it closes every session.

mod common;

use std::net::UdpSocket;

use common::{WAIT, client, server, wait_for};
use kcpq_std::core::CloseReason;
use kcpq_std::{Event, RecvTimeoutError, ServerEvent};

const MESSAGES: u32 = 200;

#[test]
fn a_client_drain_delivers_every_pending_message_then_closes() {
    let server = server();
    let publisher = client(&server, "pub");
    let subscriber = client(&server, "sub");
    let events = subscriber.events();
    let sub = subscriber.subscribe("work").expect("subscribe");
    for i in 0..MESSAGES {
        publisher.publish("work", i.to_le_bytes()).expect("publish");
    }
    publisher.flush().expect("the server has routed everything");
    subscriber.drain(WAIT).expect("drain");

    for i in 0..MESSAGES {
        let m = sub.recv_timeout(WAIT).expect("every routed message");
        assert_eq!(m.payload, i.to_le_bytes());
    }
    assert_eq!(sub.recv_timeout(WAIT), Err(RecvTimeoutError::Closed));
    assert!(wait_for(&events, |e| matches!(e, Event::Closed)).is_some());
    let error = subscriber.publish("work", b"late").expect_err("closed");
    assert_eq!(error, kcpq_std::PublishError::Closed);
    server.shutdown();
}

#[test]
fn a_server_drain_delivers_what_it_queued_then_closes_every_session() {
    let server = server();
    let addr = server.local_addr();
    let server_events = server.events();
    let publisher = client(&server, "pub");
    let subscriber = client(&server, "sub");
    let events = subscriber.events();
    let sub = subscriber.subscribe("work").expect("subscribe");
    let owner_sub = server.subscribe("work").expect("owner subscribes");
    for i in 0..MESSAGES {
        publisher.publish("work", i.to_le_bytes()).expect("publish");
    }
    publisher.flush().expect("the server has routed everything");
    server.drain(WAIT).expect("drain");

    for i in 0..MESSAGES {
        let m = sub.recv_timeout(WAIT).expect("every queued message");
        assert_eq!(m.payload, i.to_le_bytes());
    }
    let disconnected = wait_for(&events, |e| matches!(e, Event::Disconnected(_)));
    assert!(
        matches!(
            disconnected,
            Some(Event::Disconnected(CloseReason::PeerClosed(_)))
        ),
        "the server's CLOSE arrived: {disconnected:?}"
    );
    let complete = wait_for(&server_events, |e| {
        matches!(e, ServerEvent::ShutdownComplete)
    });
    assert!(complete.is_some(), "ShutdownComplete");
    assert_eq!(owner_sub.pending(), MESSAGES as usize);
    let mut owner_got = 0;
    while owner_sub.recv_timeout(WAIT).is_ok() {
        owner_got += 1;
    }
    assert_eq!(
        owner_got, MESSAGES,
        "the owner's queue ends after what it held"
    );
    UdpSocket::bind(addr).expect("the port is free after the drain");
    subscriber.close();
}
