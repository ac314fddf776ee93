//! The shard header.

/// Bytes of the header in front of every shard.
pub const HEADER_LEN: usize = 8;

/// What a shard carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardKind {
    /// A KCP datagram, as sent.
    Data,
    /// Reed-Solomon parity over the group's framed data shards.
    Parity,
}

/// The header of one shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardHeader {
    /// Data or parity.
    pub kind: ShardKind,
    /// The group's number.
    pub group: u32,
    /// The shard's index among the group's shards of its kind.
    pub index: u8,
    /// Data shards in the group (parity shards only; 0 in data shards).
    pub data_count: u8,
    /// Data shards only (0 in parity shards): the loss the sender observes on what it
    /// receives, in tenths of a percent (255: 25.5 % or more), for the receiver's parity
    /// controller.
    pub loss_report: u8,
    /// Parity shards in the group. In a data shard, the parity planned when the group opened
    /// (the group gets at most that many): 0 tells the receiver to keep no copy for recovery.
    pub parity_count: u8,
}

impl ShardHeader {
    /// Writes the header into `out[..HEADER_LEN]`.
    ///
    /// # Panics
    /// If `out` is shorter than [`HEADER_LEN`] (a caller bug).
    pub fn write(&self, out: &mut [u8]) {
        out[0] = match self.kind {
            ShardKind::Data => 0,
            ShardKind::Parity => 1,
        };
        out[1..5].copy_from_slice(&self.group.to_be_bytes());
        out[5] = self.index;
        out[6] = match self.kind {
            ShardKind::Data => self.loss_report,
            ShardKind::Parity => self.data_count,
        };
        out[7] = self.parity_count;
    }

    /// Reads a header and returns it with the shard's body; `None` for anything malformed: too
    /// short, an unknown kind, or a parity shard whose counts cannot describe a group.
    pub fn read(shard: &[u8]) -> Option<(ShardHeader, &[u8])> {
        let (head, body) = shard.split_at_checked(HEADER_LEN)?;
        let kind = match head[0] {
            0 => ShardKind::Data,
            1 => ShardKind::Parity,
            _ => return None,
        };
        let (data_count, loss_report) = match kind {
            ShardKind::Data => (0, head[6]),
            ShardKind::Parity => (head[6], 0),
        };
        let header = ShardHeader {
            kind,
            group: u32::from_be_bytes(head[1..5].try_into().ok()?),
            index: head[5],
            data_count,
            loss_report,
            parity_count: head[7],
        };
        let valid = match kind {
            ShardKind::Data => true,
            ShardKind::Parity => {
                header.data_count > 0
                    && header.parity_count > 0
                    && header.index < header.parity_count
                    && !body.is_empty()
            }
        };
        valid.then_some((header, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_and_malformed_ones_are_refused() {
        let h = ShardHeader {
            kind: ShardKind::Parity,
            group: 0xdead_beef,
            index: 2,
            data_count: 10,
            loss_report: 0,
            parity_count: 3,
        };
        let mut buf = vec![0u8; HEADER_LEN + 4];
        h.write(&mut buf);
        assert_eq!(ShardHeader::read(&buf), Some((h, &[0u8; 4][..])));
        // Too short, unknown kind, index beyond the count, empty parity, data with a count.
        assert_eq!(ShardHeader::read(&buf[..HEADER_LEN - 1]), None);
        let mut bad = buf.clone();
        bad[0] = 7;
        assert_eq!(ShardHeader::read(&bad), None);
        let mut bad = buf.clone();
        bad[5] = 3;
        assert_eq!(ShardHeader::read(&bad), None);
        assert_eq!(ShardHeader::read(&buf[..HEADER_LEN]), None);
        // In a data shard, byte 6 is the loss report.
        let mut data = buf.clone();
        data[0] = 0;
        let (read, _) = ShardHeader::read(&data).unwrap();
        assert_eq!(
            (read.kind, read.data_count, read.loss_report),
            (ShardKind::Data, 0, 10)
        );
    }
}
