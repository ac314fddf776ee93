//! A server and clients whose tasks run on executors the test drives on its own thread
//! (`Spawner::Executor`), over real UDP on 127.0.0.1. The server and the clients get one
//! executor each, so each check sees whose tasks went where.

mod common;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{keys, options};
use futures_lite::StreamExt;
use kcpq_smol::{Client, Server, ServerOptions, Spawner, with_timeout};
use smol::Executor;

const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn server_and_clients_run_on_the_callers_executor() {
    let server_executor = Arc::new(Executor::new());
    let executor = Arc::new(Executor::new());
    let spawner = Spawner::Executor(executor.clone());
    let test = async {
        let mut server_options = ServerOptions::new(SocketAddr::from(([127, 0, 0, 1], 0)), keys());
        server_options.spawner = Spawner::Executor(server_executor.clone());
        let server = Server::bind_with(server_options)
            .await
            .expect("bind a server on 127.0.0.1")
            .spawn();
        assert!(
            !server_executor.is_empty(),
            "Server::spawn put the server on the given executor"
        );
        assert!(executor.is_empty());

        let mut client_options = options(server.local_addr());
        client_options.spawner = spawner.clone();
        let responder = Client::connect_with(client_options.clone())
            .await
            .expect("connect");
        assert!(
            !executor.is_empty(),
            "the client's driver runs on the given executor"
        );
        let requester = Client::connect_with(client_options).await.expect("connect");

        let mut service = responder.subscribe("svc.echo").await.expect("subscribe");
        let answering = {
            let responder = responder.clone();
            executor.spawn(async move {
                while let Some(request) = service.next().await {
                    let reply = request
                        .reply
                        .clone()
                        .expect("a request has a reply subject");
                    responder
                        .publish(&reply, request.payload)
                        .await
                        .expect("reply");
                }
            })
        };
        let seen = Arc::new(AtomicUsize::new(0));
        let counted = {
            let seen = seen.clone();
            requester
                .subscribe_callback("svc.echo", move |_| {
                    seen.fetch_add(1, Ordering::SeqCst);
                })
                .await
                .expect("subscribe with a callback")
        };
        requester.flush().await.expect("flush");
        responder.flush().await.expect("flush");
        for i in 0..20u32 {
            let answer = requester
                .request("svc.echo", i.to_le_bytes().to_vec(), Duration::from_secs(5))
                .await
                .expect("request");
            assert_eq!(&answer.payload[..], &i.to_le_bytes());
        }
        requester.flush().await.expect("flush");
        assert_eq!(
            seen.load(Ordering::SeqCst),
            20,
            "the callback saw every request"
        );

        drop(counted);
        drop(answering);
        requester.close().await;
        responder.close().await;
        server.shutdown("test over").await;
    };
    run_both(&server_executor, &executor, async {
        with_timeout(LIMIT, test)
            .await
            .expect("the test did not finish within its bound")
    });
    // The drivers end shortly after close and shutdown return (their last datagrams leave
    // first); nothing signals that moment, so look every few milliseconds, within the bound.
    run_both(&server_executor, &executor, async {
        with_timeout(LIMIT, async {
            while !(executor.is_empty() && server_executor.is_empty()) {
                smol::Timer::after(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("every task the server and the clients started ends")
    });
}

/// Runs `future` on this thread, driving both executors while it waits.
fn run_both<T>(a: &Executor<'_>, b: &Executor<'_>, future: impl Future<Output = T>) -> T {
    smol::block_on(a.run(b.run(future)))
}
