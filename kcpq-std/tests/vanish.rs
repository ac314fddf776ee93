//! Clients that vanish, over real UDP: a dropped client frees its session at once; a second
//! instance takes a client name over and the first stops.

mod common;

use common::{client, server, wait_for};
use kcpq_std::core::CloseReason;
use kcpq_std::core::proto::ErrorCode;
use kcpq_std::{Event, ServerEvent};

fn closed(event: &ServerEvent, who: &str) -> Option<CloseReason> {
    match event {
        ServerEvent::ClientDisconnected { name, reason, .. } if name == who => Some(reason.clone()),
        _ => None,
    }
}

#[test]
fn dropping_the_last_handle_closes_the_session_at_once() {
    let server = server();
    let events = server.events();
    let dropper = client(&server, "dropper");
    let clone = dropper.clone();
    drop(dropper);
    clone.flush().expect("a clone keeps the connection");
    drop(clone);
    // Within the 5 s bound of `wait_for`, far below the 37.5 s silence limit: the CLOSE did it.
    let event = wait_for(&events, |e| closed(e, "dropper").is_some()).expect("session closed");
    let reason = closed(&event, "dropper").expect("matched");
    assert!(matches!(reason, CloseReason::PeerClosed(_)), "{reason:?}");
    assert!(server.sessions().expect("sessions").is_empty());
}

#[test]
fn a_second_instance_takes_the_name_over_and_the_first_stops() {
    let server = server();
    let server_events = server.events();
    let first = client(&server, "cam-7");
    let first_events = first.events();
    let second = client(&server, "cam-7");
    let event = wait_for(&server_events, |e| closed(e, "cam-7").is_some()).expect("replaced");
    assert_eq!(closed(&event, "cam-7"), Some(CloseReason::Replaced));
    assert!(
        wait_for(&first_events, |e| matches!(
            e,
            Event::ServerError(err) if err.code == ErrorCode::Replaced
        ))
        .is_some()
    );
    assert!(
        wait_for(&first_events, |e| *e
            == Event::Disconnected(CloseReason::Replaced))
        .is_some()
    );
    assert!(wait_for(&first_events, |e| *e == Event::Closed).is_some());
    second.flush().expect("the new instance works");
    let sessions = server.sessions().expect("sessions");
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].name, "cam-7");
}
