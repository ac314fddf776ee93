//! Runs the publish/subscribe, request/reply and latency examples of the adapters against a
//! server they embed on 127.0.0.1, each bounded in time.

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/smol_pubsub.rs"]
mod smol_pubsub;

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/smol_request_reply.rs"]
mod smol_request_reply;

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/tokio_pubsub.rs"]
mod tokio_pubsub;

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/std_pubsub.rs"]
mod std_pubsub;

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/std_request_reply.rs"]
mod std_request_reply;

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/ping_pong.rs"]
mod ping_pong;

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/async_bench.rs"]
mod async_bench;

use std::time::Duration;

/// Runs `example` on its own thread and returns its outcome, failing after 60 s.
fn bounded<T: Send + 'static>(
    example: impl FnOnce() -> Result<T, kcpq_examples::Error> + Send + 'static,
) -> T {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(example().map_err(|e| e.to_string()));
    });
    finished
        .recv_timeout(Duration::from_secs(60))
        .expect("the example finishes within 60 s")
        .expect("the example succeeds")
}

#[test]
fn smol_pubsub_runs() {
    bounded(|| smol::block_on(smol_pubsub::run(&[])));
}

#[test]
fn smol_request_reply_runs() {
    bounded(|| smol_request_reply::run_blocking(&[]));
}

#[test]
fn tokio_pubsub_runs() {
    bounded(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(tokio_pubsub::run(&[]))
    });
}

#[test]
fn std_pubsub_runs() {
    bounded(|| std_pubsub::run(&[]));
}

#[test]
fn std_request_reply_runs() {
    bounded(|| std_request_reply::run(&[]));
}

#[test]
fn ping_pong_measures_every_round_trip() {
    let args = ["--count", "200", "--rate", "500", "--size", "128"].map(String::from);
    let latencies = bounded(move || ping_pong::run(&args));
    assert_eq!(latencies.len(), 200);
    assert!(latencies.percentile(50.0) <= latencies.percentile(99.0));
}

#[test]
fn async_bench_measures_the_smol_and_the_tokio_client() {
    for runtime in ["smol", "tokio"] {
        let flags = ["--runtime", runtime, "--test", "latency", "--count", "100"];
        let args = flags
            .iter()
            .chain(&["--warmup", "10", "--rate", "500"])
            .map(|a| a.to_string())
            .collect::<Vec<_>>();
        match bounded(move || async_bench::run(&args)) {
            async_bench::Outcome::Latency(rtts) => assert_eq!(rtts.len(), 100, "{runtime}"),
            other => panic!("{runtime}: {other:?}"),
        }
        let flags = [
            "--runtime",
            runtime,
            "--test",
            "throughput",
            "--count",
            "2000",
        ];
        let args = flags.map(String::from).to_vec();
        match bounded(move || async_bench::run(&args)) {
            async_bench::Outcome::Throughput(rate) => assert!(rate > 0.0, "{runtime}: {rate}"),
            other => panic!("{runtime}: {other:?}"),
        }
    }
}
