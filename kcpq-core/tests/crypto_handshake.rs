//! The handshake end to end: initiator and responder exchanging datagrams in memory, with a
//! virtual clock, loss, replays, wrong keys, key rotation, bounds and stateless resets.

use std::net::SocketAddr;
use std::time::Duration;

use kcpq_core::Instant;
use kcpq_core::crypto::handshake::{ACCEPT_LEN, COOKIE_LEN, INITIATION_LEN, MAX_HANDSHAKE_LEN};
use kcpq_core::crypto::{
    BufferTooSmall, DATA_HEADER_LEN, DATA_OVERHEAD, EstablishDrop, EstablishedSession,
    HandshakeError, HandshakeInitiator, HandshakeOutcome, HandshakeResponder, InitiatorConfig, Key,
    KeySet, OpenDrop, ResponderConfig, conv_for, peek_session_id,
};
use kcpq_core::rng::Rng;

const SERVER: &str = "127.0.0.1:4222";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn key(b: u8) -> Key {
    Key::from_bytes([b; 32])
}

fn keys(list: &[u8]) -> KeySet {
    KeySet::from_keys(list.iter().map(|&b| key(b)).collect(), "test").unwrap()
}

fn responder(k: &KeySet, config: ResponderConfig) -> HandshakeResponder {
    HandshakeResponder::new(k, Rng::from_seed([100; 32]), config, Instant::ZERO)
}

fn initiator(now: Instant, k: &KeySet, seed: u8) -> HandshakeInitiator {
    let mut rng = Rng::from_seed([seed; 32]);
    HandshakeInitiator::new(now, addr(SERVER), k, &mut rng, InitiatorConfig::default())
}

/// Runs one client against the responder until the client has an outcome. `lose` decides, per
/// datagram index, whether it is lost. Returns the outcome and the time it came.
fn run(
    now: &mut Instant,
    client: &mut HandshakeInitiator,
    server: &mut HandshakeResponder,
    from: SocketAddr,
    mut lose: impl FnMut(usize) -> bool,
) -> HandshakeOutcome {
    let mut sent = 0;
    for _ in 0..1000 {
        let mut buf = [0u8; MAX_HANDSHAKE_LEN];
        while let Some(n) = client.poll_transmit(*now, &mut buf).unwrap() {
            sent += 1;
            if lose(sent) {
                continue;
            }
            let mut reply = [0u8; 128];
            if let Some(r) = server.handle(*now, from, &buf[..n], &mut reply).unwrap() {
                assert!(r <= n, "reply {r} larger than request {n}");
                sent += 1;
                if !lose(sent) {
                    client.handle_datagram(*now, &reply[..r]);
                }
            }
        }
        if let Some(outcome) = client.poll_outcome() {
            return outcome;
        }
        *now = client
            .poll_timeout()
            .expect("a pending handshake has a deadline");
        client.handle_timeout(*now);
    }
    panic!("handshake did not end");
}

fn established(outcome: HandshakeOutcome) -> EstablishedSession {
    match outcome {
        HandshakeOutcome::Established(s) => *s,
        other => panic!("expected a session, got {other:?}"),
    }
}

/// Sends the client's first data packet and establishes the session on the server.
fn establish(
    now: Instant,
    client: &mut EstablishedSession,
    server: &mut HandshakeResponder,
    from: SocketAddr,
) -> EstablishedSession {
    let mut pkt = first_packet(client, b"CONNECT");
    let (session, opened) = server
        .try_establish(now, from, &mut pkt)
        .expect("establishes");
    assert_eq!(&pkt[opened.payload], b"CONNECT");
    session
}

fn first_packet(client: &mut EstablishedSession, payload: &[u8]) -> Vec<u8> {
    let mut pkt = vec![0u8; payload.len() + DATA_OVERHEAD];
    pkt[DATA_HEADER_LEN..DATA_HEADER_LEN + payload.len()].copy_from_slice(payload);
    let n = client.protection.seal(&mut pkt, payload.len()).unwrap();
    pkt.truncate(n);
    pkt
}

