//! FEC inside a session, between KCP and packet protection (KCP -> FEC -> seal).
//!
//! Every datagram KCP sends becomes a data shard (8-byte header in front) and every parity
//! shard travels alone, each in its own sealed datagram: packet protection authenticates and
//! replay-checks shards like any packet. Inside an opened payload, a plain KCP datagram starts
//! with the low byte of the session's KCP conversation id (little-endian `conv`); a shard's
//! first byte is its kind (0 data, 1 parity) XORed with that byte and `0x80`, so it can never
//! be taken for one. A receiver that offered FEC accepts both at any time, so the switch at
//! connect needs no synchronisation, and `auto` sends plain datagrams while it has neither
//! parity to plan nor loss to report.

use crate::Instant;
use crate::fec::{FecConfig, FecDecoder, FecEncoder, FecStats, HEADER_LEN, Unwrapped};
use crate::kcp::Kcp;

use super::loss::LossMeter;

/// Bytes KCP leaves free in each datagram it sends when FEC may be used: the shard header, and
/// the 2-byte length that frames a data shard in parity (so a parity shard fits the MTU too).
pub(crate) const SEND_HEADROOM: usize = HEADER_LEN + 2;

/// One session's FEC state: present when this side offered FEC.
#[derive(Debug)]
pub(crate) struct SessionFec {
    encoder: FecEncoder,
    decoder: FecDecoder,
    /// The peer agreed: datagrams leave as shards.
    sending: bool,
    /// The first byte of a plain KCP datagram of this session.
    conv_byte: u8,
    /// Rebuilt datagrams are written here before KCP takes them (reused).
    scratch: Vec<u8>,
    overhead_bytes: u64,
    /// The loss of the peer's datagrams, reported to it in data shards.
    loss: LossMeter,
}

/// What an opened payload holds.
pub(crate) enum Payload {
    /// A plain KCP datagram.
    Kcp,
    /// A shard, already fed to KCP (with whatever it let the decoder rebuild).
    Shard,
}

impl SessionFec {
    /// FEC for a session whose KCP conversation id is `conv`, sending with `config` once the
    /// peer agrees.
    pub(crate) fn new(config: FecConfig, conv: u32) -> SessionFec {
        SessionFec {
            encoder: FecEncoder::new(config),
            decoder: FecDecoder::new(),
            sending: false,
            conv_byte: conv.to_le_bytes()[0],
            scratch: Vec::new(),
            overhead_bytes: 0,
            loss: LossMeter::default(),
        }
    }

    /// The peer agreed to FEC: shards from now on.
    pub(crate) fn start_sending(&mut self) {
        self.sending = true;
    }

    /// Whether datagrams leave as shards.
    pub(crate) fn is_sending(&self) -> bool {
        self.sending
    }

    /// Bytes the decoder holds now.
    pub(crate) fn memory(&self) -> usize {
        self.decoder.memory()
    }

    /// Caps the decoder's memory (see [`FecDecoder::set_memory_limit`]).
    pub(crate) fn set_memory_limit(&mut self, bytes: usize) {
        self.decoder.set_memory_limit(bytes);
    }

    /// The counters so far.
    pub(crate) fn stats(&self) -> FecStats {
        let encoded = self.encoder.stats();
        let decoded = self.decoder.stats();
        FecStats {
            sessions: u64::from(self.sending),
            parity_sent: encoded.parity_shards,
            recovered: decoded.recovered,
            unrecoverable: decoded.unrecovered,
            overhead_bytes: self.overhead_bytes,
            dropped: decoded.dropped,
            decoder_bytes: self.decoder.memory() as u64,
            ..FecStats::default()
        }
    }

    /// Takes an opened payload with packet number `pn`: a shard goes through the decoder into
    /// `kcp` (rebuilt datagrams after it); a plain datagram is left to the caller.
    pub(crate) fn receive(
        &mut self,
        now: Instant,
        pn: u64,
        payload: &mut [u8],
        kcp: &mut Kcp,
    ) -> Payload {
        self.loss.record(pn);
        self.encoder.set_loss_report_ppm(self.loss.loss_ppm());
        let Some(first) = payload.first_mut() else {
            return Payload::Kcp;
        };
        if *first == self.conv_byte {
            return Payload::Kcp;
        }
        *first ^= self.conv_byte ^ 0x80;
        if let Unwrapped::Data(datagram) = self.decoder.unwrap(now, payload) {
            kcp.handle_datagram(now, datagram);
        }
        self.scratch.resize(kcp.config().mtu, 0);
        while let Some(len) = self.decoder.poll_recovered(&mut self.scratch) {
            kcp.handle_datagram(now, &self.scratch[..len]);
        }
        if let Some(ppm) = self.decoder.peer_loss_ppm() {
            self.encoder.controller_mut().set_peer_loss_ppm(ppm);
        }
        Payload::Shard
    }

    /// Writes the next datagram's payload into `payload` (the MTU's worth): a queued parity
    /// shard, or KCP's next datagram as a data shard (or plain, when `auto` has neither parity
    /// nor loss to report). Returns its length. Only while sending.
    pub(crate) fn transmit(
        &mut self,
        now: Instant,
        payload: &mut [u8],
        kcp: &mut Kcp,
        protection_overhead: usize,
    ) -> Option<usize> {
        if let Some(len) = self.encoder.poll_parity(payload) {
            payload[0] ^= self.conv_byte ^ 0x80;
            self.overhead_bytes += (len + protection_overhead) as u64;
            return Some(len);
        }
        if kcp.stats().acks_in > 0 {
            // A round trip has been measured: start-up is sized to it.
            self.encoder.controller_mut().set_rtt(kcp.srtt());
        }
        if !self.encoder.needs_shards() {
            let len = kcp.poll_transmit(now, payload)?;
            self.encoder.on_plain(now);
            return Some(len);
        }
        let datagram = kcp.poll_transmit(now, payload.get_mut(HEADER_LEN..)?)?;
        let len = HEADER_LEN + datagram;
        self.encoder.on_data(now, &mut payload[..len]);
        payload[0] ^= self.conv_byte ^ 0x80;
        self.overhead_bytes += HEADER_LEN as u64;
        Some(len)
    }

    /// Whether a parity shard waits to be sent.
    pub(crate) fn has_parity(&self) -> bool {
        self.encoder.has_parity()
    }

    /// The next moment a group closes or the decoder has timers.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let encoder = self.encoder.poll_timeout().filter(|_| self.sending);
        match (encoder, self.decoder.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs the timers: closes a group whose deadline passed (its parity then waits for
    /// [`transmit`](Self::transmit)) and expires stale groups.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        self.encoder.handle_timeout(now);
        self.decoder.handle_timeout(now);
    }
}
