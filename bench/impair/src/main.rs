//! `kcpq-impair`: forwards raw IP packets between two TUN devices with loss, delay, jitter and
//! reordering. See `bench/impair/README.md` for the topology and usage.

#![warn(missing_docs)]

mod cli;
mod forward;
mod sys;

use std::fs::File;
use std::io;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;
use std::time::Instant;

use clap::Parser;
use kcpq_impair::{Counters, Impairment, Report, Schedule};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1};
use signal_hook::iterator::Signals;

use crate::cli::Args;
use crate::forward::Direction;
use crate::sys::tun::{self, TunSpec};

/// What the main thread waits for.
enum Note {
    /// A signal arrived.
    Signal(i32),
    /// A forwarding thread stopped with an error.
    Failed(&'static str, io::Error),
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kcpq-impair: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<ExitCode, String> {
    let impairment = Impairment::new(args.params()?).map_err(|e| e.to_string())?;
    let (side_a, side_b) = (args.side_a(), args.side_b());
    let a = tun::open(&side_a).map_err(|e| format!("{}: {e}", describe(&side_a)))?;
    let b = tun::open(&side_b).map_err(|e| format!("{}: {e}", describe(&side_b)))?;
    let (notes, inbox) = mpsc::channel();
    forward_signals(notes.clone())?;

    let origin = Instant::now();
    let clone = |file: &File| file.try_clone().map_err(|e| e.to_string());
    let mut labelled = Vec::new();
    for (label, stream, source, sink) in [("a->b", 0, clone(&a)?, clone(&b)?), ("b->a", 1, b, a)] {
        let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
        rng.set_stream(stream);
        let direction = Direction {
            source,
            sink,
            impairment: impairment.clone(),
            rng,
            schedule: Schedule::new(args.limit),
            counters: Arc::new(Counters::default()),
            origin,
        };
        labelled.push((label, Arc::clone(&direction.counters)));
        spawn(label, direction, notes.clone())?;
    }
    eprintln!(
        "kcpq-impair: forwarding {} <-> {} with {:?}, seed {}, limit {} packets",
        describe(&side_a),
        describe(&side_b),
        impairment.params(),
        args.seed,
        args.limit
    );
    serve(&inbox, &labelled, origin)
}

/// Turns SIGINT, SIGTERM and SIGUSR1 into notes for the main thread.
fn forward_signals(notes: Sender<Note>) -> Result<(), String> {
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGUSR1]).map_err(|e| e.to_string())?;
    thread::spawn(move || {
        for signal in signals.forever() {
            if notes.send(Note::Signal(signal)).is_err() {
                return;
            }
        }
    });
    Ok(())
}

/// Runs one direction on its own thread, which sends a note if it ever stops.
fn spawn(label: &'static str, direction: Direction, notes: Sender<Note>) -> Result<(), String> {
    thread::Builder::new()
        .name(label.to_owned())
        .spawn(move || {
            let error = direction.run();
            let _ = notes.send(Note::Failed(label, error));
        })
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Prints the report on SIGUSR1 and, before returning, on SIGINT, SIGTERM or a failed direction.
fn serve(
    inbox: &Receiver<Note>,
    labelled: &[(&'static str, Arc<Counters>)],
    origin: Instant,
) -> Result<ExitCode, String> {
    let report = || -> Result<Report, String> {
        Ok(Report {
            directions: labelled
                .iter()
                .map(|(label, counters)| ((*label).to_owned(), counters.snapshot()))
                .collect(),
            cpu: sys::rusage::cpu_time().map_err(|e| format!("getrusage: {e}"))?,
            wall: origin.elapsed(),
        })
    };
    loop {
        match inbox.recv() {
            Ok(Note::Signal(SIGUSR1)) => println!("{}", report()?),
            Ok(Note::Signal(_)) => {
                println!("{}", report()?);
                return Ok(ExitCode::SUCCESS);
            }
            Ok(Note::Failed(label, error)) => {
                println!("{}", report()?);
                return Err(format!("{label} stopped: {error}"));
            }
            Err(_) => return Err("all threads stopped".to_owned()),
        }
    }
}

fn describe(spec: &TunSpec) -> String {
    match &spec.netns {
        Some(netns) => format!("{} (netns {netns})", spec.name),
        None => spec.name.clone(),
    }
}
