//! The three adapters speak one protocol: a std client and a smol client exchange messages through
//! one (smol) server, a smol client and a tokio client through a tokio server, and a std server
//! serves a smol client and a tokio client. Real UDP on 127.0.0.1, bounded.

use std::time::Duration;

use futures_lite::StreamExt;
use kcpq_core::crypto::{Key, KeySet};
use kcpq_core::server::ServerConfig;

const WAIT: Duration = Duration::from_secs(20);

fn keys() -> KeySet {
    KeySet::single(Key::from_bytes([0x5a; 32]))
}

#[test]
fn std_and_smol_clients_exchange_messages_through_one_server() {
    smol::block_on(async {
        let server = kcpq_smol::Server::bind(
            "127.0.0.1:0".parse().unwrap(),
            keys(),
            ServerConfig::default(),
        )
        .await
        .expect("bind");
        let addr = server.local_addr();
        let handle = server.spawn();

        let async_client = kcpq_smol::Client::connect(addr, keys())
            .await
            .expect("smol connect");
        let mut from_std = async_client
            .subscribe("interop.from_std")
            .await
            .expect("subscribe");

        let blocking = std::thread::spawn(move || {
            let client = kcpq_std::Client::connect(addr, keys()).expect("std connect");
            let from_smol = client.subscribe("interop.from_smol").expect("subscribe");
            client
                .publish("interop.from_std", b"hello from std")
                .expect("publish");
            let message = from_smol.recv_timeout(WAIT).expect("a message from smol");
            client.close();
            message.payload
        });

        let got = kcpq_smol::with_timeout(WAIT, from_std.next())
            .await
            .ok()
            .flatten()
            .expect("a message from std");
        assert_eq!(&got.payload[..], b"hello from std");
        // The std client's subscription was confirmed before it published: it will hear this.
        async_client
            .publish("interop.from_smol", "hello from smol")
            .await
            .expect("publish");
        async_client.flush().await.expect("flush");
        let payload = blocking.join().expect("the std side finishes");
        assert_eq!(payload, b"hello from smol");
        async_client.close().await;
        handle.shutdown("done").await;
    });
}

#[test]
fn a_std_server_serves_a_smol_client() {
    let server =
        kcpq_std::Server::bind("127.0.0.1:0", keys(), ServerConfig::default()).expect("bind");
    let addr = server.local_addr();
    smol::block_on(async {
        let client = kcpq_smol::Client::connect(addr, keys())
            .await
            .expect("connect");
        let mut sub = client.subscribe("std.server.>").await.expect("subscribe");
        client
            .publish("std.server.x", "over a std server")
            .await
            .expect("publish");
        let got = kcpq_smol::with_timeout(WAIT, sub.next())
            .await
            .ok()
            .flatten()
            .expect("the message comes back");
        assert_eq!(&got.payload[..], b"over a std server");
        assert_eq!(got.subject, "std.server.x");
        client.close().await;
    });
    server.shutdown();
}

#[test]
fn smol_and_tokio_clients_exchange_messages_through_a_tokio_server() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let (handle, tokio_client, mut from_smol) = runtime.block_on(async {
        let server = kcpq_tokio::Server::bind(
            "127.0.0.1:0".parse().unwrap(),
            keys(),
            ServerConfig::default(),
        )
        .await
        .expect("bind");
        let handle = server.spawn();
        let client = kcpq_tokio::Client::connect(handle.local_addr(), keys())
            .await
            .expect("tokio connect");
        let sub = client
            .subscribe("interop.from_smol")
            .await
            .expect("subscribe");
        (handle, client, sub)
    });
    let addr = handle.local_addr();
    let smol_side = std::thread::spawn(move || {
        smol::block_on(async {
            let client = kcpq_smol::Client::connect(addr, keys())
                .await
                .expect("smol connect");
            let mut from_tokio = client
                .subscribe("interop.from_tokio")
                .await
                .expect("subscribe");
            client
                .publish("interop.from_smol", "hello from smol")
                .await
                .expect("publish");
            let got = kcpq_smol::with_timeout(WAIT, from_tokio.next())
                .await
                .ok()
                .flatten()
                .expect("a message from tokio");
            client.close().await;
            got.payload
        })
    });
    runtime.block_on(async {
        let got = kcpq_tokio::with_timeout(WAIT, from_smol.next())
            .await
            .ok()
            .flatten()
            .expect("a message from smol");
        assert_eq!(&got.payload[..], b"hello from smol");
        // The smol client subscribed before it published: it will hear this.
        tokio_client
            .publish("interop.from_tokio", "hello from tokio")
            .await
            .expect("publish");
        tokio_client.flush().await.expect("flush");
    });
    let payload = smol_side.join().expect("the smol side finishes");
    assert_eq!(&payload[..], b"hello from tokio");
    runtime.block_on(async {
        tokio_client.close().await;
        handle.shutdown("done").await;
    });
}

#[test]
fn a_std_server_serves_a_tokio_client() {
    let server =
        kcpq_std::Server::bind("127.0.0.1:0", keys(), ServerConfig::default()).expect("bind");
    let addr = server.local_addr();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let client = kcpq_tokio::Client::connect(addr, keys())
            .await
            .expect("connect");
        let mut sub = client.subscribe("std.server.>").await.expect("subscribe");
        client
            .publish("std.server.tokio", "over a std server")
            .await
            .expect("publish");
        let got = kcpq_tokio::with_timeout(WAIT, sub.next())
            .await
            .ok()
            .flatten()
            .expect("the message comes back");
        assert_eq!(&got.payload[..], b"over a std server");
        client.close().await;
    });
    server.shutdown();
}