#[test]
fn handshake_then_data_both_ways() {
    let k = keys(&[1]);
    let mut server = responder(&k, ResponderConfig::default());
    let mut client = initiator(Instant::ZERO, &k, 1);
    let mut now = Instant::ZERO;
    let from = addr("10.0.0.1:5000");
    let mut c = established(run(&mut now, &mut client, &mut server, from, |_| false));
    assert_eq!(now, Instant::ZERO, "no retransmission on a perfect link");
    assert!(client.is_done() && client.poll_timeout().is_none() && client.poll_outcome().is_none());
    assert_eq!(server.half_open_len(), 1);
    assert!(server.is_half_open(c.session_id));
    let mut s = establish(now, &mut c, &mut server, from);
    assert_eq!(server.half_open_len(), 0);
    assert_eq!(server.stats().established, 1);
    assert_eq!(s.session_id, c.session_id);
    assert_eq!(s.peer, from);
    assert_eq!(s.key_id, k.primary().id());
    assert_eq!(conv_for(s.session_id), conv_for(c.session_id));
    for i in 0..100u32 {
        let mut pkt = first_packet(&mut s, &i.to_be_bytes());
        let opened = c.protection.open(now, &mut pkt).unwrap();
        assert_eq!(pkt[opened.payload], i.to_be_bytes());
        let mut pkt = first_packet(&mut c, &i.to_le_bytes());
        assert_eq!(peek_session_id(&pkt), Some(s.session_id));
        let opened = s.protection.open(now, &mut pkt).unwrap();
        assert_eq!(pkt[opened.payload], i.to_le_bytes());
    }
}

#[test]
fn retransmissions_get_identical_replies_and_one_entry() {
    let k = keys(&[1]);
    let mut server = responder(&k, ResponderConfig::default());
    let mut client = initiator(Instant::ZERO, &k, 2);
    let from = addr("10.0.0.1:5000");
    let now = Instant::ZERO;
    let mut init = [0u8; MAX_HANDSHAKE_LEN];
    let n = client.poll_transmit(now, &mut init).unwrap().unwrap();
    assert_eq!(n, INITIATION_LEN);
    let mut c1 = [0u8; 128];
    let mut c2 = [0u8; 128];
    let l1 = server
        .handle(now, from, &init[..n], &mut c1)
        .unwrap()
        .unwrap();
    let l2 = server
        .handle(now + Duration::from_secs(1), from, &init[..n], &mut c2)
        .unwrap();
    assert_eq!(l1, COOKIE_LEN);
    assert_eq!(Some(l1), l2);
    assert_eq!(
        c1, c2,
        "a retransmitted Initiation gets the identical Cookie"
    );
    assert_eq!(
        server.half_open_len(),
        0,
        "no state before the key is proved"
    );
    client.handle_datagram(now, &c1[..l1]);
    client.handle_datagram(now, &c2[..l1]);
    assert_eq!(
        client.stats().dropped_unexpected,
        1,
        "second Cookie ignored"
    );
    let mut fin = [0u8; MAX_HANDSHAKE_LEN];
    let f = client.poll_transmit(now, &mut fin).unwrap().unwrap();
    let mut a1 = [0u8; 128];
    let mut a2 = [0u8; 128];
    let x1 = server
        .handle(now, from, &fin[..f], &mut a1)
        .unwrap()
        .unwrap();
    let x2 = server
        .handle(now, from, &fin[..f], &mut a2)
        .unwrap()
        .unwrap();
    assert_eq!((x1, x2), (ACCEPT_LEN, ACCEPT_LEN));
    assert_eq!(a1, a2, "a retransmitted Finish gets the identical Accept");
    assert_eq!(
        server.half_open_len(),
        1,
        "and maps to the same half-open entry"
    );
    assert_eq!(server.stats().accepts_resent, 1);
}

