//! Runs `frame_relay` and `frame_receiver`s against a server with the video preset: 240 fps of
//! 100 000-byte synthetic frames for 2 s to two receivers, and frames of mixed sizes replayed
//! from a length-delimited file; checks every frame arrived, in order, at every receiver.

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/frame_relay.rs"]
mod frame_relay;

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/frame_receiver.rs"]
mod frame_receiver;

use std::io::Write;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use kcpq_core::crypto::KeySet;
use kcpq_examples::{random_keys, video};

const FPS: u64 = 240;
const SECONDS: u64 = 2;
const SIZE: usize = 100_000;

/// Starts `count` receivers of `frames` frames on `addr` and waits until all have subscribed;
/// each sends its report on the returned channel when done.
fn start_receivers(
    addr: &str,
    keys: &KeySet,
    frames: u64,
    count: usize,
) -> Receiver<Result<frame_receiver::Report, String>> {
    let (ready, subscribed) = std::sync::mpsc::channel();
    let (done, finished) = std::sync::mpsc::channel();
    for _ in 0..count {
        let args = [
            "--server",
            addr,
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
    for _ in 0..count {
        subscribed
            .recv_timeout(Duration::from_secs(30))
            .expect("every receiver subscribes");
    }
    finished
}

/// Waits for `count` reports and checks each saw frames `0..frames`, all of them, in order.
fn expect_every_frame(
    finished: &Receiver<Result<frame_receiver::Report, String>>,
    count: usize,
    frames: u64,
) {
    for _ in 0..count {
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
}

#[test]
fn two_receivers_get_every_frame_in_order() {
    let keys = random_keys().unwrap();
    let server =
        kcpq_std::Server::bind("127.0.0.1:0", keys.clone(), video::server_config(SIZE)).unwrap();
    let addr = server.local_addr().to_string();
    let frames = FPS * SECONDS;
    let finished = start_receivers(&addr, &keys, frames, 2);

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

    expect_every_frame(&finished, 2, frames);
    server.shutdown();
}

#[test]
fn frames_from_a_file_reach_the_receiver_whole() {
    let keys = random_keys().unwrap();
    let server =
        kcpq_std::Server::bind("127.0.0.1:0", keys.clone(), video::server_config(SIZE)).unwrap();
    let addr = server.local_addr().to_string();

    // Length-delimited frames of mixed sizes, the largest near the frame size.
    let sizes: Vec<usize> = (0..60).map(|i| (i * 7919) % SIZE).collect();
    let mut file = tempfile::NamedTempFile::new().unwrap();
    for (i, size) in sizes.iter().enumerate() {
        file.write_all(&(*size as u32).to_be_bytes()).unwrap();
        file.write_all(&vec![i as u8; *size]).unwrap();
    }
    file.flush().unwrap();
    let frames = sizes.len() as u64;
    let finished = start_receivers(&addr, &keys, frames, 1);

    let source = format!("file:{}", file.path().display());
    let args = ["--server", &addr, "--source", &source, "--fps", "600"].map(String::from);
    let mut options = frame_relay::Options::parse(&args).unwrap();
    options.keys = Some(keys);
    let sent = frame_relay::run(options).expect("the relay runs");
    assert_eq!(sent.frames, frames);

    expect_every_frame(&finished, 1, frames);
    server.shutdown();
}
