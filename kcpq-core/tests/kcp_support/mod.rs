//! A deterministic two-endpoint harness for KCP tests and benches: a seeded lossy link (loss,
//! delay, jitter that reorders, duplication), a virtual clock that jumps to the next event
//! (the earliest endpoint deadline or link delivery), and a step limit so nothing can hang.
//!
//! Endpoints are anything implementing [`Endpoint`], so the same harness drives our `Kcp` and,
//! in the interop test, the `kcp` crate.
#![allow(dead_code, unreachable_pub)]

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use kcpq_core::Instant;
use kcpq_core::kcp::Kcp;
use kcpq_core::rng::Rng;

/// What the harness needs from an endpoint: the sans-IO calls plus a byte-stream application.
pub trait Endpoint {
    /// Largest datagram it produces.
    fn mtu(&self) -> usize;
    /// Input of one datagram.
    fn handle_datagram(&mut self, now: Instant, datagram: &[u8]);
    /// Timers.
    fn handle_timeout(&mut self, now: Instant);
    /// Output of one datagram into `buf`.
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize>;
    /// Next deadline.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Queues a prefix of `data` (as much as the endpoint accepts now); returns its length.
    fn write_some(&mut self, data: &[u8]) -> usize;
    /// Appends every readable byte to `out`.
    fn read_all(&mut self, out: &mut Vec<u8>);
}

impl Endpoint for Kcp {
    fn mtu(&self) -> usize {
        self.config().mtu
    }
    fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        Kcp::handle_datagram(self, now, datagram);
    }
    fn handle_timeout(&mut self, now: Instant) {
        Kcp::handle_timeout(self, now);
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        Kcp::poll_transmit(self, now, buf)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Kcp::poll_timeout(self)
    }
    fn write_some(&mut self, data: &[u8]) -> usize {
        let n = self.send_capacity().min(data.len());
        self.write(&data[..n])
            .expect("a write within send_capacity is accepted");
        n
    }
    fn read_all(&mut self, out: &mut Vec<u8>) {
        self.read_chunks(|chunk| {
            out.extend_from_slice(chunk);
            chunk.len()
        });
    }
}

/// Impairments of one direction of the link.
#[derive(Clone, Debug, Default)]
pub struct LinkConfig {
    /// Datagrams lost, per mille.
    pub loss_permille: u32,
    /// Datagrams delivered twice, per mille.
    pub duplicate_permille: u32,
    /// Fixed one-way delay.
    pub delay: Duration,
    /// Extra delay, uniform in `[0, jitter]`: datagrams overtake each other.
    pub jitter: Duration,
}

impl LinkConfig {
    /// A perfect link: no loss, no delay.
    pub fn perfect() -> Self {
        LinkConfig::default()
    }

    /// `loss` per mille lost, `dup` per mille duplicated, `delay` ± `jitter` ms.
    pub fn lossy(loss: u32, dup: u32, delay_ms: u64, jitter_ms: u64) -> Self {
        LinkConfig {
            loss_permille: loss,
            duplicate_permille: dup,
            delay: Duration::from_millis(delay_ms),
            jitter: Duration::from_millis(jitter_ms),
        }
    }
}

/// Counters of one direction.
#[derive(Clone, Debug, Default)]
pub struct LinkStats {
    /// Datagrams offered.
    pub sent: u64,
    /// Datagrams dropped.
    pub lost: u64,
    /// Extra copies delivered.
    pub duplicated: u64,
    /// Datagrams delivered (copies included).
    pub delivered: u64,
}

/// One direction: datagrams in flight, ordered by delivery time then by send order.
pub struct Link {
    config: LinkConfig,
    rng: Rng,
    seq: u64,
    in_flight: BinaryHeap<Reverse<(Instant, u64, Vec<u8>)>>,
    /// Counters.
    pub stats: LinkStats,
}

impl Link {
    /// A link seeded with `seed`.
    pub fn new(config: LinkConfig, seed: u64) -> Self {
        let mut s = [0u8; 32];
        s[..8].copy_from_slice(&seed.to_le_bytes());
        Link {
            config,
            rng: Rng::from_seed(s),
            seq: 0,
            in_flight: BinaryHeap::new(),
            stats: LinkStats::default(),
        }
    }

    fn chance(&mut self, permille: u32) -> bool {
        permille > 0 && self.rng.below(1000) < u64::from(permille)
    }

    fn delay(&mut self) -> Duration {
        let jitter = self.config.jitter.as_micros() as u64;
        self.config.delay + Duration::from_micros(self.rng.below(jitter + 1))
    }

    /// Offers a datagram sent at `now`.
    pub fn send(&mut self, now: Instant, datagram: &[u8]) {
        self.stats.sent += 1;
        if self.chance(self.config.loss_permille) {
            self.stats.lost += 1;
            return;
        }
        let copies = if self.chance(self.config.duplicate_permille) {
            2
        } else {
            1
        };
        self.stats.duplicated += copies - 1;
        for _ in 0..copies {
            let at = now + self.delay();
            self.seq += 1;
            self.in_flight
                .push(Reverse((at, self.seq, datagram.to_vec())));
        }
    }