#[test]
fn lossy_link_completes_with_doubling_retransmits() {
    let k = keys(&[1]);
    let mut server = responder(&k, ResponderConfig::default());
    let mut client = initiator(Instant::ZERO, &k, 3);
    let mut now = Instant::ZERO;
    // Lose the first Initiation, the first Cookie and the first Finish (datagrams 1, 3, 6).
    let lost = [1usize, 3, 6];
    let outcome = run(
        &mut now,
        &mut client,
        &mut server,
        addr("10.0.0.2:1"),
        |i| lost.contains(&i),
    );
    established(outcome);
    assert_eq!(client.stats().retransmits, 3);
    // 200 ms, then 400 ms for the Initiation; the Finish timer restarts at 200 ms.
    assert_eq!(now, Instant::from_millis(200 + 400 + 200));
}

#[test]
fn wrong_key_fails_with_a_clear_error_and_costs_the_server_nothing() {
    let mut server = responder(&keys(&[1]), ResponderConfig::default());
    let mut client = initiator(Instant::ZERO, &keys(&[2]), 4);
    let mut now = Instant::ZERO;
    let outcome = run(
        &mut now,
        &mut client,
        &mut server,
        addr("10.0.0.3:7"),
        |_| false,
    );
    let HandshakeOutcome::Failed(err) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        err,
        HandshakeError::KeyMismatchOrNoServer {
            server: addr(SERVER)
        }
    );
    assert_eq!(
        err.to_string(),
        "handshake failed: key mismatch or no KCPQ server at 127.0.0.1:4222"
    );
    assert_eq!(
        now,
        Instant::from_millis(10_000),
        "fails exactly at the connect timeout"
    );
    // 200, 400, 800, 1600, then every 2 s: sends at 0, .2, .6, 1.4, 3.0, 5.0, 7.0, 9.0.
    assert_eq!(client.stats().sent_packets, 8);
    assert_eq!(server.half_open_len(), 0);
    assert_eq!(server.stats().dropped_unknown_key, 8);
    assert_eq!(server.stats().unproven_reply_bytes, 0);
}

#[test]
fn key_rotation_old_and_new_keys_both_accepted() {
    // Server lists the new key first and still accepts the old one.
    let mut server = responder(&keys(&[20, 10]), ResponderConfig::default());
    for (i, client_keys) in [keys(&[10]), keys(&[20]), keys(&[20, 10])]
        .iter()
        .enumerate()
    {
        let mut now = Instant::ZERO;
        let from = addr(&format!("10.0.0.4:{}", 100 + i));
        let mut client = initiator(now, client_keys, 10 + i as u8);
        let mut c = established(run(&mut now, &mut client, &mut server, from, |_| false));
        let s = establish(now, &mut c, &mut server, from);
        assert_eq!(s.key_id, client_keys.primary().id());
    }
    // A server that only knows the old key refuses a client that moved to the new one.
    let mut old_server = responder(&keys(&[10]), ResponderConfig::default());
    let mut now = Instant::ZERO;
    let mut client = initiator(now, &keys(&[20, 10]), 30);
    let outcome = run(
        &mut now,
        &mut client,
        &mut old_server,
        addr("10.0.0.4:1"),
        |_| false,
    );
    assert!(matches!(
        outcome,
        HandshakeOutcome::Failed(HandshakeError::KeyMismatchOrNoServer { .. })
    ));
}

