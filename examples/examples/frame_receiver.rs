//! Receives the frames of `frame_relay` live: subscribes with `DropOldest` (a late receiver skips
//! to the newest frames instead of falling further behind) and the `video` KCP preset, prints the
//! frame rate, the drops (gaps in the sequence numbers) and the latency every second, and the
//! percentiles at the end.
//!
//! Connects to `--server` (127.0.0.1:4000) with the key in `KCPQ_AES256_KEY_HEX`; stops after
//! `--frames` frames (0: never) or `--idle` seconds (3) without one.
//!
//! Run with `cargo run -p kcpq-examples --release --example frame_receiver -- --server 127.0.0.1:4000`.

use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use kcpq_core::crypto::KeySet;
use kcpq_examples::{Error, Latencies, arg, env_keys, frame, video};
use kcpq_std::queue::{OverflowPolicy, QueueLimits};
use kcpq_std::{Client, ClientOptions, RecvTimeoutError, SubscribeOptions};

/// The receiver's settings, from the command line (the key from the environment unless set).
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) server: String,
    pub(crate) subject: String,
    pub(crate) frames: u64,
    pub(crate) idle: f64,
    pub(crate) queue: usize,
    pub(crate) size: usize,
    pub(crate) keys: Option<KeySet>,
    /// Told once the subscription is active.
    pub(crate) ready: Option<Sender<()>>,
}

impl Options {
    pub(crate) fn parse(args: &[String]) -> Result<Options, Error> {
        Ok(Options {
            server: arg(args, "--server", "127.0.0.1:4000".to_owned())?,
            subject: arg(args, "--subject", "video.frames".to_owned())?,
            frames: arg(args, "--frames", 0)?,
            idle: arg(args, "--idle", 3.0)?,
            queue: arg(args, "--queue", 60)?,
            size: arg(args, "--size", 100_000)?,
            keys: None,
            ready: None,
        })
    }
}

/// What one receiver saw.
#[derive(Debug, Clone, Default)]
pub(crate) struct Report {
    pub(crate) frames: u64,
    /// Frames missing between those received (sequence gaps).
    pub(crate) missing: u64,
    /// Frames that came with a sequence number not above the previous one.
    pub(crate) out_of_order: u64,
    pub(crate) first_seq: Option<u64>,
    pub(crate) last_seq: Option<u64>,
    pub(crate) latencies: Latencies,
    /// From the first frame to the last.
    pub(crate) elapsed: Duration,
}

impl Report {
    fn fps(&self) -> f64 {
        if self.frames < 2 || self.elapsed.is_zero() {
            return 0.0;
        }
        (self.frames - 1) as f64 / self.elapsed.as_secs_f64()
    }

    /// Counts one frame.
    fn record(&mut self, seq: u64, age: Duration) {
        match self.last_seq {
            Some(last) if seq <= last => self.out_of_order += 1,
            Some(last) => self.missing += seq - last - 1,
            None => self.first_seq = Some(seq),
        }
        self.last_seq = Some(self.last_seq.map_or(seq, |last| last.max(seq)));
        self.frames += 1;
        self.latencies.push(age);
    }
}

pub(crate) fn run(options: Options) -> Result<Report, Error> {
    let keys = match options.keys.clone() {
        Some(keys) => keys,
        None => env_keys()?,
    };
    let mut client_options = ClientOptions::new(options.server.clone(), keys);
    client_options.config = video::client_config(options.size);
    let client = Client::connect_with(client_options)?;

    // A short queue that drops its oldest frames: live video wants the newest frame, not all.
    let limits = QueueLimits {
        max_messages: options.queue.max(1),
        max_bytes: options.queue.max(1) * (options.size + 1024),
    };
    let subscription = client.subscribe_with(
        &options.subject,
        SubscribeOptions::default()
            .with_limits(limits)
            .with_policy(OverflowPolicy::DropOldest),
    )?;
    println!(
        "receiver {}: subscribed to {}",
        client.client_name(),
        options.subject
    );
    if let Some(ready) = &options.ready {
        let _ = ready.send(());
    }

    let idle = Duration::from_secs_f64(options.idle.max(0.01));
    let mut report = Report::default();
    let mut started: Option<Instant> = None;
    let mut last_print = Instant::now();
    let (mut window_frames, mut window_missing) = (0u64, 0u64);
    while options.frames == 0 || report.frames < options.frames {
        let message = match subscription.recv_timeout(idle) {
            Ok(message) => message,
            Err(RecvTimeoutError::Timeout) => break,
            Err(e) => return Err(e.into()),
        };
        let Some((seq, age)) = frame::read(&message.payload) else {
            continue;
        };
        let first = *started.get_or_insert_with(Instant::now);
        let missing_before = report.missing;
        report.record(seq, age);
        report.elapsed = first.elapsed();
        window_frames += 1;
        window_missing += report.missing - missing_before;
        if last_print.elapsed() >= Duration::from_secs(1) {
            println!(
                "receiver: {:.1} fps, {window_missing} dropped, latency {:.2} ms",
                window_frames as f64 / last_print.elapsed().as_secs_f64(),
                age.as_secs_f64() * 1000.0
            );
            last_print = Instant::now();
            (window_frames, window_missing) = (0, 0);
        }
    }

    println!(
        "receiver: {} frames at {:.1} fps, {} dropped ({} in the local queue), {} out of order; latency {}",
        report.frames,
        report.fps(),
        report.missing,
        subscription.dropped(),
        report.out_of_order,
        report.latencies.summary()
    );
    client.close();
    Ok(report)
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    run(Options::parse(&args)?).map(drop)
}
