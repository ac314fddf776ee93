//! Runs the `event_loop` example end to end over real UDP on 127.0.0.1, bounded in time.

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/event_loop.rs"]
mod event_loop;

#[test]
fn the_event_loop_example_runs_to_completion() {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(event_loop::main().map_err(|e| e.to_string()));
    });
    let outcome = finished
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the example finishes within 60 s");
    assert_eq!(outcome, Ok(()));
}
