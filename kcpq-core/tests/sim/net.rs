//! A seeded datagram network with loss, delay, jitter (hence reordering), duplication, a bounded
//! in-flight queue per direction and partitions, on a virtual clock.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::net::SocketAddr;
use std::time::Duration;

use kcpq_core::Instant;
use kcpq_core::rng::Rng;

/// How the network treats every datagram.
#[derive(Debug, Clone, Copy)]
pub struct LinkConfig {
    /// Probability of losing a datagram, in parts per million.
    pub loss_ppm: u32,
    /// Probability of delivering a datagram twice, in parts per million.
    pub duplicate_ppm: u32,
    /// One-way base delay.
    pub delay: Duration,
    /// Extra delay drawn uniformly from `0..=jitter` per datagram; reorders datagrams.
    pub jitter: Duration,
    /// Datagrams in flight per direction (from, to) before new ones are dropped (a router queue).
    pub queue_limit: usize,
}

impl LinkConfig {
    /// No loss, no duplication, 1 ms delay, no jitter.
    pub fn perfect() -> Self {
        LinkConfig {
            loss_ppm: 0,
            duplicate_ppm: 0,
            delay: Duration::from_millis(1),
            jitter: Duration::ZERO,
            queue_limit: 10_000,
        }
    }

    /// A bad network: `loss_percent` loss, 1 % duplication, 10 ms ± 5 ms one way.
    pub fn lossy(loss_percent: u32) -> Self {
        LinkConfig {
            loss_ppm: loss_percent * 10_000,
            duplicate_ppm: 10_000,
            delay: Duration::from_millis(10),
            jitter: Duration::from_millis(5),
            queue_limit: 10_000,
        }
    }
}

/// What happened to the datagrams sent so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Datagrams handed to `send`.
    pub sent: u64,
    /// Lost at random.
    pub lost: u64,
    /// Extra copies made.
    pub duplicated: u64,
    /// Dropped because the two ends were partitioned.
    pub partitioned: u64,
    /// Dropped because the direction's in-flight queue was full.
    pub queue_full: u64,
    /// Handed to a receiver.
    pub delivered: u64,
}

/// A datagram arriving at `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Sender.
    pub from: SocketAddr,
    /// Receiver.
    pub to: SocketAddr,
    /// The bytes, as sent.
    pub data: Vec<u8>,
}

/// The simulated network.
pub struct SimNet {
    rng: Rng,
    config: LinkConfig,
    /// Deliveries ordered by (time, sequence number): ties keep send order.
    schedule: BinaryHeap<Reverse<(Instant, u64)>>,
    in_flight: BTreeMap<u64, Delivery>,
    per_direction: BTreeMap<(SocketAddr, SocketAddr), usize>,
    cut: BTreeSet<(SocketAddr, SocketAddr)>,
    next_seq: u64,
    stats: NetStats,
}

impl SimNet {
    /// A network whose every random choice comes from `seed`.
    pub fn new(seed: u64, config: LinkConfig) -> Self {
        let mut seed_bytes = [0u8; 32];
        seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
        seed_bytes[8..16].copy_from_slice(b"sim-net!");
        SimNet {
            rng: Rng::from_seed(seed_bytes),
            config,
            schedule: BinaryHeap::new(),
            in_flight: BTreeMap::new(),
            per_direction: BTreeMap::new(),
            cut: BTreeSet::new(),
            next_seq: 0,
            stats: NetStats::default(),
        }
    }

    /// Changes how later datagrams are treated (those in flight keep their fate).
    pub fn set_config(&mut self, config: LinkConfig) {
        self.config = config;
    }

    /// The counters.
    pub fn stats(&self) -> NetStats {
        self.stats
    }

    /// Datagrams in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Cuts both directions between `a` and `b`; datagrams already in flight still arrive.
    pub fn partition(&mut self, a: SocketAddr, b: SocketAddr) {
        self.cut.insert((a, b));
        self.cut.insert((b, a));
    }

    /// Undoes [`partition`](Self::partition).
    pub fn heal(&mut self, a: SocketAddr, b: SocketAddr) {
        self.cut.remove(&(a, b));
        self.cut.remove(&(b, a));
    }

    fn chance(&mut self, ppm: u32) -> bool {
        ppm > 0 && self.rng.below(1_000_000) < u64::from(ppm)
    }

    fn schedule_one(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        let queued = self.per_direction.entry((from, to)).or_insert(0);
        if *queued >= self.config.queue_limit {
            self.stats.queue_full += 1;
            return;
        }
        *queued += 1;
        let jitter_us = u64::try_from(self.config.jitter.as_micros()).unwrap_or(u64::MAX);
        let extra = Duration::from_micros(self.rng.below(jitter_us.saturating_add(1)));
        let at = now + self.config.delay + extra;
        let seq = self.next_seq;
        self.next_seq += 1;
        self.schedule.push(Reverse((at, seq)));
        self.in_flight.insert(
            seq,
            Delivery {
                from,
                to,
                data: data.to_vec(),
            },
        );
    }

    /// Sends one datagram at `now`.
    pub fn send(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        self.stats.sent += 1;
        if self.cut.contains(&(from, to)) {
            self.stats.partitioned += 1;
            return;
        }
        if self.chance(self.config.loss_ppm) {
            self.stats.lost += 1;
            return;
        }
        self.schedule_one(now, from, to, data);
        if self.chance(self.config.duplicate_ppm) {
            self.stats.duplicated += 1;
            self.schedule_one(now, from, to, data);
        }
    }

    /// When the next datagram arrives, if any is in flight.
    pub fn next_delivery(&self) -> Option<Instant> {
        self.schedule.peek().map(|Reverse((at, _))| *at)
    }

    /// The next datagram due at or before `now`.
    pub fn deliver_due(&mut self, now: Instant) -> Option<Delivery> {
        let Reverse((at, seq)) = *self.schedule.peek()?;
        if at > now {
            return None;
        }
        self.schedule.pop();
        let delivery = self
            .in_flight
            .remove(&seq)
            .expect("every scheduled seq is in flight");
        if let Some(n) = self.per_direction.get_mut(&(delivery.from, delivery.to)) {
            *n -= 1;
        }
        self.stats.delivered += 1;
        Some(delivery)
    }
}
