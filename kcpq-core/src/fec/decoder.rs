//! The receiver's side: data shards in at once, lost ones rebuilt from parity.

use std::collections::VecDeque;
use std::time::Duration;

use crate::Instant;

use super::config::MAX_GROUP_DATA;
use super::wire::{ShardHeader, ShardKind};

/// The most groups a decoder tracks at once; a new group beyond it forgets the oldest.
pub const MAX_OPEN_GROUPS: usize = 32;
/// The most shard bytes a decoder holds for possible recovery; beyond it the oldest group is
/// forgotten.
pub const MAX_HELD_BYTES: usize = 64 * 1024;
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
    /// Data shards lost in groups that could not be rebuilt (too few shards arrived).
    pub unrecovered: u64,
    /// Shards dropped: malformed, inconsistent with their group, or for a forgotten group.
    pub dropped: u64,
    /// Groups forgotten before they completed (bounds or lifetime).
    pub groups_forgotten: u64,
}

#[derive(Debug)]
struct Group {
    number: u32,
    created: Instant,
    /// Framed copies (`len u16`, bytes) of the data shards received, by index.
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
/// the loss this side observes, for the peer's parity controller.
#[derive(Debug)]
pub struct FecDecoder {
    groups: VecDeque<Group>,
    held: usize,
    newest: Option<u32>,
    recovered: VecDeque<Vec<u8>>,
    rs: super::Codec,
    expected: u64,
    lost: u64,
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
            held: 0,
            newest: None,
            recovered: VecDeque::new(),
            rs: super::Codec::default(),
            expected: 0,
            lost: 0,
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

    /// Bytes held for possible recovery now.
    pub fn held_bytes(&self) -> usize {
        self.held
    }

    /// When the oldest incomplete group expires, if there is one: call
    /// [`handle_timeout`](Self::handle_timeout) then so that its losses are counted (expiry
    /// also happens as shards arrive).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.groups
            .iter()
            .find(|g| !g.done)
            .map(|g| g.created + GROUP_LIFETIME)
    }

    /// Forgets the groups whose lifetime has passed, counting what they lost.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.forget_expired(now);
    }

    /// Takes one shard.
    pub fn unwrap<'a>(&mut self, now: Instant, shard: &'a [u8]) -> Unwrapped<'a> {
        let Some((header, body)) = ShardHeader::read(shard) else {
            self.stats.dropped += 1;
            return Unwrapped::Dropped;
        };
        self.forget_expired(now);
        let Some(at) = self.group_index(now, header.group) else {
            self.stats.dropped += 1;
            return Unwrapped::Dropped;
        };
        let index = usize::from(header.index);
        if header.kind == ShardKind::Data && header.index >= MAX_GROUP_DATA {
            self.stats.dropped += 1;
            return Unwrapped::Dropped;
        }
        match header.kind {
            ShardKind::Data => {
                self.stats.data_shards += 1;
                let group = &mut self.groups[at];
                let within = group.shape.is_none_or(|(k, _, _)| index < k);
                group.protected |= header.parity_count > 0;
                if !group.done && within {
                    group.seen = group.seen.max(index + 1);
                    if group.data.len() <= index {
                        group.data.resize(index + 1, None);
                    }
                    if group.data[index].is_none() && !group.protected {
                        group.data[index] = Some(Vec::new());
                        group.data_received += 1;
                    } else if group.data[index].is_none() {
                        let mut framed = Vec::with_capacity(body.len() + 2);
                        framed.extend_from_slice(
                            &u16::try_from(body.len()).unwrap_or(u16::MAX).to_be_bytes(),
                        );
                        framed.extend_from_slice(body);
                        group.bytes += framed.len();
                        self.held += framed.len();
                        group.data[index] = Some(framed);
                        group.data_received += 1;
                    }
                    self.try_complete(at);
                }
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
                let group = &mut self.groups[at];
                if group.shape.is_some_and(|s| s != shape)
                    || group.data.iter().skip(shape.0).any(Option::is_some)
                {
                    self.stats.dropped += 1;
                    return Unwrapped::Dropped;
                }
                group.shape = Some(shape);
                if !group.done && !group.parity.iter().any(|(i, _)| *i == index) {
                    group.bytes += body.len();
                    self.held += body.len();
                    group.parity.push((index, body.to_vec()));
                    self.try_complete(at);
                }
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
        out.get_mut(..len)
            .map(|dst| dst.copy_from_slice(&datagram))
            .map(|()| len)
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
        self.groups.push_back(Group {
            number,
            created: now,
            data: Vec::new(),
            data_received: 0,
            parity: Vec::new(),
            shape: None,
            done: false,
            protected: false,
            seen: 0,
            bytes: 0,
        });
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

    fn rebuild(&mut self, at: usize, k: usize, m: usize, shard_bytes: usize) {
        let group = &mut self.groups[at];
        // Every shard of the group at the same size, with whether it arrived.
        let mut shards: Vec<(Vec<u8>, bool)> = Vec::with_capacity(k + m);
        let mut missing = Vec::new();
        for index in 0..k {
            match group.data.get_mut(index).and_then(Option::take) {
                Some(mut framed) if framed.len() <= shard_bytes => {
                    framed.resize(shard_bytes, 0);
                    shards.push((framed, true));
                }
                Some(_) => {
                    self.stats.dropped += 1;
                    return;
                }
                None => {
                    missing.push(index);
                    shards.push((vec![0; shard_bytes], false));
                }
            }
        }
        let mut parity: Vec<Option<Vec<u8>>> = vec![None; m];
        for (index, body) in group.parity.drain(..) {
            if let Some(slot) = parity.get_mut(index) {
                *slot = Some(body);
            }
        }
        for body in parity {
            shards.push(match body {
                Some(body) => (body, true),
                None => (vec![0; shard_bytes], false),
            });
        }
        let rebuilt = self
            .rs
            .get(k, m)
            .is_some_and(|rs| rs.reconstruct_data(&mut shards).is_ok());
        if !rebuilt {
            self.stats.dropped += 1;
            return;
        }
        for index in missing {
            let framed = &shards[index].0;
            let len = usize::from(u16::from_be_bytes([framed[0], framed[1]]));
            let Some(datagram) = framed.get(2..2 + len) else {
                self.stats.dropped += 1;
                continue;
            };
            if self.recovered.len() >= MAX_RECOVERED {
                self.recovered.pop_front();
                self.stats.dropped += 1;
            }
            self.recovered.push_back(datagram.to_vec());
            self.stats.recovered += 1;
        }
    }

    /// Marks group `at` done and frees what it held.
    fn finish(&mut self, at: usize) {
        let group = &mut self.groups[at];
        group.done = true;
        self.held -= group.bytes;
        group.bytes = 0;
        group.data = Vec::new();
        group.parity = Vec::new();
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
        while self
            .groups
            .front()
            .is_some_and(|g| now.saturating_duration_since(g.created) >= GROUP_LIFETIME)
        {
            self.forget_oldest();
        }
    }

    fn enforce_bounds(&mut self) {
        while self.held > MAX_HELD_BYTES {
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
        let Some(group) = self.groups.pop_front() else {
            return;
        };
        self.held -= group.bytes;
        if group.done {
            return;
        }
        self.stats.groups_forgotten += 1;
        // Without parity the group's size is unknown: the highest index seen bounds it.
        let expected = group.shape.map_or(group.seen, |(k, _, _)| k);
        let lost = expected.saturating_sub(group.data_received);
        self.stats.unrecovered += lost as u64;
        self.sample_loss(expected as u64, lost as u64);
    }
}
