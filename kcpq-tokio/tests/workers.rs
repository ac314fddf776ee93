//! A server of several workers over real UDP on tokio: clients spread over the workers'
//! sockets (SO_REUSEPORT) see one server.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{bounded, client, keys};
use futures_lite::StreamExt;
use kcpq_tokio::{Server, ServerHandle, ServerOptions, with_timeout};

const CLIENTS: usize = 10;

async fn server(workers: usize) -> ServerHandle {
    let mut options = ServerOptions::new(SocketAddr::from(([127, 0, 0, 1], 0)), keys());
    options.workers = workers;
    Server::bind_with(options)
        .await
        .expect("bind a server of several workers")
        .spawn()
}

#[test]
fn clients_on_different_workers_publish_subscribe_queue_and_request_as_on_one() {
    bounded(Duration::from_secs(60), async {
        let server = server(2).await;
        assert_eq!(server.workers(), 2);
        let mut clients = Vec::new();
        for _ in 0..CLIENTS {
            clients.push(client(server.local_addr()).await);
        }
        // Everyone subscribes; two of them publish; everyone gets everything, in order.
        let mut subs = Vec::new();
        for c in &clients {
            subs.push(c.subscribe("feed.>").await.expect("subscribe"));
        }
        for i in 0..20u32 {
            let publisher = &clients[i as usize % 2];
            publisher
                .publish("feed.x", i.to_le_bytes().to_vec())
                .await
                .expect("publish");
        }
        for sub in &mut subs {
            let mut seen = [Vec::new(), Vec::new()];
            for _ in 0..20 {
                let m = with_timeout(Duration::from_secs(10), sub.next())
                    .await
                    .expect("a message within 10 s")
                    .expect("the stream goes on");
                let n = u32::from_le_bytes(m.payload[..4].try_into().expect("4 bytes"));
                seen[n as usize % 2].push(n);
            }
            for mine in seen {
                assert!(mine.windows(2).all(|w| w[0] < w[1]), "order: {mine:?}");
            }
        }
        // A queue group over the clients: each message to exactly one member.
        let mut members = Vec::new();
        for c in &clients[2..] {
            members.push(c.queue_subscribe("jobs", "pool").await.expect("subscribe"));
        }
        for i in 0..40u32 {
            clients[0]
                .publish("jobs", i.to_le_bytes().to_vec())
                .await
                .expect("publish");
        }
        clients[0].flush().await.expect("flush");
        let mut got = Vec::new();
        while got.len() < 40 {
            for m in &mut members {
                while let Ok(Some(msg)) = with_timeout(Duration::from_millis(50), m.next()).await {
                    got.push(u32::from_le_bytes(
                        msg.payload[..4].try_into().expect("4 bytes"),
                    ));
                }
            }
        }
        got.sort_unstable();
        assert_eq!(got, (0..40).collect::<Vec<_>>(), "each job exactly once");
        // A responder subscribed a moment ago answers a request at once, whichever worker.
        let responder = clients[CLIENTS - 1].clone();
        let mut service = responder.subscribe("svc.time").await.expect("subscribe");
        let answering = tokio::spawn(async move {
            let request = service.next().await.expect("a request");
            let reply = request.reply.clone().expect("a reply subject");
            responder.publish(&reply, "noon").await.expect("reply");
        });
        let answer = clients[1]
            .request("svc.time", "now?", Duration::from_secs(10))
            .await
            .expect("an answer, not no-responders");
        assert_eq!(&answer.payload[..], b"noon");
        answering.await.expect("the responder ran");
        // One server to the owner: every session, counted once.
        let stats = server.stats().await.expect("stats");
        assert_eq!(stats.sessions, CLIENTS as u64);
        let sessions = server.sessions().await.expect("sessions");
        assert_eq!(sessions.len(), CLIENTS);
        assert!(sessions.iter().all(|s| s.worker < 2));
        if sessions.iter().any(|s| s.worker == 1) && sessions.iter().any(|s| s.worker == 0) {
            assert!(
                stats.cross_out > 0,
                "clients on both workers, nothing crossed"
            );
        }
        server.shutdown("test over").await;
    });
}