#[test]
fn replays_establish_nothing() {
    let k = keys(&[1]);
    let mut server = responder(&k, ResponderConfig::default());
    let mut client = initiator(Instant::ZERO, &k, 5);
    let from = addr("10.0.0.5:5");
    let now = Instant::ZERO;
    let mut init = [0u8; MAX_HANDSHAKE_LEN];
    let n = client.poll_transmit(now, &mut init).unwrap().unwrap();
    let mut cookie = [0u8; 128];
    let cl = server
        .handle(now, from, &init[..n], &mut cookie)
        .unwrap()
        .unwrap();
    client.handle_datagram(now, &cookie[..cl]);
    let mut fin = [0u8; MAX_HANDSHAKE_LEN];
    let f = client.poll_transmit(now, &mut fin).unwrap().unwrap();
    let mut accept = [0u8; 128];
    let al = server
        .handle(now, from, &fin[..f], &mut accept)
        .unwrap()
        .unwrap();
    client.handle_datagram(now, &accept[..al]);
    let mut c = established(client.poll_outcome().unwrap());
    let mut first = first_packet(&mut c, b"CONNECT");
    let recorded = first.clone();
    let _s = server.try_establish(now, from, &mut first).unwrap();

    // 1. A replayed Initiation only gets a Cookie: no state.
    let mut out = [0u8; 128];
    for _ in 0..10 {
        assert!(
            server
                .handle(now, from, &init[..n], &mut out)
                .unwrap()
                .is_some()
        );
    }
    assert_eq!(server.half_open_len(), 0);
    // 2. The replayed first data packet: the session left the half-open table.
    let mut again = recorded.clone();
    assert_eq!(
        server.try_establish(now, from, &mut again).unwrap_err(),
        EstablishDrop::UnknownSession
    );
    // 3. A replayed Finish makes a new half-open entry with a fresh session id, so the replayed
    //    data packet still finds nothing, and that entry expires unused.
    let l = server
        .handle(now, from, &fin[..f], &mut out)
        .unwrap()
        .unwrap();
    assert_ne!(out[..l], accept[..al], "fresh session id, new Accept");
    assert_eq!(server.half_open_len(), 1);
    let mut again = recorded.clone();
    assert_eq!(
        server.try_establish(now, from, &mut again).unwrap_err(),
        EstablishDrop::UnknownSession
    );
    let expiry = server.poll_timeout().unwrap();
    assert_eq!(expiry, now + Duration::from_secs(10));
    server.handle_timeout(expiry);
    assert_eq!(server.half_open_len(), 0);
    assert_eq!(server.stats().half_open_expired, 1);
    assert_eq!(server.stats().established, 1);
    assert_eq!(
        server.poll_timeout(),
        None,
        "an idle responder asks for no wake-up"
    );
}

#[test]
fn cookie_is_bound_to_address_and_port() {
    let k = keys(&[1]);
    let mut server = responder(&k, ResponderConfig::default());
    let mut client = initiator(Instant::ZERO, &k, 6);
    let now = Instant::ZERO;
    let mut buf = [0u8; MAX_HANDSHAKE_LEN];
    let n = client.poll_transmit(now, &mut buf).unwrap().unwrap();
    let mut out = [0u8; 128];
    let l = server
        .handle(now, addr("10.0.0.6:1"), &buf[..n], &mut out)
        .unwrap()
        .unwrap();
    client.handle_datagram(now, &out[..l]);
    let f = client.poll_transmit(now, &mut buf).unwrap().unwrap();
    for other in ["10.0.0.6:2", "10.0.0.7:1", "[::1]:1"] {
        assert_eq!(
            server
                .handle(now, addr(other), &buf[..f], &mut out)
                .unwrap(),
            None
        );
    }
    assert_eq!(server.stats().dropped_bad_cookie, 3);
    // After two rotation periods the cookie has expired too.
    let late = now + Duration::from_secs(240);
    assert_eq!(
        server
            .handle(late, addr("10.0.0.6:1"), &buf[..f], &mut out)
            .unwrap(),
        None
    );
    assert_eq!(server.stats().dropped_bad_cookie, 4);
    assert_eq!(server.half_open_len(), 0);
}

