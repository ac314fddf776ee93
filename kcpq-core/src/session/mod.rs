//! One established session: packet protection, the KCP stream, the frame codec and liveness.
//!
//! [`Session`] is the part that server and client share once the handshake is done. It turns
//! protected datagrams into frames and frames into protected datagrams, and knows when the session
//! is dead: KCP's dead-link limit, or `dead_after` of silence (any authenticated datagram counts as
//! liveness). It knows nothing of subscriptions or routing.

mod fec;
mod loss;
mod open_batch;
mod seal_batch;

use std::net::SocketAddr;
use std::time::Duration;

use self::fec::{Payload, SEND_HEADROOM, SessionFec};
pub(crate) use self::open_batch::handle_in_groups;
pub(crate) use self::seal_batch::SealBatch;

use crate::Instant;
use crate::crypto::{
    DATA_HEADER_LEN, DATA_OVERHEAD, EstablishedSession, OpenDrop, PacketProtection,
};
use crate::crypto::{Opened, PrecomputedTag, SessionId, TAG_LEN, UntaggedPacket};
use crate::fec::{FecConfig, FecMode, FecStats};
use crate::kcp::{Kcp, KcpConfig, KcpState, KcpWriteError};
use crate::proto::{Frame, FrameDecoder};

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// Nothing authenticated arrived for `dead_after`.
    Silence,
    /// KCP gave up retransmitting a segment (dead-link limit).
    DeadLink,
    /// The peer sent CLOSE, with its reason.
    PeerClosed(String),
    /// The peer broke the protocol.
    ProtocolViolation(String),
    /// This side closed it (API call, shutdown or drain).
    Local,
    /// The server no longer knows the session (a valid stateless reset arrived).
    StatelessReset,
    /// All packet numbers are used up (never in practice).
    PacketNumbersExhausted,
    /// A new session under this client's name replaced this one: the same client reconnecting
    /// (same instance token) before the old session was found dead, or another instance taking
    /// the name over.
    Replaced,
    /// The server was full and this session, silent for longer than its ping interval, made
    /// room for a new client.
    Evicted,
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CloseReason::Silence => {
                f.write_str("no datagram from the peer within the dead-after time")
            }
            CloseReason::DeadLink => {
                f.write_str("KCP dead link: a segment was retransmitted too often")
            }
            CloseReason::PeerClosed(reason) => write!(f, "closed by peer: {reason}"),
            CloseReason::ProtocolViolation(what) => write!(f, "protocol violation: {what}"),
            CloseReason::Local => f.write_str("closed locally"),
            CloseReason::StatelessReset => {
                f.write_str("the server lost the session (stateless reset)")
            }
            CloseReason::PacketNumbersExhausted => f.write_str("packet numbers exhausted"),
            CloseReason::Replaced => {
                f.write_str("replaced by a new session under the same client name")
            }
            CloseReason::Evicted => f.write_str(
                "evicted: the server was full and this session had been silent the longest",
            ),
        }
    }
}

/// What a received datagram did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Received {
    /// Authenticated and handed to KCP.
    Accepted,
    /// Dropped by packet protection.
    Dropped(OpenDrop),
}

/// One established session's transport.
#[derive(Debug)]
pub(crate) struct Session {
    protection: PacketProtection,
    kcp: Kcp,
    decoder: FrameDecoder,
    peer: SocketAddr,
    last_heard: Instant,
    /// When liveness is checked next (lazily re-armed from `last_heard`).
    liveness_check: Instant,
    dead_after: Duration,
    /// Reused buffer for encoding frames before they enter KCP.
    encode_buf: Vec<u8>,
    /// FEC, when this side offers it (boxed: most sessions of a server without FEC have none).
    fec: Option<Box<SessionFec>>,
    /// FEC counters already handed out by [`Session::take_fec_stats`].
    fec_taken: FecStats,
}

impl Session {
    /// A session over `established`, with KCP configured by `kcp` (its MTU must leave room for
    /// [`DATA_OVERHEAD`]) and frames of at most `max_frame_body` bytes accepted from the peer.
    /// With a `fec` mode other than off, this side offers FEC: it accepts shards at once, sends
    /// them once [`Session::start_fec`] is called, and KCP's datagrams leave room for the shard
    /// header from the start.
    pub(crate) fn new(
        established: EstablishedSession,
        kcp: KcpConfig,
        max_frame_body: usize,
        dead_after: Duration,
        fec: &FecConfig,
        now: Instant,
    ) -> Session {
        let conv = crate::crypto::conv_for(established.session_id);
        let mut kcp = Kcp::new(conv, kcp, now);
        let fec = (fec.mode != FecMode::Off && fec.validate().is_ok()).then(|| {
            kcp.set_send_headroom(SEND_HEADROOM);
            Box::new(SessionFec::new(fec.clone(), conv))
        });
        Session {
            protection: established.protection,
            kcp,
            decoder: FrameDecoder::new(max_frame_body),
            peer: established.peer,
            last_heard: now,
            liveness_check: now + dead_after,
            dead_after,
            encode_buf: Vec::new(),
            fec,
            fec_taken: FecStats::default(),
        }
    }

