//! What FEC did in a session, a client or a server.

use std::ops::AddAssign;

/// FEC counters, summed over sessions by the server and over reconnects by the client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FecStats {
    /// Sessions that use FEC now (both sides agreed at connect; servers only).
    pub sessions: u64,
    /// Parity shards sent.
    pub parity_sent: u64,
    /// Data shards rebuilt from parity and handed to KCP.
    pub recovered: u64,
    /// Data shards lost in protected groups that too few shards of reached to rebuild
    /// (KCP retransmitted them).
    pub unrecoverable: u64,
    /// Bytes FEC added on the wire: every shard header and every parity datagram (protection
    /// included).
    pub overhead_bytes: u64,
    /// Shards dropped: malformed, inconsistent with their group, or for a forgotten group.
    pub dropped: u64,
    /// Bytes the FEC decoders hold now (a gauge: servers, all sessions' decoders, bounded by
    /// `ServerConfig::fec_max_decoder_bytes`; clients, the current session's).
    pub decoder_bytes: u64,
}

impl FecStats {
    /// What was counted since `earlier` (a previous reading of the same counters; the gauges
    /// `sessions` and `decoder_bytes` are taken as they are now).
    pub fn since(&self, earlier: &FecStats) -> FecStats {
        FecStats {
            sessions: self.sessions,
            parity_sent: self.parity_sent.saturating_sub(earlier.parity_sent),
            recovered: self.recovered.saturating_sub(earlier.recovered),
            unrecoverable: self.unrecoverable.saturating_sub(earlier.unrecoverable),
            overhead_bytes: self.overhead_bytes.saturating_sub(earlier.overhead_bytes),
            dropped: self.dropped.saturating_sub(earlier.dropped),
            decoder_bytes: self.decoder_bytes,
        }
    }
}

impl AddAssign for FecStats {
    fn add_assign(&mut self, other: FecStats) {
        self.sessions += other.sessions;
        self.parity_sent += other.parity_sent;
        self.recovered += other.recovered;
        self.unrecoverable += other.unrecoverable;
        self.overhead_bytes += other.overhead_bytes;
        self.dropped += other.dropped;
        self.decoder_bytes += other.decoder_bytes;
    }
}