#[test]
fn half_open_limits_per_address_port_and_global() {
    let k = keys(&[1]);
    let mut config = ResponderConfig::default();
    config.max_half_open = 10;
    let mut server = responder(&k, config.clone());
    let mut now = Instant::ZERO;
    let from = addr("127.0.0.1:6000");
    for i in 0..4 {
        let mut client = initiator(now, &k, 40 + i);
        established(run(&mut now, &mut client, &mut server, from, |_| false));
    }
    let mut client = initiator(now, &k, 50);
    let outcome = run(&mut now, &mut client, &mut server, from, |_| false);
    let HandshakeOutcome::Failed(err) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        err,
        HandshakeError::NotAccepted {
            server: addr(SERVER)
        }
    );
    assert!(err.to_string().contains("answered but did not accept"));
    assert!(server.stats().refused_address_full >= 1);
    // Other ports of the same IP still get in, up to the global bound, then are refused.
    now = Instant::ZERO;
    let mut server = responder(&k, config);
    for port in 0..10u16 {
        let mut client = initiator(now, &k, 60 + port as u8);
        let from = addr(&format!("127.0.0.1:{}", 7000 + port));
        established(run(&mut now, &mut client, &mut server, from, |_| false));
    }
    let mut client = initiator(now, &k, 90);
    let outcome = run(
        &mut now,
        &mut client,
        &mut server,
        addr("127.0.0.1:8000"),
        |_| false,
    );
    assert!(matches!(
        outcome,
        HandshakeOutcome::Failed(HandshakeError::NotAccepted { .. })
    ));
    assert!(server.stats().refused_table_full >= 1);
    assert_eq!(server.half_open_len(), 10);
}

#[test]
fn ten_thousand_sessions_from_one_ip() {
    let k = keys(&[1]);
    let mut server = responder(&k, ResponderConfig::default());
    let mut rng = Rng::from_seed([7; 32]);
    let mut ids = std::collections::BTreeSet::new();
    let mut now = Instant::ZERO;
    for port in 0..10_000u16 {
        let from = addr(&format!("127.0.0.1:{}", 20_000 + port));
        let mut client =
            HandshakeInitiator::new(now, addr(SERVER), &k, &mut rng, InitiatorConfig::default());
        let mut c = established(run(&mut now, &mut client, &mut server, from, |_| false));
        let s = establish(now, &mut c, &mut server, from);
        assert!(ids.insert(s.session_id), "session ids are unique");
    }
    assert_eq!(server.stats().established, 10_000);
    assert_eq!(server.half_open_len(), 0);
}

#[test]
fn first_data_packet_must_verify_to_establish() {
    let k = keys(&[1]);
    let mut server = responder(&k, ResponderConfig::default());
    let mut client = initiator(Instant::ZERO, &k, 8);
    let mut now = Instant::ZERO;
    let from = addr("10.0.0.8:8");
    let mut c = established(run(&mut now, &mut client, &mut server, from, |_| false));
    let good = first_packet(&mut c, b"CONNECT");
    let mut bad = good.clone();
    *bad.last_mut().unwrap() ^= 1;
    assert_eq!(
        server.try_establish(now, from, &mut bad).unwrap_err(),
        EstablishDrop::Packet(OpenDrop::BadTag)
    );
    assert_eq!(
        server.try_establish(now, from, &mut [0u8; 5]).unwrap_err(),
        EstablishDrop::NotData
    );
    assert_eq!(
        server.half_open_len(),
        1,
        "a bad packet does not remove the entry"
    );
    // The first valid packet may come from a new address (NAT rebinding): it becomes the peer.
    let mut good = good;
    let (s, _) = server
        .try_establish(now, addr("10.9.9.9:9"), &mut good)
        .unwrap();
    assert_eq!(s.peer, addr("10.9.9.9:9"));
}

