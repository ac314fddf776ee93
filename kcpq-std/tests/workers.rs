//! A server of several workers over real UDP on 127.0.0.1: clients spread over the workers'
//! sockets (SO_REUSEPORT) see one server, and the server's owner sees one server too.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::mpsc;

use common::{WAIT, keys, options};
use kcpq_std::core::CloseReason;
use kcpq_std::core::server::WorkerGroupError;
use kcpq_std::{BindError, Client, Event, RecvTimeoutError, Server, ServerEvent, ServerOptions};

fn options_for(addr: SocketAddr, workers: usize) -> ServerOptions {
    let mut options = ServerOptions::new(addr, keys());
    options.workers = workers;
    options
}

fn server(workers: usize) -> Server {
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    Server::bind_with(options_for(any, workers)).expect("bind a server of several workers")
}

/// Connects clients until each of the server's two workers owns `each` of them; returns them
/// grouped by worker (`[on worker 0, on worker 1]`). The kernel spreads them by their port, so
/// a few more than `2 * each` are usually enough; 64 without both workers would be a bug.
fn clients_on_both(server: &Server, each: usize) -> [Vec<Client>; 2] {
    let mut on = [Vec::new(), Vec::new()];
    for i in 0..64 {
        let client =
            Client::connect_with(options(server.local_addr(), &format!("c{i}"))).expect("connect");
        let sessions = server.sessions().expect("sessions");
        let session = (sessions.iter())
            .find(|s| s.name == client.client_name())
            .expect("the server knows the session once connect returns");
        if on[session.worker].len() < each {
            on[session.worker].push(client);
        }
        if on.iter().all(|clients| clients.len() == each) {
            return on;
        }
    }
    panic!("64 clients and one worker owns fewer than {each} of them");
}

fn number(payload: &[u8]) -> u32 {
    u32::from_le_bytes(payload[..4].try_into().expect("4 bytes"))
}

#[test]
fn clients_on_both_workers_publish_subscribe_queue_and_request_as_on_one_server() {
    let server = server(2);
    assert_eq!(server.workers(), 2);
    let [zero, one] = clients_on_both(&server, 2);
    let all: Vec<&Client> = zero.iter().chain(&one).collect();

    // Everyone subscribes; one publisher on each worker; everyone gets everything, in order.
    let subs: Vec<_> = (all.iter())
        .map(|c| c.subscribe("feed.>").expect("subscribe"))
        .collect();
    for i in 0..20u32 {
        let publisher = [&zero[0], &one[0]][i as usize % 2];
        publisher
            .publish("feed.x", i.to_le_bytes())
            .expect("publish");
    }
    for sub in &subs {
        let mut seen = [Vec::new(), Vec::new()];
        for _ in 0..20 {
            let n = number(&sub.recv_timeout(WAIT).expect("a message").payload);
            seen[n as usize % 2].push(n);
        }
        for from_one_publisher in seen {
            let sorted = from_one_publisher.windows(2).all(|w| w[0] < w[1]);
            assert!(sorted, "one publisher's order: {from_one_publisher:?}");
        }
    }

    // A queue group with two members on each worker: each job to exactly one member, and the
    // publisher's worker picks members of the other worker too.
    let (tx, jobs) = mpsc::channel();
    let mut members = Vec::new();
    for (worker, clients) in [&zero, &one].into_iter().enumerate() {
        for c in clients {
            let tx = tx.clone();
            let forward = move |m: kcpq_std::Message| _ = tx.send((worker, number(&m.payload)));
            let member = c.subscribe_callback_with(
                "jobs",
                kcpq_std::SubscribeOptions::queue_group("pool"),
                forward,
            );
            members.push(member.expect("join the queue group"));
        }
    }
    for i in 0..40u32 {
        zero[0].publish("jobs", i.to_le_bytes()).expect("publish");
    }
    let mut got = Vec::new();
    for _ in 0..40 {
        got.push(jobs.recv_timeout(WAIT).expect("a job"));
    }
    let numbers: BTreeSet<u32> = got.iter().map(|&(_, n)| n).collect();
    assert_eq!(numbers, (0..40).collect(), "each job exactly once");
    for worker in 0..2 {
        assert!(
            got.iter().any(|&(w, _)| w == worker),
            "no job for the members on worker {worker}"
        );
    }
    for c in &all {
        c.flush().expect("flush");
    }
    assert!(
        jobs.try_recv().is_err(),
        "no job delivered twice (as far as a flush shows)"
    );

    // A request right after the responder's subscribe finds it, whichever worker it is on.
    let service = one[1].subscribe("svc.time").expect("subscribe");
    let responder = one[1].clone();
    let answering = std::thread::spawn(move || {
        let request = service.recv_timeout(WAIT).expect("a request");
        let reply = request.reply.expect("a reply subject");
        responder.publish(&reply, "noon").expect("reply");
    });
    let answer = (zero[1].request("svc.time", "now?", WAIT)).expect("an answer, not no-responders");
    assert_eq!(answer.payload, b"noon");
    answering.join().expect("the responder ran");

    // One server to its owner: what clients on either worker publish reaches its
    // subscription, what it publishes reaches clients on either worker.
    let audit = server.subscribe("owner.in").expect("owner subscribe");
    let inboxes: Vec<_> = [&zero[0], &one[0]]
        .iter()
        .map(|c| c.subscribe("owner.out").expect("subscribe"))
        .collect();
    zero[0].publish("owner.in", b"from 0").expect("publish");
    one[0].publish("owner.in", b"from 1").expect("publish");
    let mut heard = BTreeSet::new();
    for _ in 0..2 {
        heard.insert(audit.recv_timeout(WAIT).expect("to the owner").payload);
    }
    assert_eq!(
        heard,
        BTreeSet::from([b"from 0".to_vec(), b"from 1".to_vec()])
    );
    server
        .publish("owner.out", b"to all")
        .expect("owner publish");
    for inbox in &inboxes {
        let m = inbox.recv_timeout(WAIT).expect("from the owner");
        assert_eq!(m.payload, b"to all");
    }

    // Counted once: every session, the sum of the workers' counters.
    let stats = server.stats().expect("stats");
    assert_eq!(stats.sessions, all.len() as u64);
    let per_worker = server.worker_stats().expect("each worker's stats");
    assert_eq!(per_worker.len(), 2);
    assert!(per_worker.iter().all(|w| w.sessions == 2), "{per_worker:?}");
    assert!(
        stats.cross_out > 0,
        "clients on both workers, nothing crossed"
    );
    let sessions = server.sessions().expect("sessions");
    assert_eq!(sessions.len(), all.len());
    assert!(server.io_wakeups() > 0);

    // Shutdown stops every worker: the event stream ends (every worker's sink is gone), with
    // one ShutdownComplete, and the address is free for a server of two workers again.
    let events = server.events();
    let addr = server.local_addr();
    server.shutdown();
    let mut completes = 0;
    loop {
        match events.recv_timeout(WAIT) {
            Ok(ServerEvent::ShutdownComplete) => completes += 1,
            Ok(_) => {}
            Err(end) => {
                assert_eq!(end, RecvTimeoutError::Closed, "the stream ends");
                break;
            }
        }
    }
    assert_eq!(
        completes, 1,
        "the server completes once, not once per worker"
    );
    all.iter().for_each(|c| c.close());
    drop(members);
    let again = Server::bind_with(options_for(addr, 2)).expect("every socket was closed");
    again.shutdown();
}

