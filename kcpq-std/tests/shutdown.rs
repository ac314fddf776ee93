//! A server that shuts down tells its clients, frees its port at once, and stops cleanly.

mod common;

use std::net::UdpSocket;

use common::{WAIT, client, server, wait_for};
use kcpq_std::core::CloseReason;
use kcpq_std::{Event, RecvTimeoutError};

#[test]
fn shutdown_sends_close_to_every_client_and_frees_the_port() {
    let server = server();
    let addr = server.local_addr();
    let a = client(&server, "a");
    let b = client(&server, "b");
    let events = a.events();
    let sub = b.subscribe("news").expect("subscribe");
    server.shutdown();

    let disconnected = loop {
        match events.recv_timeout(WAIT).expect("a disconnect event") {
            Event::Disconnected(reason) => break reason,
            _ => continue,
        }
    };
    assert!(
        matches!(disconnected, CloseReason::PeerClosed(_)),
        "the server's CLOSE arrived: {disconnected:?}"
    );
    // The client reconnects by itself, so the subscription stays open.
    assert_eq!(
        sub.recv_timeout(std::time::Duration::from_millis(50)),
        Err(RecvTimeoutError::Timeout)
    );
    UdpSocket::bind(addr).expect("the port is free after shutdown");
    a.close();
    assert!(
        wait_for(&events, |e| matches!(e, Event::Closed)).is_some(),
        "Closed after close()"
    );
}

#[test]
fn clients_reconnect_to_a_restarted_server_and_their_subscriptions_deliver_again() {
    let first = server();
    let addr = first.local_addr();
    let subscriber = client(&first, "sub");
    let events = subscriber.events();
    let sub = subscriber.subscribe("restart.>").expect("subscribe");
    first.shutdown();

    let second = kcpq_std::Server::bind(addr, common::keys(), kcpq_std::ServerConfig::default())
        .expect("rebind the same port");
    let publisher = client(&second, "pub");
    let deadline = std::time::Instant::now() + WAIT;
    let delivered = loop {
        publisher
            .publish("restart.ping", b"again")
            .expect("publish");
        match sub.recv_timeout(std::time::Duration::from_millis(100)) {
            Ok(m) => break m,
            Err(RecvTimeoutError::Timeout) if std::time::Instant::now() < deadline => continue,
            Err(e) => panic!("the subscription did not deliver after the restart: {e}"),
        }
    };
    assert_eq!(delivered.payload, b"again");
    let reconnected = wait_for(&events, |e| matches!(e, Event::Reconnected { .. }));
    assert!(reconnected.is_some(), "a Reconnected event");
    second.shutdown();
}

#[test]
fn an_idle_client_and_server_sleep() {
    let server = server();
    let c = client(&server, "idle");
    let _sub = c.subscribe("quiet").expect("subscribe");
    c.flush().expect("flush");
    let (client_before, server_before) = (c.io_wakeups(), server.io_wakeups());
    // Idleness can only be observed by letting time pass.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let client_turns = c.io_wakeups() - client_before;
    let server_turns = server.io_wakeups() - server_before;
    assert!(
        client_turns <= 3,
        "idle client woke {client_turns} times in 500 ms"
    );
    assert!(
        server_turns <= 3,
        "idle server woke {server_turns} times in 500 ms"
    );
    server.shutdown();
}
