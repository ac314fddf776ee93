//! Differential test: KCPQ against a real nats-server (the Debian package; CI installs it).
//!
//! Each seed draws a scenario (`generate`): a few clients per broker subscribing with `*`,
//! `>` and queue groups, unsubscribing with and without a count, publishing with reply
//! subjects and headers, requesting with and without responders, and probing invalid
//! subjects, filters and group names. The scenario runs on nats-server through async-nats (on
//! tokio) and on an embedded KCPQ server through kcpq-smol (on smol), at the same time, and
//! `compare` reports every difference not documented in docs/protocol.md ("Differences from
//! nats-server").
//!
//! `KCPQ_DIFF_SEEDS=N` runs seeds 0..N (default [`DEFAULT_SEEDS`]); `KCPQ_DIFF_SEED=S` replays
//! seed S alone. A failing seed prints its scenario, the differences and its replay command.

mod nats_differential {
    pub(crate) mod comparable;
    pub(crate) mod compare;
    pub(crate) mod generate;
    pub(crate) mod interpret;
    pub(crate) mod kcpq;
    pub(crate) mod nats;
    pub(crate) mod nats_server;
    pub(crate) mod rng;
    pub(crate) mod rules;
    pub(crate) mod scenario;
    pub(crate) mod side;
}

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use kcpq_smol::core::server::ServerConfig;
use kcpq_smol::{Server, with_timeout};
use nats_differential::kcpq::{KcpqSide, keys};
use nats_differential::nats::NatsSide;
use nats_differential::nats_server::NatsServer;
use nats_differential::scenario::Scenario;
use nats_differential::side::{Broken, Outcome};
use nats_differential::{compare, generate, interpret};

/// Seeds run by default (CI).
const DEFAULT_SEEDS: u64 = 500;
/// Bound of one scenario on one broker; every wait inside is bounded too.
const SCENARIO_BOUND: Duration = Duration::from_secs(60);
/// Failing seeds whose full report is printed; the others are only listed.
const REPORTS: usize = 3;
/// Seeds run at once: a scenario mostly waits for round trips, so a few overlap well on
/// two cores (and the requests that must time out wait together).
const WORKERS: usize = 4;

fn env_number(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
    )
}

fn seeds() -> Vec<u64> {
    match env_number("KCPQ_DIFF_SEED") {
        Some(seed) => vec![seed],
        None => (0..env_number("KCPQ_DIFF_SEEDS").unwrap_or(DEFAULT_SEEDS)).collect(),
    }
}

async fn on_kcpq(server: SocketAddr, scenario: &Scenario) -> Result<Outcome, Broken> {
    let side = KcpqSide::open(server, scenario).await?;
    let outcome = interpret::run(&side, scenario).await;
    side.close().await;
    outcome
}

async fn on_nats(nats: &NatsServer, scenario: &Scenario) -> Result<Outcome, Broken> {
    let side = NatsSide::open(&nats.url(), nats.port(), scenario).await?;
    interpret::run(&side, scenario).await
}

/// Runs `scenario` on both brokers at once; the differences, or why there is no outcome.
fn run_both(
    nats: &NatsServer,
    runtime: &tokio::runtime::Runtime,
    kcpq: SocketAddr,
    scenario: &Scenario,
) -> Vec<String> {
    let (on_nats, on_kcpq) = std::thread::scope(|scope| {
        let kcpq_run = scope.spawn(|| {
            smol::block_on(with_timeout(SCENARIO_BOUND, on_kcpq(kcpq, scenario)))
                .unwrap_or_else(|_| Err("the KCPQ side did not finish within 60 s".to_owned()))
        });
        let nats_run = runtime
            .block_on(async { tokio::time::timeout(SCENARIO_BOUND, on_nats(nats, scenario)).await })
            .unwrap_or_else(|_| Err("the NATS side did not finish within 60 s".to_owned()));
        let kcpq_run = kcpq_run
            .join()
            .unwrap_or_else(|_| Err("the KCPQ side panicked".to_owned()));
        (nats_run, kcpq_run)
    });
    match (on_nats, on_kcpq) {
        (Ok(on_nats), Ok(on_kcpq)) => compare::differences(scenario, &on_nats, &on_kcpq),
        (on_nats, on_kcpq) => [on_nats.err(), on_kcpq.err()]
            .into_iter()
            .flatten()
            .collect(),
    }
}

fn replay(seed: u64) -> String {
    format!("KCPQ_DIFF_SEED={seed} cargo test -p kcpq-smol --test nats_differential")
}

/// Runs the seeds taken from `next` until none is left; the failing ones, with their
/// scenario and differences.
fn worker(
    nats: &NatsServer,
    kcpq: SocketAddr,
    seeds: &[u64],
    next: &AtomicUsize,
) -> Vec<(Scenario, Vec<String>)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let mut failed = Vec::new();
    while let Some(&seed) = seeds.get(next.fetch_add(1, Ordering::Relaxed)) {
        let scenario = generate::scenario(seed);
        let found = run_both(nats, &runtime, kcpq, &scenario);
        if !found.is_empty() {
            failed.push((scenario, found));
        }
    }
    failed
}

#[test]
fn kcpq_delivers_what_nats_server_delivers() {
    let nats = NatsServer::start();
    // Two workers by default (KCPQ_DIFF_WORKERS=n to choose): the scenarios' clients spread
    // over both, so the one subscription space is compared with nats-server too.
    let mut options = kcpq_smol::ServerOptions::new(SocketAddr::from(([127, 0, 0, 1], 0)), keys());
    options.config = ServerConfig::default();
    options.workers = std::env::var("KCPQ_DIFF_WORKERS")
        .map_or(2, |n| n.parse().expect("KCPQ_DIFF_WORKERS is a number"));
    let kcpq = smol::block_on(Server::bind_with(options))
        .expect("bind a KCPQ server on 127.0.0.1")
        .spawn();
    let seeds = seeds();
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let mut failed: Vec<(Scenario, Vec<String>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..WORKERS)
            .map(|_| scope.spawn(|| worker(&nats, kcpq.local_addr(), &seeds, &next)))
            .collect();
        (workers.into_iter())
            .flat_map(|worker| worker.join().expect("a worker panicked"))
            .collect()
    });
    failed.sort_by_key(|(scenario, _)| scenario.seed);
    for (scenario, found) in failed.iter().take(REPORTS) {
        eprintln!(
            "\n=== seed {}: {} difference(s)",
            scenario.seed,
            found.len()
        );
        eprint!("{scenario}");
        for difference in found {
            eprintln!("  difference: {difference}");
        }
        eprintln!("  replay: {}", replay(scenario.seed));
    }
    eprintln!(
        "{} seed(s) in {:.1} s, {} failed",
        seeds.len(),
        started.elapsed().as_secs_f64(),
        failed.len()
    );
    smol::block_on(kcpq.shutdown("test over"));
    let failed: Vec<u64> = failed.iter().map(|(scenario, _)| scenario.seed).collect();
    let replays: Vec<String> = failed.iter().map(|&seed| replay(seed)).collect();
    assert!(
        failed.is_empty(),
        "KCPQ differs from nats-server for {} seed(s): {failed:?}; replay each alone:\n{}",
        failed.len(),
        replays.join("\n")
    );
}
