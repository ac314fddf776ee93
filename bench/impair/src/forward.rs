//! One direction of forwarding: read packets from a TUN device, impair them, and write them to
//! the other device at their release time.

use std::fs::File;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::Instant;

use kcpq_impair::{Counters, Event, Impairment, Schedule};
use rand_chacha::ChaCha8Rng;

use crate::sys::poll;

/// Largest packet read in one go; a TUN device never hands over more than its MTU.
const MAX_PACKET: usize = 65_535;

/// Most packets read per wake-up before due packets get released again, so a flood on the input
/// cannot starve the output.
const READ_BATCH: usize = 64;

/// Everything one direction needs. Runs on its own thread: it sleeps in `ppoll` until the source
/// is readable or the next packet is due, so an idle forwarder uses no CPU.
pub(crate) struct Direction {
    /// Where packets come from.
    pub(crate) source: File,
    /// Where packets go.
    pub(crate) sink: File,
    /// The impairment applied.
    pub(crate) impairment: Impairment,
    /// Random source of the impairment decisions.
    pub(crate) rng: ChaCha8Rng,
    /// Packets waiting for their release time.
    pub(crate) schedule: Schedule<Box<[u8]>>,
    /// What happened, for the report.
    pub(crate) counters: Arc<Counters>,
    /// The clock origin shared by both directions.
    pub(crate) origin: Instant,
}

impl Direction {
    /// Forwards until a device fails; returns that failure.
    pub(crate) fn run(mut self) -> io::Error {
        let mut buffer = vec![0u8; MAX_PACKET];
        loop {
            if let Err(e) = self.step(&mut buffer) {
                return e;
            }
        }
    }

    /// Releases due packets, waits for input or the next release time, and reads what came.
    fn step(&mut self, buffer: &mut [u8]) -> io::Result<()> {
        self.release_due();
        let now = self.origin.elapsed();
        let timeout = self
            .schedule
            .next_release()
            .map(|at| at.saturating_sub(now));
        if poll::readable(&self.source, timeout)? {
            self.read_batch(buffer)?;
        }
        Ok(())
    }

    fn release_due(&mut self) {
        let now = self.origin.elapsed();
        while let Some(released) = self.schedule.pop_due(now) {
            // A TUN write takes a whole packet or fails; a short write would be a truncated packet.
            match self.sink.write(&released.payload) {
                Ok(len) if len == released.payload.len() => {
                    self.counters.record(Event::Forwarded);
                    if released.reordered {
                        self.counters.record(Event::Reordered);
                    }
                }
                Ok(_) | Err(_) => self.counters.record(Event::WriteError),
            }
        }
    }

    fn read_batch(&mut self, buffer: &mut [u8]) -> io::Result<()> {
        for _ in 0..READ_BATCH {
            let len = match self.source.read(buffer) {
                Ok(0) => return Ok(()),
                Ok(len) => len,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let packet = buffer.get(..len).unwrap_or(buffer);
            self.admit(packet);
        }
        Ok(())
    }

    fn admit(&mut self, packet: &[u8]) {
        self.counters.record(Event::Received);
        let now = self.origin.elapsed();
        let Some(release) = self.impairment.on_packet(now, &mut self.rng) else {
            self.counters.record(Event::Lost);
            return;
        };
        if release.held_back {
            self.counters.record(Event::HeldBack);
        }
        if self.schedule.push(release.at, packet.into()).is_err() {
            self.counters.record(Event::QueueFull);
        }
    }
}
