//! The sender's side: data shards out at once, parity when a group closes.

use std::collections::VecDeque;

use crate::Instant;

use super::config::FecConfig;
use super::controller::ParityController;
use super::wire::{HEADER_LEN, ShardHeader, ShardKind};

/// Data shards that report no loss after a nonzero report, before datagrams may leave plain.
const ZERO_REPORTS: u8 = 16;

/// An open group with parity also closes once no data shard has joined it for its deadline
/// divided by this: the end of a burst (a frame's last datagrams) gets its parity then, not
/// a whole deadline after the group opened, while a steady stream on a slow link, a datagram
/// every few hundred microseconds, still fills groups up to the deadline.
const IDLE_DIVISOR: u32 = 4;

/// The encoder's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FecEncoderStats {
    /// Data shards sent.
    pub data_shards: u64,
    /// Parity shards made.
    pub parity_shards: u64,
    /// Parity bytes made (shard bodies).
    pub parity_bytes: u64,
    /// Groups closed because they were full.
    pub groups_full: u64,
    /// Groups closed by time (their deadline, or idle for a quarter of it).
    pub groups_timed_out: u64,
}

/// The sender's side of FEC, as a sans-IO state machine.
///
/// For each datagram KCP sends, the caller reserves [`HEADER_LEN`] bytes in front of it and
/// calls [`on_data`](Self::on_data), which writes the data shard's header and keeps a copy for
/// the group's parity. After sending, it drains [`poll_parity`](Self::poll_parity), and calls
/// [`handle_timeout`](Self::handle_timeout) at [`poll_timeout`](Self::poll_timeout), when an
/// open group's deadline closes it.
#[derive(Debug)]
pub struct FecEncoder {
    config: FecConfig,
    controller: ParityController,
    group: u32,
    /// Framed data shards (`len u16`, bytes) of the open group; buffers are reused.
    framed: Vec<Vec<u8>>,
    open: usize,
    opened_at: Option<Instant>,
    /// When the open group's last data shard joined it.
    last_data_at: Option<Instant>,
    /// The parity announced for the open group (it gets at most that many).
    planned: u8,
    /// The loss this side observes, sent in every data shard (tenths of a percent).
    loss_report: u8,
    /// Data shards still to carry a report of no loss after a nonzero one, so that the peer
    /// learns the loss is gone even if some are lost.
    zero_reports_left: u8,
    rs: super::Codec,
    /// Parity bodies of the group being closed; buffers are reused.
    bodies: Vec<Vec<u8>>,
    /// Parity shards (header and body) waiting for `poll_parity`.
    parity: VecDeque<Vec<u8>>,
    /// Emptied parity buffers, for reuse.
    spare: Vec<Vec<u8>>,
    stats: FecEncoderStats,
}

impl FecEncoder {
    /// An encoder with `config` (which must be valid: see [`FecConfig::validate`]).
    pub fn new(config: FecConfig) -> FecEncoder {
        FecEncoder {
            controller: ParityController::new(&config),
            config,
            group: 0,
            framed: Vec::new(),
            open: 0,
            opened_at: None,
            last_data_at: None,
            planned: 0,
            loss_report: 0,
            zero_reports_left: 0,
            rs: super::Codec::default(),
            bodies: Vec::new(),
            parity: VecDeque::new(),
            spare: Vec::new(),
            stats: FecEncoderStats::default(),
        }
    }

    /// The counters.
    pub fn stats(&self) -> FecEncoderStats {
        self.stats
    }

    /// The controller, to feed it the loss the peer reports.
    pub fn controller_mut(&mut self) -> &mut ParityController {
        &mut self.controller
    }

    /// The loss this side observes on what it receives, in parts per million, to report to
    /// the peer in the next data shards (rounded to tenths of a percent, at most 25.5 %: below
    /// 0.05 % reads as none, at the default residual target no parity is needed for it).
    pub fn set_loss_report_ppm(&mut self, ppm: u32) {
        let report = u8::try_from(ppm.saturating_add(500) / 1_000).unwrap_or(u8::MAX);
        if report == 0 && self.loss_report > 0 {
            self.zero_reports_left = ZERO_REPORTS;
        }
        self.loss_report = report;
    }

    /// Whether the next datagram must be a data shard: parity is planned for the open group or
    /// a new one (a fixed ratio always plans parity), or there is loss to report (or its end).
    /// Otherwise (`auto` on a clean link) it may leave as a plain KCP datagram, with no header
    /// and no work for either side.
    pub fn needs_shards(&self) -> bool {
        (self.open > 0 && self.planned > 0)
            || self.controller.planned(self.config.group_size()) > 0
            || self.loss_report > 0
            || self.zero_reports_left > 0
    }

    /// A datagram left plain (no shard header: [`FecEncoder::needs_shards`] was false): counted
    /// for start-up's detection of a dense stream.
    pub fn on_plain(&mut self, now: Instant) {
        (self.controller).note_datagram(now, self.config.group_deadline);
    }