#[test]
fn stateless_reset_after_server_restart() {
    let k = keys(&[1, 2]);
    let mut server = responder(&k, ResponderConfig::default());
    let mut client = initiator(Instant::ZERO, &keys(&[2]), 9);
    let mut now = Instant::ZERO;
    let from = addr("10.0.0.9:9");
    let mut c = established(run(&mut now, &mut client, &mut server, from, |_| false));
    let _s = establish(now, &mut c, &mut server, from);
    // The server restarts: a new responder with the same keys and another seed.
    let mut restarted = HandshakeResponder::new(
        &k,
        Rng::from_seed([55; 32]),
        ResponderConfig::default(),
        now,
    );
    let mut pkt = first_packet(&mut c, &[0u8; 40]);
    let trigger = pkt.clone();
    assert_eq!(
        restarted.try_establish(now, from, &mut pkt).unwrap_err(),
        EstablishDrop::UnknownSession
    );
    let mut out = [0u8; 128];
    let n = restarted.stateless_reset(now, &trigger, &mut out).unwrap();
    assert!(
        n < trigger.len(),
        "reset {n} not smaller than trigger {}",
        trigger.len()
    );
    assert!(
        c.protection.is_stateless_reset(&out[..n]),
        "token of the second key recognised"
    );
    assert_eq!(c.protection.stats().resets_recognised, 1);
    // A server with other keys cannot forge one.
    let mut stranger = responder(&keys(&[3]), ResponderConfig::default());
    let n = stranger.stateless_reset(now, &trigger, &mut out).unwrap();
    assert!(!c.protection.is_stateless_reset(&out[..n]));
    // A reset never answers a reset or a handshake packet.
    assert_eq!(
        restarted.stateless_reset(now, &out[..n], &mut [0u8; 128]),
        None
    );
}

#[test]
fn reflected_and_forged_messages_are_dropped_by_the_client() {
    let k = keys(&[1]);
    let mut server = responder(&k, ResponderConfig::default());
    let mut client = initiator(Instant::ZERO, &k, 11);
    let now = Instant::ZERO;
    let mut init = [0u8; MAX_HANDSHAKE_LEN];
    let n = client.poll_transmit(now, &mut init).unwrap().unwrap();
    client.handle_datagram(now, &init[..n]);
    assert_eq!(
        client.stats().dropped_unexpected,
        1,
        "own Initiation reflected"
    );
    let mut cookie = [0u8; 128];
    let cl = server
        .handle(now, addr("1.1.1.1:1"), &init[..n], &mut cookie)
        .unwrap()
        .unwrap();
    let mut wrong = cookie;
    wrong[10] ^= 1; // the echoed client random
    client.handle_datagram(now, &wrong[..cl]);
    assert_eq!(client.stats().dropped_unexpected, 2);
    client.handle_datagram(now, &cookie[..cl]);
    let mut fin = [0u8; MAX_HANDSHAKE_LEN];
    let f = client.poll_transmit(now, &mut fin).unwrap().unwrap();
    client.handle_datagram(now, &fin[..f]);
    assert_eq!(client.stats().dropped_unexpected, 3, "own Finish reflected");
    let mut accept = [0u8; 128];
    let al = server
        .handle(now, addr("1.1.1.1:1"), &fin[..f], &mut accept)
        .unwrap()
        .unwrap();
    let mut forged = accept;
    forged[3] ^= 1; // the session id: the proof covers it
    client.handle_datagram(now, &forged[..al]);
    assert_eq!(client.stats().dropped_bad_proof, 1);
    assert!(client.poll_outcome().is_none());
    client.handle_datagram(now, &accept[..al]);
    assert!(matches!(
        client.poll_outcome(),
        Some(HandshakeOutcome::Established(_))
    ));
}

#[test]
fn buffers_too_small_are_api_errors() {
    let k = keys(&[1]);
    let mut server = responder(&k, ResponderConfig::default());
    let mut client = initiator(Instant::ZERO, &k, 12);
    assert_eq!(
        client
            .poll_transmit(Instant::ZERO, &mut [0u8; 100])
            .unwrap_err(),
        BufferTooSmall {
            needed: 128,
            available: 100
        }
    );
    assert_eq!(
        server
            .handle(Instant::ZERO, addr("1.1.1.1:1"), &[0; 200], &mut [0u8; 10])
            .unwrap_err(),
        BufferTooSmall {
            needed: COOKIE_LEN,
            available: 10
        }
    );
    assert_eq!(server.stats().received_packets, 0);
}
