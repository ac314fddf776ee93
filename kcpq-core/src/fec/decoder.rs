//! The receiver's side: data shards in at once, lost ones rebuilt from parity.

use std::collections::VecDeque;
use std::time::Duration;

use crate::Instant;

use super::config::MAX_GROUP_DATA;
use super::wire::{ShardHeader, ShardKind};

/// The most groups a decoder tracks at once; a new group beyond it forgets the oldest.
pub const MAX_OPEN_GROUPS: usize = 32;
/// The most bytes a decoder holds (shard copies kept for recovery and emptied buffers kept for
/// reuse); beyond it spare buffers are freed, then the oldest group is forgotten. A lower limit
/// can be set per decoder ([`FecDecoder::set_memory_limit`]): a server uses it to bound all its
/// sessions' decoders together.
pub const MAX_HELD_BYTES: usize = 64 * 1024;
/// The most emptied buffers a decoder keeps for reuse (within its memory limit); more are freed.
const MAX_SPARE: usize = 32;
/// A new buffer is made this large at once, so that it can be reused for any shard of a
/// 1 400-byte datagram.
const BUFFER_HINT: usize = 1_500;
/// A group still waiting for shards this long after its first is forgotten: its parity, if
/// any, would arrive later than KCP's retransmission anyway.
const GROUP_LIFETIME: Duration = Duration::from_secs(1);
/// The most rebuilt datagrams waiting for `poll_recovered`; the oldest go first.
const MAX_RECOVERED: usize = 256;
/// Loss is measured over about this many data shards (older counts decay).
const LOSS_WINDOW: u64 = 4096;

/// What [`FecDecoder::unwrap`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unwrapped<'a> {
    /// A data shard: hand this datagram to KCP now.
    Data(&'a [u8]),
    /// A parity shard, kept for recovery (rebuilt datagrams come from `poll_recovered`).
    Parity,
    /// Malformed, inconsistent or too late: dropped and counted.
    Dropped,
}

/// The decoder's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FecDecoderStats {
    /// Data shards received.
    pub data_shards: u64,
    /// Parity shards received.
    pub parity_shards: u64,
    /// Data shards rebuilt from parity.
    pub recovered: u64,
    /// Data shards lost in protected groups that could not be rebuilt (too few shards
    /// arrived); losses in groups sent without parity are not counted here.
    pub unrecovered: u64,
    /// Shards dropped: malformed, inconsistent with their group, or for a forgotten group.
    pub dropped: u64,
    /// Groups forgotten before they completed (bounds or lifetime).
    pub groups_forgotten: u64,
}

#[derive(Debug, Default)]
struct Group {
    number: u32,
    created: Option<Instant>,
    /// Framed copies (`len u16`, bytes) of the data shards received, by index; an empty copy
    /// marks a shard received in a group without parity (nothing kept).
    data: Vec<Option<Vec<u8>>>,
    data_received: usize,
    /// Parity bodies received, with their index.
    parity: Vec<(usize, Vec<u8>)>,
    /// From the parity shards: data count, parity count, shard size.
    shape: Option<(usize, usize, usize)>,
    /// Every data shard is in (received or rebuilt), or the group was given up.
    done: bool,
    /// The sender planned parity: copies are kept for recovery.
    protected: bool,
    /// The highest data index seen, plus one (the group's size when it gets no parity).
    seen: usize,
    /// Bytes held.
    bytes: usize,
}