    /// Whether this side offers FEC.
    pub(crate) fn offers_fec(&self) -> bool {
        self.fec.is_some()
    }

    /// Both sides agreed to FEC: datagrams leave as shards from now on. Nothing happens if this
    /// side did not offer it.
    pub(crate) fn start_fec(&mut self) {
        if let Some(fec) = &mut self.fec {
            fec.start_sending();
        }
    }

    /// What FEC did in this session.
    pub(crate) fn fec_stats(&self) -> FecStats {
        self.fec.as_ref().map(|f| f.stats()).unwrap_or_default()
    }

    /// What FEC did since the last call (`sessions`: 1 while this session uses FEC).
    pub(crate) fn take_fec_stats(&mut self) -> FecStats {
        let now = self.fec_stats();
        let delta = now.since(&self.fec_taken);
        self.fec_taken = now;
        delta
    }

    /// Bytes the FEC decoder holds now.
    pub(crate) fn fec_memory(&self) -> usize {
        self.fec.as_ref().map_or(0, |f| f.memory())
    }

    /// Caps the FEC decoder's memory.
    pub(crate) fn set_fec_memory_limit(&mut self, bytes: usize) {
        if let Some(fec) = &mut self.fec {
            fec.set_memory_limit(bytes);
        }
    }

    pub(crate) fn session_id(&self) -> SessionId {
        self.protection.session_id()
    }

    pub(crate) fn peer(&self) -> SocketAddr {
        self.peer
    }

    pub(crate) fn last_heard(&self) -> Instant {
        self.last_heard
    }

    /// Ends the session after `dead_after` of silence from now on (the next liveness check
    /// moves earlier if needed).
    pub(crate) fn set_dead_after(&mut self, dead_after: Duration) {
        self.dead_after = dead_after;
        self.liveness_check = self.liveness_check.min(self.last_heard + dead_after);
    }

    pub(crate) fn kcp(&self) -> &Kcp {
        &self.kcp
    }

