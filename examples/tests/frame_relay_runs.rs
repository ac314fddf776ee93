//! Runs `frame_relay` and two `frame_receiver`s against an embedded server with the video preset:
//! 240 fps of 100 000-byte frames for 2 s, and checks every frame arrived, in order, at both.

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/frame_relay.rs"]
mod frame_relay;

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/frame_receiver.rs"]
mod frame_receiver;

use std::time::Duration;

use kcpq_examples::{random_keys, video};

const FPS: u64 = 240;
const SECONDS: u64 = 2;
const SIZE: usize = 100_000;

#[test]
fn two_receivers_get_every_frame_in_order() {
    let keys = random_keys().unwrap();
    let server = kcpq_std::Server::bind("127.0.0.1:0", &keys, video::server_config(SIZE)).unwrap();
    let addr = server.local_addr().to_string();
    let frames = FPS * SECONDS;

    let (ready, subscribed) = std::sync::mpsc::channel();
    let (done, finished) = std::sync::mpsc::channel();
    for _ in 0..2 {
        let args = [
            "--server",
            &addr,
            "--frames",
            &frames.to_string(),
            "--size",
            &SIZE.to_string(),
            "--idle",
            "30",
        ]
        .map(String::from);
        let mut options = frame_receiver::Options::parse(&args).unwrap();
        options.keys = Some(keys.clone());
        options.ready = Some(ready.clone());
        let done = done.clone();
        std::thread::spawn(move || {
            let _ = done.send(frame_receiver::run(options).map_err(|e| e.to_string()));
        });
    }
    for _ in 0..2 {
        subscribed
            .recv_timeout(Duration::from_secs(30))
            .expect("both receivers subscribe");
    }

    let args = [
        "--server",
        &addr,
        "--fps",
        &FPS.to_string(),
        "--size",
        &SIZE.to_string(),
        "--seconds",
        &SECONDS.to_string(),
    ]
    .map(String::from);
    let mut options = frame_relay::Options::parse(&args).unwrap();
    options.keys = Some(keys);
    let sent = frame_relay::run(options).expect("the relay runs");
    assert_eq!(sent.frames, frames);

    for _ in 0..2 {
        let report = finished
            .recv_timeout(Duration::from_secs(120))
            .expect("the receiver finishes")
            .expect("the receiver succeeds");
        assert_eq!(report.frames, frames, "every frame arrived");
        assert_eq!(report.first_seq, Some(0));
        assert_eq!(report.last_seq, Some(frames - 1));
        assert_eq!(report.missing, 0, "no frame dropped");
        assert_eq!(report.out_of_order, 0, "frames in order");
    }
    server.shutdown();
}