/// The receiver's side of FEC, as a sans-IO state machine.
///
/// Feed every shard (the opened payload of a datagram) to [`unwrap`](Self::unwrap); hand a
/// [`Unwrapped::Data`] datagram to KCP at once, then drain
/// [`poll_recovered`](Self::poll_recovered) and hand those to KCP too. KCP discards duplicates,
/// so a shard that arrives after it was rebuilt does no harm. [`loss_ppm`](Self::loss_ppm) is
/// the loss this side observes, for the peer's parity controller, and
/// [`peer_loss_ppm`](Self::peer_loss_ppm) the loss the peer reported in its data shards.
///
/// Memory: buffers are reused (emptied copies go to a small pool), so a busy decoder stops
/// allocating once warm; an idle one frees its pool one group lifetime after its last shard.
#[derive(Debug)]
pub struct FecDecoder {
    groups: VecDeque<Group>,
    /// Emptied group records, for reuse (at most [`MAX_OPEN_GROUPS`]).
    free_groups: Vec<Group>,
    held: usize,
    /// Emptied buffers, for reuse, and their capacity in bytes.
    spare: Vec<Vec<u8>>,
    spare_bytes: usize,
    limit: usize,
    newest: Option<u32>,
    last_shard: Option<Instant>,
    recovered: VecDeque<Vec<u8>>,
    /// The shards of a group being rebuilt (reused).
    work: Vec<(Vec<u8>, bool)>,
    rs: super::Codec,
    expected: u64,
    lost: u64,
    peer_loss: Option<u32>,
    stats: FecDecoderStats,
}

impl Default for FecDecoder {
    fn default() -> Self {
        FecDecoder::new()
    }
}

impl FecDecoder {
    /// An empty decoder.
    pub fn new() -> FecDecoder {
        FecDecoder {
            groups: VecDeque::new(),
            free_groups: Vec::new(),
            held: 0,
            spare: Vec::new(),
            spare_bytes: 0,
            limit: MAX_HELD_BYTES,
            newest: None,
            last_shard: None,
            recovered: VecDeque::new(),
            work: Vec::new(),
            rs: super::Codec::default(),
            expected: 0,
            lost: 0,
            peer_loss: None,
            stats: FecDecoderStats::default(),
        }
    }

    /// The counters.
    pub fn stats(&self) -> FecDecoderStats {
        self.stats
    }

    /// The share of data shards that did not arrive (before recovery), in parts per million,
    /// over about the last 4 096 data shards of groups that ended.
    pub fn loss_ppm(&self) -> u32 {
        if self.expected == 0 {
            return 0;
        }
        u32::try_from(self.lost * 1_000_000 / self.expected).unwrap_or(1_000_000)
    }

    /// The loss the peer reported in its latest data shard, in parts per million; `None`
    /// before the first.
    pub fn peer_loss_ppm(&self) -> Option<u32> {
        self.peer_loss
    }

    /// Bytes held for possible recovery now.
    pub fn held_bytes(&self) -> usize {
        self.held
    }

    /// Bytes this decoder holds now: copies kept for recovery and buffers kept for reuse.
    pub fn memory(&self) -> usize {
        self.held + self.spare_bytes
    }

    /// Holds at most `bytes` from now on (at most [`MAX_HELD_BYTES`]): spare buffers are freed
    /// first, then the oldest groups are forgotten. Zero keeps nothing: data shards still pass,
    /// nothing can be rebuilt.
    pub fn set_memory_limit(&mut self, bytes: usize) {
        self.limit = bytes.min(MAX_HELD_BYTES);
        self.enforce_bounds();
    }

    /// When [`handle_timeout`](Self::handle_timeout) has work: the oldest incomplete group
    /// expires (its losses are then counted; expiry also happens as shards arrive), or an idle
    /// decoder frees its spare buffers.
    pub fn poll_timeout(&self) -> Option<Instant> {
        // Groups without parity cannot be rebuilt: they expire as shards arrive, untimed.
        let expiry = self
            .groups
            .iter()
            .find(|g| !g.done && (g.protected || g.shape.is_some()))
            .and_then(|g| g.created)
            .map(|at| at + GROUP_LIFETIME);
        let idle = (!self.spare.is_empty())
            .then_some(self.last_shard)
            .flatten()
            .map(|at| at + GROUP_LIFETIME);
        match (expiry, idle) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Forgets the groups whose lifetime has passed, counting what they lost, and frees the
    /// spare buffers of a decoder idle for a group lifetime.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.forget_expired(now);
        if self
            .last_shard
            .is_some_and(|at| now.saturating_duration_since(at) >= GROUP_LIFETIME)
        {
            self.spare = Vec::new();
            self.spare_bytes = 0;
        }
    }