    /// Makes `shard` a data shard: `shard[..HEADER_LEN]` receives the header,
    /// `shard[HEADER_LEN..]` holds the datagram. Closes the group when it is full.
    ///
    /// # Panics
    /// If `shard` is shorter than [`HEADER_LEN`] or its datagram longer than 65 535 bytes
    /// (caller bugs: KCP's MTU is far below).
    pub fn on_data(&mut self, now: Instant, shard: &mut [u8]) {
        let body_len = u16::try_from(shard.len() - HEADER_LEN).expect("a datagram fits in u16");
        (self.controller).note_datagram(now, self.config.group_deadline);
        if self.open > 0
            && self.planned == 0
            && self.controller.planned(self.config.group_size()) > 0
        {
            // Loss appeared while a group without parity was open (it has no deadline): end it
            // so that this datagram opens a protected one.
            self.close(now);
        }
        let index = u8::try_from(self.open).expect("groups hold at most MAX_GROUP_DATA shards");
        if self.open == 0 {
            self.planned = self.controller.planned(self.config.group_size());
        }
        if self.loss_report == 0 {
            self.zero_reports_left = self.zero_reports_left.saturating_sub(1);
        }
        ShardHeader {
            kind: ShardKind::Data,
            group: self.group,
            index,
            data_count: 0,
            loss_report: self.loss_report,
            parity_count: self.planned,
        }
        .write(shard);
        self.stats.data_shards += 1;
        // Without planned parity the shards are numbered alike (the receiver measures loss from
        // them), but no copy is kept.
        if self.planned > 0 {
            if self.open == self.framed.len() {
                self.framed.push(Vec::new());
            }
            let framed = &mut self.framed[self.open];
            framed.clear();
            framed.extend_from_slice(&body_len.to_be_bytes());
            framed.extend_from_slice(&shard[HEADER_LEN..]);
        }
        self.open += 1;
        self.opened_at.get_or_insert(now);
        self.last_data_at = Some(now);
        if self.open >= usize::from(self.config.group_size()) {
            self.stats.groups_full += 1;
            self.close(now);
        }
    }

    /// The next parity shard, written into `out`; returns its length. `out` must hold the
    /// largest datagram plus [`HEADER_LEN`] + 2 bytes (a shorter buffer gets nothing and the
    /// shard is dropped).
    pub fn poll_parity(&mut self, out: &mut [u8]) -> Option<usize> {
        let shard = self.parity.pop_front()?;
        let len = shard.len();
        let written = out.get_mut(..len).map(|dst| dst.copy_from_slice(&shard));
        self.spare.push(shard);
        written.map(|()| len)
    }

    /// Whether a parity shard waits for [`poll_parity`](Self::poll_parity).
    pub fn has_parity(&self) -> bool {
        !self.parity.is_empty()
    }

    /// When the open group closes by time, if one is open and will get parity: its deadline
    /// after its first data shard, or a quarter of that after its last, whichever comes first
    /// (a group without planned parity closes on size only: closing it early would change
    /// nothing on the wire, and the timer would cost wake-ups on a clean link).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let deadline = self.config.group_deadline;
        let opened = self.opened_at.filter(|_| self.planned > 0)?;
        let idle = self.last_data_at.map(|at| at + deadline / IDLE_DIVISOR);
        Some(idle.map_or(opened + deadline, |idle| idle.min(opened + deadline)))
    }

    /// Closes the open group if its deadline or its idle time has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.poll_timeout().is_some_and(|deadline| now >= deadline) {
            self.stats.groups_timed_out += 1;
            self.close(now);
        }
    }

    /// Ends the open group: its parity joins the queue.
    fn close(&mut self, now: Instant) {
        let data = self.open;
        self.open = 0;
        self.opened_at = None;
        self.last_data_at = None;
        let group = self.group;
        self.group = self.group.wrapping_add(1);
        if data == 0 || self.planned == 0 {
            return;
        }
        let shard_bytes = self.framed[..data].iter().map(Vec::len).max().unwrap_or(0);
        let data_count = u8::try_from(data).expect("groups hold at most MAX_GROUP_DATA shards");
        let parity_count = self
            .controller
            .parity_for(now, data_count, shard_bytes)
            .min(self.planned);
        if parity_count == 0 {
            return;
        }
        let m = usize::from(parity_count);
        for framed in &mut self.framed[..data] {
            framed.resize(shard_bytes, 0);
        }
        if self.bodies.len() < m {
            self.bodies.resize(m, Vec::new());
        }
        for body in &mut self.bodies[..m] {
            body.clear();
            body.resize(shard_bytes, 0);
        }
        let rs = self
            .rs
            .get(data, m)
            .expect("1..=128 data and 1..=64 parity shards are within the codec's limits");
        rs.encode_sep(&self.framed[..data], &mut self.bodies[..m])
            .expect("every shard was padded to the group's shard size");
        for (index, body) in self.bodies[..m].iter().enumerate() {
            let mut shard = self.spare.pop().unwrap_or_default();
            shard.clear();
            shard.resize(HEADER_LEN, 0);
            ShardHeader {
                kind: ShardKind::Parity,
                group,
                index: u8::try_from(index).expect("parity_count fits in u8"),
                data_count,
                loss_report: 0,
                parity_count,
            }
            .write(&mut shard);
            shard.extend_from_slice(body);
            self.stats.parity_shards += 1;
            self.stats.parity_bytes += body.len() as u64;
            self.parity.push_back(shard);
        }
    }
}
