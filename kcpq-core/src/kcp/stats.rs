//! Counters of one KCP endpoint.

/// Traffic counters of one endpoint. All counters only grow (wrapping is not a concern at u64).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KcpStats {
    /// Datagrams given to `handle_datagram`.
    pub datagrams_in: u64,
    /// Bytes given to `handle_datagram`.
    pub bytes_in: u64,
    /// Segments accepted from those datagrams (every command; dropped ones are in `drops`).
    pub segments_in: u64,
    /// Datagrams produced by `poll_transmit`.
    pub datagrams_out: u64,
    /// Bytes produced by `poll_transmit`.
    pub bytes_out: u64,
    /// Segments produced by `poll_transmit` (every command).
    pub segments_out: u64,
    /// Data segments transmitted for the first time.
    pub data_segments_out: u64,
    /// Payload bytes transmitted for the first time.
    pub data_bytes_out: u64,
    /// Data segments retransmitted because their RTO expired.
    pub retransmits_timeout: u64,
    /// Data segments retransmitted because later segments were acknowledged (fast resend).
    pub retransmits_fast: u64,
    /// Expired segments held back while the oldest ones probed the path, because more timers
    /// expired together than a loss explains (a stall). Those the peer then acknowledged were
    /// spurious timeouts avoided; the others count again in `retransmits_timeout`.
    pub timeouts_held: u64,
    /// ACK segments received.
    pub acks_in: u64,
    /// ACK segments sent.
    pub acks_out: u64,
    /// Window probes (WASK) sent.
    pub window_probes_out: u64,
    /// Window updates (WINS) sent.
    pub window_updates_out: u64,
    /// Data segments received that were already received (acknowledged again, not stored).
    pub duplicate_segments: u64,
    /// Input dropped, per reason.
    pub drops: KcpDrops,
}

/// Input dropped, one counter per reason.
///
/// The first five are malformed or hostile segments: parsing of their datagram stops there.
/// The others are well-formed segments the endpoint cannot use; parsing goes on after them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KcpDrops {
    /// Fewer than 24 bytes left where a header should start (including empty datagrams).
    pub truncated_header: u64,
    /// A header announcing more payload than the datagram holds.
    pub truncated_payload: u64,
    /// A segment whose payload is longer than this endpoint's MSS (`mtu - 24`): the peer uses
    /// a larger MTU. Both ends must use the same MTU; the reference `ikcp.c` defaults to 1400,
    /// this crate to [`DEFAULT_MTU`](super::DEFAULT_MTU) (1367, leaving room for KCPQ's packet
    /// protection), so a reference peer left at its default stalls against a default endpoint
    /// here. The first such drop is also logged (warning) with both sizes.
    pub oversized_segment: u64,
    /// A command byte that is not PUSH, ACK, WASK or WINS.
    pub unknown_command: u64,
    /// A conversation id other than this endpoint's.
    pub wrong_conv: u64,
    /// An `una` acknowledging sequence numbers never sent.
    pub invalid_una: u64,
    /// An ACK for a sequence number never sent.
    pub invalid_ack: u64,
    /// A data segment at or beyond `rcv_nxt + recv_window` (outside the receive window).
    pub beyond_window: u64,
    /// A data segment inside the window but beyond the free space the application left
    /// (unread data fills the window); the peer resends it later.
    pub receive_window_full: u64,
    /// An ACK not queued because `recv_window` ACKs were already waiting to be sent.
    pub ack_list_full: u64,
}

impl KcpDrops {
    /// Sum of all counters.
    pub fn total(&self) -> u64 {
        self.truncated_header
            + self.truncated_payload
            + self.oversized_segment
            + self.unknown_command
            + self.wrong_conv
            + self.invalid_una
            + self.invalid_ack
            + self.beyond_window
            + self.receive_window_full
            + self.ack_list_full
    }

    /// Sum of the malformed-input counters (those that stop parsing a datagram).
    pub fn malformed(&self) -> u64 {
        self.truncated_header
            + self.truncated_payload
            + self.oversized_segment
            + self.unknown_command
            + self.wrong_conv
            + self.invalid_una
            + self.invalid_ack
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_add_up() {
        let d = KcpDrops {
            truncated_header: 1,
            truncated_payload: 2,
            oversized_segment: 3,
            unknown_command: 4,
            wrong_conv: 5,
            invalid_una: 6,
            invalid_ack: 7,
            beyond_window: 8,
            receive_window_full: 9,
            ack_list_full: 10,
        };
        assert_eq!(d.malformed(), 28);
        assert_eq!(d.total(), 55);
    }
}