    /// Takes one shard.
    pub fn unwrap<'a>(&mut self, now: Instant, shard: &'a [u8]) -> Unwrapped<'a> {
        let Some((header, body)) = ShardHeader::read(shard) else {
            self.stats.dropped += 1;
            return Unwrapped::Dropped;
        };
        if header.kind == ShardKind::Data && header.index >= MAX_GROUP_DATA {
            self.stats.dropped += 1;
            return Unwrapped::Dropped;
        }
        self.last_shard = Some(now);
        self.forget_expired(now);
        let Some(at) = self.group_index(now, header.group) else {
            self.stats.dropped += 1;
            return Unwrapped::Dropped;
        };
        let index = usize::from(header.index);
        match header.kind {
            ShardKind::Data => {
                self.stats.data_shards += 1;
                self.peer_loss = Some(u32::from(header.loss_report) * 1_000);
                self.keep_data(at, index, header.parity_count > 0, body);
                self.enforce_bounds();
                Unwrapped::Data(body)
            }
            ShardKind::Parity => {
                self.stats.parity_shards += 1;
                let shape = (
                    usize::from(header.data_count),
                    usize::from(header.parity_count),
                    body.len(),
                );
                let group = &self.groups[at];
                if group.shape.is_some_and(|s| s != shape)
                    || group.data.iter().skip(shape.0).any(Option::is_some)
                {
                    self.stats.dropped += 1;
                    return Unwrapped::Dropped;
                }
                self.keep_parity(at, index, shape, body);
                self.enforce_bounds();
                Unwrapped::Parity
            }
        }
    }

    /// The next rebuilt datagram, written into `out`; returns its length (a buffer too short
    /// for it gets nothing and the datagram is dropped).
    pub fn poll_recovered(&mut self, out: &mut [u8]) -> Option<usize> {
        let datagram = self.recovered.pop_front()?;
        let len = datagram.len();
        let written = out
            .get_mut(..len)
            .map(|dst| dst.copy_from_slice(&datagram))
            .map(|()| len);
        self.give_back(datagram);
        written
    }

    /// Records data shard `index` of group `at`, keeping a framed copy if the group is
    /// protected.
    fn keep_data(&mut self, at: usize, index: usize, protected: bool, body: &[u8]) {
        let group = &mut self.groups[at];
        let within = group.shape.is_none_or(|(k, _, _)| index < k);
        group.protected |= protected;
        if group.done || !within {
            return;
        }
        group.seen = group.seen.max(index + 1);
        if group.data.len() <= index {
            group.data.resize(index + 1, None);
        }
        if group.data[index].is_some() {
            return;
        }
        let copy = if group.protected {
            let mut framed = self.take_buffer(body.len() + 2);
            framed.extend_from_slice(&u16::try_from(body.len()).unwrap_or(u16::MAX).to_be_bytes());
            framed.extend_from_slice(body);
            framed
        } else {
            Vec::new()
        };
        let group = &mut self.groups[at];
        group.bytes += copy.len();
        self.held += copy.len();
        group.data[index] = Some(copy);
        group.data_received += 1;
        self.try_complete(at);
    }

    /// Records parity shard `index` of group `at`, whose shape the shard gave.
    fn keep_parity(&mut self, at: usize, index: usize, shape: (usize, usize, usize), body: &[u8]) {
        let group = &mut self.groups[at];
        group.shape = Some(shape);
        if group.done || group.parity.iter().any(|(i, _)| *i == index) {
            return;
        }
        let mut copy = self.take_buffer(body.len());
        copy.extend_from_slice(body);
        let group = &mut self.groups[at];
        group.bytes += copy.len();
        self.held += copy.len();
        group.parity.push((index, copy));
        self.try_complete(at);
    }

    /// An empty buffer with room for `len` bytes, reused when one is spare.
    fn take_buffer(&mut self, len: usize) -> Vec<u8> {
        let mut buffer = match self.spare.pop() {
            Some(buffer) => {
                self.spare_bytes -= buffer.capacity();
                buffer
            }
            None => Vec::new(),
        };
        buffer.clear();
        if buffer.capacity() < len {
            buffer.reserve_exact(len.max(BUFFER_HINT));
        }
        buffer
    }

    /// Keeps an emptied buffer for reuse if the pool and the memory limit allow, else frees it.
    fn give_back(&mut self, buffer: Vec<u8>) {
        let bytes = buffer.capacity();
        if bytes > 0
            && self.spare.len() < MAX_SPARE
            && self.held + self.spare_bytes + bytes <= self.limit
        {
            self.spare_bytes += bytes;
            self.spare.push(buffer);
        }
    }

    /// The position of group `number`, created if new; `None` for a group too far behind the
    /// newest (already forgotten).
    fn group_index(&mut self, now: Instant, number: u32) -> Option<usize> {
        if let Some(at) = self.groups.iter().position(|g| g.number == number) {
            return Some(at);
        }
        if let Some(newest) = self.newest {
            let behind = newest.wrapping_sub(number);
            if behind != 0 && behind < u32::MAX / 2 && behind as usize >= MAX_OPEN_GROUPS {
                return None;
            }
            if behind >= u32::MAX / 2 || behind == 0 {
                self.newest = Some(number);
            }
        } else {
            self.newest = Some(number);
        }
        if self.groups.len() >= MAX_OPEN_GROUPS {
            self.forget_oldest();
        }
        let mut group = self.free_groups.pop().unwrap_or_default();
        group.number = number;
        group.created = Some(now);
        group.data_received = 0;
        group.shape = None;
        group.done = false;
        group.protected = false;
        group.seen = 0;
        group.bytes = 0;
        self.groups.push_back(group);
        Some(self.groups.len() - 1)
    }

    /// Completes group `at` if every data shard is in, or rebuilds the missing ones if enough
    /// shards are.
    fn try_complete(&mut self, at: usize) {
        let group = &self.groups[at];
        let Some((k, m, shard_bytes)) = group.shape else {
            return;
        };
        if group.data_received < k && group.data_received + group.parity.len() < k {
            return;
        }
        let missing = k - group.data_received;
        if missing > 0 {
            self.rebuild(at, k, m, shard_bytes);
        }
        self.sample_loss(k as u64, missing as u64);
        self.finish(at);
    }

    /// Rebuilds the missing data shards of group `at` (`k` data and `m` parity shards of
    /// `shard_bytes`) into the recovered queue. The group's copies end up in the spare pool.
    fn rebuild(&mut self, at: usize, k: usize, m: usize, shard_bytes: usize) {
        let consistent = self.groups[at]
            .data
            .iter()
            .flatten()
            .all(|framed| framed.len() <= shard_bytes);
        if !consistent {
            self.stats.dropped += 1;
            return;
        }
        let mut work = std::mem::take(&mut self.work);
        work.clear();
        for index in 0..k {
            let copy = self.groups[at].data.get_mut(index).and_then(Option::take);
            let present = copy.is_some();
            let mut shard = copy.unwrap_or_else(|| self.take_buffer(shard_bytes));
            shard.resize(shard_bytes, 0);
            work.push((shard, present));
        }
        for index in 0..m {
            let group = &mut self.groups[at];
            let copy = group
                .parity
                .iter()
                .position(|(i, _)| *i == index)
                .map(|p| group.parity.swap_remove(p).1);
            let present = copy.is_some();
            let mut shard = copy.unwrap_or_else(|| self.take_buffer(shard_bytes));
            shard.resize(shard_bytes, 0);
            work.push((shard, present));
        }
        let rebuilt = self
            .rs
            .get(k, m)
            .is_some_and(|rs| rs.reconstruct_data(&mut work).is_ok());
        if !rebuilt {
            self.stats.dropped += 1;
        }
        for (index, (framed, present)) in work.drain(..).enumerate() {
            if rebuilt && index < k && !present {
                self.queue_recovered(&framed);
            }
            self.give_back(framed);
        }
        self.work = work;
    }

    /// Queues the datagram inside a rebuilt framed shard.
    fn queue_recovered(&mut self, framed: &[u8]) {
        let Some(&[hi, lo]) = framed.get(..2) else {
            self.stats.dropped += 1;
            return;
        };
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        let Some(datagram) = framed.get(2..2 + len) else {
            self.stats.dropped += 1;
            return;
        };
        if self.recovered.len() >= MAX_RECOVERED
            && let Some(oldest) = self.recovered.pop_front()
        {
            self.stats.dropped += 1;
            self.give_back(oldest);
        }
        let mut copy = self.take_buffer(len);
        copy.extend_from_slice(datagram);
        self.recovered.push_back(copy);
        self.stats.recovered += 1;
    }

    /// Marks group `at` done and frees what it held (into the spare pool).
    fn finish(&mut self, at: usize) {
        let group = &mut self.groups[at];
        group.done = true;
        self.held -= group.bytes;
        group.bytes = 0;
        let mut data = std::mem::take(&mut group.data);
        let mut parity = std::mem::take(&mut group.parity);
        for copy in data.drain(..).flatten() {
            self.give_back(copy);
        }
        for (_, copy) in parity.drain(..) {
            self.give_back(copy);
        }
        let group = &mut self.groups[at];
        group.data = data;
        group.parity = parity;
    }

    fn sample_loss(&mut self, expected: u64, lost: u64) {
        self.expected += expected;
        self.lost += lost;
        if self.expected > LOSS_WINDOW {
            self.expected /= 2;
            self.lost /= 2;
        }
    }

    fn forget_expired(&mut self, now: Instant) {
        while self.groups.front().is_some_and(|g| {
            g.created
                .is_some_and(|at| now.saturating_duration_since(at) >= GROUP_LIFETIME)
        }) {
            self.forget_oldest();
        }
    }

    /// Frees spare buffers, then forgets groups, until the decoder is within its limit.
    fn enforce_bounds(&mut self) {
        while self.held + self.spare_bytes > self.limit
            && let Some(buffer) = self.spare.pop()
        {
            self.spare_bytes -= buffer.capacity();
        }
        while self.held > self.limit {
            if self.groups.len() > 1 {
                self.forget_oldest();
            } else {
                // One group alone over the bound: give it up, keeping its number known.
                let at = self.groups.len() - 1;
                self.stats.groups_forgotten += 1;
                self.finish(at);
            }
        }
    }

    /// Drops the oldest group, counting what it lost.
    fn forget_oldest(&mut self) {
        if self.groups.front().is_some_and(|g| !g.done) {
            let group = &self.groups[0];
            // Without parity the group's size is unknown: the highest index seen bounds it.
            let expected = group.shape.map_or(group.seen, |(k, _, _)| k);
            let lost = expected.saturating_sub(group.data_received);
            self.stats.groups_forgotten += 1;
            if group.protected || group.shape.is_some() {
                self.stats.unrecovered += lost as u64;
            }
            self.sample_loss(expected as u64, lost as u64);
            self.finish(0);
        }
        if let Some(group) = self.groups.pop_front()
            && self.free_groups.len() < MAX_OPEN_GROUPS
        {
            self.free_groups.push(group);
        }
    }
}