    /// Opens a protected datagram in place and feeds its segments to KCP. `precomputed` is its
    /// tag if a batch computed it ([`precompute_tags`]).
    pub(crate) fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &mut [u8],
        precomputed: Option<&PrecomputedTag>,
    ) -> Received {
        match self.protection.open_with(now, datagram, precomputed) {
            Ok(opened) => {
                self.accept_opened(now, from, datagram, opened);
                Received::Accepted
            }
            Err(drop) => Received::Dropped(drop),
        }
    }

    /// What computing `datagram`'s tag takes, if it is a data packet of this session whose
    /// keys are at hand.
    pub(crate) fn tag_job<'a>(&'a self, datagram: &'a [u8]) -> Option<kcpq_mac::TagJob<'a>> {
        self.protection.tag_job(datagram)
    }

    /// Feeds an already opened datagram (the first one, opened by the handshake responder).
    pub(crate) fn accept_opened(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &mut [u8],
        opened: Opened,
    ) {
        if opened.is_highest {
            self.peer = from;
        }
        self.last_heard = now;
        let payload = &mut datagram[opened.payload];
        let shard = match &mut self.fec {
            Some(fec) => fec.receive(now, opened.packet_number, payload, &mut self.kcp),
            None => Payload::Kcp,
        };
        if let Payload::Kcp = shard {
            self.kcp.handle_datagram(now, payload);
        }
        self.protection.set_old_keys_lifetime(self.kcp.rto());
    }

    /// Whether `datagram` is a stateless reset for this session.
    pub(crate) fn is_stateless_reset(&mut self, datagram: &[u8]) -> bool {
        self.protection.is_stateless_reset(datagram)
    }

    /// Moves received stream bytes into the frame decoder. Returns the number of bytes moved.
    fn fill_decoder(&mut self) -> usize {
        let decoder = &mut self.decoder;
        self.kcp.read_chunks(|chunk| {
            decoder.push(chunk);
            chunk.len()
        })
    }

    /// Takes the frame decoder out (filled with everything KCP has delivered) so frames can be
    /// processed while the session is borrowed mutably; give it back with
    /// [`Session::restore_decoder`].
    pub(crate) fn take_decoder(&mut self) -> FrameDecoder {
        self.fill_decoder();
        let max = self.decoder.max_body();
        std::mem::replace(&mut self.decoder, FrameDecoder::new(max))
    }

    /// Gives back a decoder taken with [`Session::take_decoder`], then pulls in any stream bytes
    /// that arrived since.
    pub(crate) fn restore_decoder(&mut self, decoder: FrameDecoder) {
        self.decoder = decoder;
    }

    /// Encodes `frame` into the KCP stream. Refused whole when KCP's send buffer is full.
    /// The payload is copied once, straight into KCP's send buffer (only the head is encoded
    /// into a scratch buffer).
    pub(crate) fn write_frame(&mut self, frame: &Frame<'_>) -> Result<(), KcpWriteError> {
        self.encode_buf.clear();
        let payload = frame.encode_head(&mut self.encode_buf);
        self.kcp.write_parts(&[&self.encode_buf, payload])
    }

    /// Writes already encoded frame bytes into the KCP stream, refused whole when full.
    pub(crate) fn write_encoded(&mut self, bytes: &[u8]) -> Result<(), KcpWriteError> {
        self.kcp.write(bytes)
    }

    /// The last datagram of a session about to end, written into `buf`: whatever the stream
    /// holds, with the pending ACKs even where `ack_delay` would hold them (nothing will follow
    /// for them to ride on). Returns its length; `None` when there is nothing to send.
    pub(crate) fn poll_last_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.kcp.acknowledge_now();
        self.poll_transmit(now, buf)
    }

    /// The next protected datagram for the peer, written into `buf`; returns its length.
    /// `buf` must hold at least the KCP MTU plus [`DATA_OVERHEAD`] bytes.
    pub(crate) fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        Some(self.poll_transmit_untagged(now, buf)?.finish(buf))
    }

    /// [`Session::poll_transmit`] but for the tag, which the caller writes, for several
    /// datagrams at once through a [`SealBatch`].
    pub(crate) fn poll_transmit_untagged(
        &mut self,
        now: Instant,
        buf: &mut [u8],
    ) -> Option<UntaggedPacket> {
        let mtu = self.kcp.config().mtu;
        let end = (DATA_HEADER_LEN + mtu).min(buf.len().saturating_sub(TAG_LEN));
        // A buffer too small for one datagram is the caller's bug (documented); KCP then sends
        // nothing rather than a short segment, and nothing is lost.
        let payload = buf.get_mut(DATA_HEADER_LEN..end.max(DATA_HEADER_LEN))?;
        let len = match &mut self.fec {
            Some(fec) if fec.is_sending() => {
                fec.transmit(now, payload, &mut self.kcp, DATA_OVERHEAD)?
            }
            _ => self.kcp.poll_transmit(now, payload)?,
        };
        // The buffer was checked to hold header, payload and tag, and packet numbers cannot run
        // out in practice (2^64); both errors would be caller bugs caught in tests.
        self.protection.seal_untagged(buf, len).ok()
    }

    /// The next moment [`Session::handle_timeout`] has work.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let mut next = Some(self.liveness_check);
        let fec = self.fec.as_ref().and_then(|f| f.poll_timeout());
        for t in [self.kcp.poll_timeout(), self.protection.poll_timeout(), fec]
            .into_iter()
            .flatten()
        {
            next = Some(next.map_or(t, |n| n.min(t)));
        }
        next
    }

    /// Runs timers; returns why the session died, if it did.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Option<CloseReason> {
        self.kcp.handle_timeout(now);
        self.protection.handle_timeout(now);
        if let Some(fec) = &mut self.fec {
            fec.handle_timeout(now);
        }
        if self.kcp.state() == KcpState::DeadLink {
            return Some(CloseReason::DeadLink);
        }
        if now >= self.liveness_check {
            let deadline = self.last_heard + self.dead_after;
            if now >= deadline {
                return Some(CloseReason::Silence);
            }
            self.liveness_check = deadline;
        }
        None
    }

    /// Whether KCP has nothing left to send or retransmit (used by drain and close).
    pub(crate) fn is_flushed(&self) -> bool {
        self.kcp.unacked_segments() == 0
            && self.kcp.unsent_bytes() == 0
            && !self.fec.as_ref().is_some_and(|f| f.has_parity())
    }

    /// The size of datagrams this session sends at most.
    pub(crate) fn max_datagram(&self) -> usize {
        self.kcp.config().mtu + DATA_OVERHEAD
    }
}
