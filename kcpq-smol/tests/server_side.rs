//! The embedding application on the broker itself: events, client list, publish, request and
//! subscribe from the server side.

mod common;

use std::time::Duration;

use common::{bounded, client, server};
use futures_lite::StreamExt;
use kcpq_smol::{ServerEvent, ServerRequestError};

#[test]
fn the_owner_publishes_requests_subscribes_and_sees_events() {
    bounded(Duration::from_secs(20), async {
        let server = server().await;
        let mut events = server.events();
        let client = client(server.local_addr()).await;
        let name = client.client_name().to_owned();
        match events.next().await.expect("an event") {
            ServerEvent::ClientConnected { name: n, .. } => assert_eq!(n, name),
            other => panic!("unexpected {other:?}"),
        }
        let clients = server.sessions().await.expect("clients");
        assert_eq!(clients.len(), 1);
        assert!(clients[0].last_heard >= clients[0].connected_since);

        let mut news = client.subscribe("news.>").await.expect("subscribe");
        server
            .publish("news.today", "from the server")
            .await
            .expect("publish");
        server
            .publish_to(&name, "news.private", "only you")
            .await
            .expect("publish_to");
        assert_eq!(
            news.next().await.expect("message").payload,
            &b"from the server"[..]
        );
        assert_eq!(
            news.next().await.expect("message").payload,
            &b"only you"[..]
        );

        let mut asked = client.subscribe("ask.client").await.expect("subscribe");
        let answering = client.clone();
        let responder = smol::spawn(async move {
            let request = asked.next().await.expect("the server's request");
            let reply = request.reply.expect("a reply subject");
            answering
                .publish(&reply, "client says hi")
                .await
                .expect("reply");
        });
        let reply = server
            .request("ask.client", "hello?", Duration::from_secs(5))
            .await
            .expect("a reply from the client");
        assert_eq!(reply.payload, &b"client says hi"[..]);
        responder.await;

        let mut service = server.subscribe("svc.server").await.expect("subscribe");
        let owner = server.clone();
        let _service = smol::spawn(async move {
            while let Some(request) = service.next().await {
                if let Some(reply) = request.reply {
                    let _ = owner.publish(&reply, "server says hi").await;
                }
            }
        });
        let reply = client
            .request("svc.server", "hello?", Duration::from_secs(5))
            .await
            .expect("a reply from the server");
        assert_eq!(reply.payload, &b"server says hi"[..]);

        let err = server
            .request("nobody.home", "x", Duration::from_secs(5))
            .await
            .expect_err("no responders");
        assert_eq!(err, ServerRequestError::NoResponders);

        client.close().await;
        match events.next().await.expect("an event") {
            ServerEvent::ClientDisconnected { name: n, .. } => assert_eq!(n, name),
            other => panic!("unexpected {other:?}"),
        }
    });
}
