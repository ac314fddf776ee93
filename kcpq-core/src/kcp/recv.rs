//! The receive side: parsing datagrams (the reference's `ikcp_input`), the reorder buffer and
//! the in-order receive queue, and the reads that drain it (`ikcp_recv`).

use super::endpoint::{
    ASK_TELL, FAST_RESEND_LIMIT, Kcp, KcpReadError, KcpState, RecvSegment, THRESH_MIN, diff,
};
use super::segment::{Command, DecodeError, HEADER_LEN, SegmentHeader, Segments};
use crate::Instant;

impl Kcp {
    /// Handles one datagram (already authenticated and decrypted) holding one or more segments.
    ///
    /// Malformed or hostile input never panics and never errors: it is dropped and counted in
    /// [`KcpStats::drops`](super::KcpStats::drops). At the first malformed segment (truncated,
    /// unknown command, wrong conv, payload over the MSS, `una` or ACK of unsent data) the rest
    /// of the datagram is dropped; segments before it stay processed.
    ///
    /// Timers run after the datagram is applied, so a retransmission timer that expired while
    /// its ACK was on the way (in this datagram) never fires.
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        self.advance_clock(now);
        self.apply_datagram(datagram);
        self.tick(now);
    }

    /// Applies the segments of one datagram (the body of [`Kcp::handle_datagram`]).
    fn apply_datagram(&mut self, datagram: &[u8]) {
        self.stats.datagrams_in += 1;
        self.stats.bytes_in += datagram.len() as u64;
        if datagram.is_empty() {
            self.stats.drops.truncated_header += 1;
            return;
        }
        let prev_una = self.snd_una();
        let mut max_ack: Option<(u32, u32)> = None;
        let mut probe_answered = false;
        for item in Segments::new(datagram) {
            let (header, payload) = match item {
                Ok(ok) => ok,
                Err(e) => {
                    let drops = &mut self.stats.drops;
                    match e {
                        DecodeError::TruncatedHeader { .. } => drops.truncated_header += 1,
                        DecodeError::TruncatedPayload { .. } => drops.truncated_payload += 1,
                        DecodeError::UnknownCommand(_) => drops.unknown_command += 1,
                    }
                    break;
                }
            };
            if !self.accept_segment(&header, payload.len()) {
                break;
            }
            self.stats.segments_in += 1;
            self.rmt_wnd = header.wnd;
            self.on_una(header.una);
            match header.cmd {
                Command::Ack => {
                    self.stats.acks_in += 1;
                    let rtt = diff(self.current, header.ts);
                    if rtt >= 0 {
                        self.rtt.on_sample(rtt as u32);
                    }
                    if let Some(since) = self.probing_since {
                        probe_answered |= diff(header.ts, since) >= 0;
                    }
                    self.on_ack(header.sn);
                    max_ack = match max_ack {
                        Some((sn, _)) if diff(header.sn, sn) <= 0 => max_ack,
                        _ => Some((header.sn, header.ts)),
                    };
                }
                Command::Push => self.on_push(&header, payload),
                Command::WindowProbe => self.probe_flags |= ASK_TELL,
                Command::WindowSize => {}
            }
        }
        if probe_answered {
            self.release_held();
        }
        if let Some((sn, ts)) = max_ack {
            self.on_fastack(sn, ts);
        }
        if diff(self.snd_una(), prev_una) > 0 {
            self.grow_cwnd();
        }
        if !self.acklist.is_empty() && self.config.ack_delay > 0 && !self.ack_due {
            // TCP's rules for acknowledging at once: two segments waiting, or anything out of
            // order (a duplicate, a gap, a gap filled), so bulk transfers and loss recovery
            // never wait; a lone in-order segment waits for data to ride on.
            let hold = self.ack_hold();
            if self.ack_now || self.acklist.len() >= 2 || hold == 0 {
                self.ack_due = true;
                self.ack_deadline = None;
            } else if self.ack_deadline.is_none() {
                self.ack_deadline = Some(self.current.wrapping_add(hold));
            }
        }
        self.ack_now = false;
    }

    /// How long a lone ACK may wait for data to ride on: `ack_delay`, but at most half of what
    /// the minimum RTO leaves after 1.25 smoothed RTTs, so that a held ACK still reaches the
    /// peer well before its retransmission timer (both ends use the same preset) could fire;
    /// and not at all before the first RTT sample. On a LAN that is `ack_delay`; from about
    /// 24 ms of RTT on (with the 30 ms minimum RTO of the presets), nothing.
    fn ack_hold(&self) -> u32 {
        if !self.rtt.sampled() {
            return 0;
        }
        let srtt = self.rtt.srtt();
        let budget = self.config.min_rto.saturating_sub(srtt + srtt / 4) / 2;
        self.config.ack_delay.min(budget)
    }

    /// Checks what the codec cannot: conv, payload size, and that `una`/ACK refer to sent data.
    /// Counts and returns `false` for a malformed segment.
    fn accept_segment(&mut self, header: &SegmentHeader, payload_len: usize) -> bool {
        let drops = &mut self.stats.drops;
        if header.conv != self.conv {
            drops.wrong_conv += 1;
        } else if payload_len > self.recv_mss {
            if drops.oversized_segment == 0 {
                log::warn!(
                    "KCP conv {:#x}: dropped a segment of {payload_len} payload bytes, over this \
                     endpoint's MSS of {} (MTU {}): the peer's MTU is larger; give both ends the \
                     same MTU (ikcp.c defaults to 1400, kcpq-core to 1367)",
                    self.conv,
                    self.recv_mss,
                    self.recv_mss + HEADER_LEN
                );
            }
            drops.oversized_segment += 1;
        } else if diff(header.una, self.snd_nxt) > 0 {
            drops.invalid_una += 1;
        } else if header.cmd == Command::Ack && diff(header.sn, self.snd_nxt) >= 0 {
            drops.invalid_ack += 1;
        } else {
            return true;
        }
        false
    }

    /// Everything before `una` was received by the peer.
    fn on_una(&mut self, una: u32) {
        let front = self.snd_una();
        let upto = diff(una, front);
        if upto <= 0 {
            return;
        }
        for i in 0..(upto as usize).min(self.snd_buf.len()) {
            self.ack_index(i);
        }
        self.shrink_send_buffer();
    }

    /// The peer received segment `sn`.
    fn on_ack(&mut self, sn: u32) {
        let at = diff(sn, self.snd_una());
        if at < 0 {
            return;
        }
        if let Some(i) = Some(at as usize).filter(|&i| i < self.snd_buf.len()) {
            self.ack_index(i);
            self.shrink_send_buffer();
        }
    }

    /// Fast resend: every unacknowledged segment before the highest ACK of this datagram was
    /// skipped once more, if that ACK answers a transmission made no earlier than the
    /// segment's own last one (`max_ts`, as the reference's `IKCP_FASTACK_CONSERVE`: an ACK
    /// for something sent before a retransmission says nothing about the retransmission); at
    /// `fast_resend` skips it is retransmitted (at most while transmitted `FAST_RESEND_LIMIT`
    /// times), and the congestion window drops to `ssthresh + fast_resend`.
    fn on_fastack(&mut self, max_sn: u32, max_ts: u32) {
        let front = self.snd_una();
        let upto = diff(max_sn, front);
        if upto <= 0 {
            return;
        }
        let threshold = self.config.fast_resend;
        let current = self.current;
        let mut changed = false;
        for seg in self.snd_buf.iter_mut().take(upto as usize) {
            if seg.acked || seg.pending || seg.xmit == 0 || diff(max_ts, seg.ts) < 0 {
                continue;
            }
            seg.fastack += 1;
            if threshold > 0 && seg.fastack >= threshold && seg.xmit <= FAST_RESEND_LIMIT {
                seg.xmit += 1;
                seg.fastack = 0;
                seg.held = false;
                seg.resendts = current.wrapping_add(seg.rto);
                seg.pending = true;
                self.pending += 1;
                if diff(seg.sn, self.scan_sn) < 0 {
                    self.scan_sn = seg.sn;
                }
                if seg.xmit >= self.config.dead_link {
                    self.state = KcpState::DeadLink;
                }
                self.stats.retransmits_fast += 1;
                changed = true;
            }
        }
        if changed {
            let inflight = self.snd_nxt.wrapping_sub(self.snd_una());
            self.ssthresh = (inflight / 2).max(THRESH_MIN);
            self.cwnd = self.ssthresh + threshold;
            self.incr = u64::from(self.cwnd) * self.mss as u64;
        }
    }

    /// Congestion window growth after `snd_una` advanced: slow start below `ssthresh`,
    /// then additive increase by bytes (`incr`), capped at the remote window.
    fn grow_cwnd(&mut self) {
        let rmt = u32::from(self.rmt_wnd);
        if self.cwnd >= rmt {
            return;
        }
        let mss = self.mss as u64;
        if self.cwnd < self.ssthresh {
            self.cwnd += 1;
            self.incr += mss;
        } else {
            self.incr = self.incr.max(mss);
            self.incr += mss * mss / self.incr + mss / 16;
            if (u64::from(self.cwnd) + 1) * mss <= self.incr {
                self.cwnd = self.incr.div_ceil(mss).min(u64::from(u32::MAX)) as u32;
            }
        }
        if self.cwnd > rmt {
            self.cwnd = rmt;
            self.incr = u64::from(rmt) * mss;
        }
    }

    /// A data segment: acknowledge and store it if it is inside the free receive window.
    fn on_push(&mut self, header: &SegmentHeader, payload: &[u8]) {
        let offset = diff(header.sn, self.rcv_nxt);
        if offset < 0 {
            self.stats.duplicate_segments += 1;
            self.ack_now = true;
            self.push_ack(header.sn, header.ts);
            return;
        }
        if offset >= i32::from(self.config.recv_window) {
            self.stats.drops.beyond_window += 1;
            return;
        }
        if offset >= i32::from(self.wnd_unused()) {
            self.stats.drops.receive_window_full += 1;
            return;
        }
        self.push_ack(header.sn, header.ts);
        // Past a gap, or into one: the peer learns of the loss, or of its repair, at once.
        self.ack_now |= offset > 0 || !self.rcv_buf.is_empty();
        let rcv_nxt = self.rcv_nxt;
        match self
            .rcv_buf
            .binary_search_by(|s| diff(s.sn, rcv_nxt).cmp(&offset))
        {
            Ok(_) => self.stats.duplicate_segments += 1,
            Err(pos) => {
                // A new buffer fits its payload only, so a session that only ever receives
                // small frames holds small buffers. A recycled one too small for this payload
                // grows to a whole MSS at once: busy sessions end up with MSS-sized buffers
                // only, and stop allocating.
                let mut data = self
                    .pool
                    .pop()
                    .unwrap_or_else(|| Vec::with_capacity(payload.len()));
                data.clear();
                if data.capacity() < payload.len() {
                    data.reserve_exact(self.recv_mss.max(payload.len()));
                }
                data.extend_from_slice(payload);
                self.rcv_buf.insert(
                    pos,
                    RecvSegment {
                        sn: header.sn,
                        frg: header.frg,
                        data,
                    },
                );
                self.move_to_queue();
            }
        }
    }

    fn push_ack(&mut self, sn: u32, ts: u32) {
        if self.acklist.len() >= usize::from(self.config.recv_window) {
            self.stats.drops.ack_list_full += 1;
        } else {
            self.acklist.push_back((sn, ts, self.current));
        }
    }

    /// Moves in-order segments from the reorder buffer to the receive queue.
    fn move_to_queue(&mut self) {
        while self.rcv_buf.front().is_some_and(|s| s.sn == self.rcv_nxt)
            && self.rcv_queue.len() < usize::from(self.config.recv_window)
        {
            if let Some(seg) = self.rcv_buf.pop_front() {
                self.rcv_nxt = self.rcv_nxt.wrapping_add(1);
                self.rcv_queue_bytes += seg.data.len();
                self.rcv_queue.push_back(seg);
            }
        }
    }

    /// Unread in-order bytes (stream view; in message mode the bytes of complete and partial
    /// messages alike).
    pub fn readable(&self) -> usize {
        self.rcv_queue_bytes
    }

    /// Received segments held: out-of-order plus in-order unread. Never above `recv_window`.
    pub fn recv_buffered_segments(&self) -> usize {
        self.rcv_buf.len() + self.rcv_queue.len()
    }

    /// Zero-copy stream read: calls `consume` with successive in-order chunks (each a slice of
    /// one received segment) and stops when `consume` takes fewer bytes than offered (its return
    /// value, clamped to the chunk) or nothing is left. Returns the bytes consumed. Freed
    /// segment buffers are recycled, and a window update is queued if the window reopened.
    pub fn read_chunks(&mut self, mut consume: impl FnMut(&[u8]) -> usize) -> usize {
        let was_full = self.rcv_queue.len() >= usize::from(self.config.recv_window);
        let mut total = 0;
        while let Some(front) = self.rcv_queue.front() {
            let chunk = &front.data[self.rcv_consumed..];
            let offered = chunk.len();
            let taken = if offered == 0 {
                0
            } else {
                consume(chunk).min(offered)
            };
            total += taken;
            self.rcv_consumed += taken;
            self.rcv_queue_bytes -= taken;
            if taken == offered {
                self.pop_front_segment();
            } else {
                break;
            }
        }
        self.after_read(was_full);
        total
    }

    /// Stream read: copies as many in-order bytes as fit into `buf` and returns the count
    /// (0 when nothing is readable). Works in message mode too, ignoring message boundaries.
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let mut filled = 0;
        self.read_chunks(|chunk| {
            let n = chunk.len().min(buf.len() - filled);
            buf[filled..filled + n].copy_from_slice(&chunk[..n]);
            filled += n;
            n
        })
    }

    /// Size of the next complete message, or `None` if none is complete yet. In stream mode a
    /// "message" is one received segment (as the reference's `ikcp_peeksize`).
    pub fn peek_size(&self) -> Option<usize> {
        let mut size = 0;
        for (i, seg) in self.rcv_queue.iter().enumerate() {
            size += seg.data.len() - if i == 0 { self.rcv_consumed } else { 0 };
            if seg.frg == 0 {
                return Some(size);
            }
        }
        None
    }

    /// Message read: copies the next complete message into `buf` and returns its length,
    /// `Ok(None)` if no message is complete, or [`KcpReadError::BufferTooSmall`] (consuming
    /// nothing) if `buf` is shorter than [`Kcp::peek_size`].
    pub fn read_message(&mut self, buf: &mut [u8]) -> Result<Option<usize>, KcpReadError> {
        let Some(size) = self.peek_size() else {
            return Ok(None);
        };
        if size > buf.len() {
            return Err(KcpReadError::BufferTooSmall {
                needed: size,
                available: buf.len(),
            });
        }
        let was_full = self.rcv_queue.len() >= usize::from(self.config.recv_window);
        let mut filled = 0;
        while let Some(front) = self.rcv_queue.front() {
            let chunk = &front.data[self.rcv_consumed..];
            let last = front.frg == 0;
            buf[filled..filled + chunk.len()].copy_from_slice(chunk);
            filled += chunk.len();
            self.rcv_queue_bytes -= chunk.len();
            self.pop_front_segment();
            if last {
                break;
            }
        }
        self.after_read(was_full);
        Ok(Some(size))
    }

    fn pop_front_segment(&mut self) {
        if let Some(seg) = self.rcv_queue.pop_front()
            && self.pool.len() < usize::from(self.config.recv_window)
        {
            self.pool.push(seg.data);
        }
        self.rcv_consumed = 0;
    }

    /// After a read: refill the queue from the reorder buffer and, if the window was full and
    /// reopened, tell the peer (`IKCP_ASK_TELL`, the reference's "fast recover").
    fn after_read(&mut self, was_full: bool) {
        self.move_to_queue();
        if was_full && self.rcv_queue.len() < usize::from(self.config.recv_window) {
            self.probe_flags |= ASK_TELL;
        }
    }
}