#[test]
fn an_address_in_use_and_a_worker_count_out_of_range_are_refused() {
    let server = server(2);
    let addr = server.local_addr();
    for workers in [1, 2] {
        match Server::bind_with(options_for(addr, workers)) {
            Err(BindError::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse),
            other => panic!("{workers} worker(s) on an address in use: {other:?}"),
        }
    }
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    for workers in [0, 65] {
        let refused = Server::bind_with(options_for(any, workers));
        let count = WorkerGroupError::Count(workers);
        assert!(
            matches!(refused, Err(BindError::Workers(ref e)) if *e == count),
            "{workers} workers"
        );
    }
    // Dropping the server stops every worker and frees the address.
    drop(server);
    Server::bind_with(options_for(addr, 2))
        .expect("the address is free again")
        .shutdown();
}

#[test]
fn draining_a_server_of_two_workers_delivers_what_is_queued_then_closes_every_session() {
    let server = server(2);
    let [zero, one] = clients_on_both(&server, 1);
    let sub = one[0].subscribe("last.words").expect("subscribe");
    zero[0].publish("last.words", b"bye").expect("publish");
    assert_eq!(sub.recv_timeout(WAIT).expect("delivered").payload, b"bye");
    let addr = server.local_addr();
    server.drain(WAIT).expect("drained within the bound");
    for client in [&zero[0], &one[0]] {
        let closed = common::wait_for(&client.events(), |e| {
            matches!(e, Event::Disconnected(CloseReason::PeerClosed(_)))
        });
        assert!(closed.is_some(), "{} got the CLOSE", client.client_name());
        client.close();
    }
    Server::bind_with(options_for(addr, 2))
        .expect("the address is free again")
        .shutdown();
}

#[test]
fn the_event_stream_keeps_at_most_event_capacity_events_and_counts_the_rest() {
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut options = options_for(any, 2);
    options.event_capacity = 2;
    let server = Server::bind_with(options).expect("bind");
    // Each connect is one event (ClientConnected): five of them, nobody reading.
    let clients: Vec<Client> = (0..5)
        .map(|i| Client::connect_with(common::options(server.local_addr(), &format!("e{i}"))))
        .collect::<Result<_, _>>()
        .expect("connect");
    assert_eq!(server.sessions().expect("sessions").len(), 5);
    let events = server.events();
    let mut kept = 0;
    while events.try_recv().is_ok() {
        kept += 1;
    }
    assert_eq!(kept, 2);
    assert_eq!(events.dropped(), 3);
    drop(clients);
}