    /// When the next datagram arrives.
    pub fn next_delivery(&self) -> Option<Instant> {
        self.in_flight.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Removes the next datagram due at or before `now`.
    pub fn deliver(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.next_delivery()? > now {
            return None;
        }
        self.stats.delivered += 1;
        self.in_flight.pop().map(|Reverse((_, _, d))| d)
    }
}

/// Why a run stopped without reaching its goal.
#[derive(Debug, PartialEq, Eq)]
pub enum RunError {
    /// The step limit was reached.
    StepLimit,
    /// No deadline and nothing in flight, yet the goal was not reached.
    Stalled,
}

/// Two endpoints joined by two links, on a virtual clock.
pub struct Pair<A: Endpoint, B: Endpoint> {
    /// The first endpoint.
    pub a: A,
    /// The second endpoint.
    pub b: B,
    /// `a` to `b`.
    pub ab: Link,
    /// `b` to `a`.
    pub ba: Link,
    /// The virtual clock.
    pub now: Instant,
    /// Steps taken so far.
    pub steps: u64,
    buf: Vec<u8>,
}

impl<A: Endpoint, B: Endpoint> Pair<A, B> {
    /// A pair with the same impairments both ways; the seed makes a run reproducible.
    pub fn new(a: A, b: B, link: LinkConfig, seed: u64) -> Self {
        let mtu = a.mtu().max(b.mtu());
        Pair {
            a,
            b,
            ab: Link::new(link.clone(), seed),
            ba: Link::new(link, seed ^ 0x9E37_79B9_7F4A_7C15),
            now: Instant::ZERO,
            steps: 0,
            buf: vec![0; mtu],
        }
    }

    /// Drains both endpoints' output into the links.
    pub fn flush(&mut self) {
        while let Some(n) = self.a.poll_transmit(self.now, &mut self.buf) {
            self.ab.send(self.now, &self.buf[..n]);
        }
        while let Some(n) = self.b.poll_transmit(self.now, &mut self.buf) {
            self.ba.send(self.now, &self.buf[..n]);
        }
    }

    /// The next event: an endpoint deadline or a delivery.
    pub fn next_event(&self) -> Option<Instant> {
        [
            self.a.poll_timeout(),
            self.b.poll_timeout(),
            self.ab.next_delivery(),
            self.ba.next_delivery(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Flushes, advances the clock to the next event and handles everything due then.
    /// Returns `false` when there is no next event (both sides idle, nothing in flight).
    pub fn step(&mut self) -> bool {
        self.flush();
        let Some(at) = self.next_event() else {
            return false;
        };
        self.steps += 1;
        self.now = self.now.max(at);
        let now = self.now;
        while let Some(d) = self.ab.deliver(now) {
            self.b.handle_datagram(now, &d);
        }
        while let Some(d) = self.ba.deliver(now) {
            self.a.handle_datagram(now, &d);
        }
        if self.a.poll_timeout().is_some_and(|t| t <= now) {
            self.a.handle_timeout(now);
        }
        if self.b.poll_timeout().is_some_and(|t| t <= now) {
            self.b.handle_timeout(now);
        }
        self.flush();
        true
    }

    /// Calls `app` (the applications on both sides) then steps, until `app` returns `true`.
    pub fn run(
        &mut self,
        max_steps: u64,
        mut app: impl FnMut(&mut Self) -> bool,
    ) -> Result<(), RunError> {
        loop {
            if app(self) {
                return Ok(());
            }
            if self.steps >= max_steps {
                return Err(RunError::StepLimit);
            }
            if !self.step() {
                if app(self) {
                    return Ok(());
                }
                self.flush();
                if self.next_event().is_none() {
                    return Err(RunError::Stalled);
                }
            }
        }
    }
}

/// Sends `ab` from `a` to `b` and `ba` from `b` to `a` at the same time, as fast as both
/// accept; returns what each side received. `check` runs after every step.
pub fn transfer<A: Endpoint, B: Endpoint>(
    pair: &mut Pair<A, B>,
    ab: &[u8],
    ba: &[u8],
    max_steps: u64,
    mut check: impl FnMut(&Pair<A, B>),
) -> Result<(Vec<u8>, Vec<u8>), RunError> {
    let (mut sent_ab, mut sent_ba) = (0, 0);
    let (mut got_b, mut got_a) = (Vec::with_capacity(ab.len()), Vec::with_capacity(ba.len()));
    pair.run(max_steps, |p| {
        check(p);
        sent_ab += p.a.write_some(&ab[sent_ab..]);
        sent_ba += p.b.write_some(&ba[sent_ba..]);
        p.b.read_all(&mut got_b);
        p.a.read_all(&mut got_a);
        got_b.len() >= ab.len() && got_a.len() >= ba.len()
    })?;
    Ok((got_b, got_a))
}

/// Deterministic test data.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut s = [0u8; 32];
    s[..8].copy_from_slice(&seed.to_le_bytes());
    let mut out = vec![0; len];
    Rng::from_seed(s).fill(&mut out);
    out
}
