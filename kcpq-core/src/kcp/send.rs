//! The send side: queueing writes, admitting them into the send window, and packing ACKs,
//! window probes and data segments into datagrams (the reference's `ikcp_send` and `ikcp_flush`).

use super::endpoint::{
    ASK_SEND, ASK_TELL, Kcp, KcpState, KcpWriteError, QueuedSegment, SendSegment, diff,
};
use super::segment::{Command, HEADER_LEN, SegmentHeader};
use crate::Instant;

/// Largest number of fragments of one message in message mode: 127, as the reference, whose
/// `ikcp_send` refuses 128 or more (`IKCP_WND_RCV`) and whose receiver never reassembles a longer
/// one (a reference peer would wait for it forever).
const MAX_FRAGMENTS: usize = 127;

impl Kcp {
    /// Bytes the send side holds against `send_buffer_limit`: payload plus 24 bytes of header per
    /// segment, over the send queue and the send buffer (acknowledged segments behind an
    /// unacknowledged one still hold their bytes until the window slides past them).
    pub fn buffered_bytes(&self) -> usize {
        self.ring.len() + HEADER_LEN * (self.snd_queue.len() + self.snd_buf.len())
    }

    /// Payload bytes written but not yet admitted into the send window (no sequence number yet:
    /// they wait for the window to open). This is what the broker compares with its low
    /// watermark: bytes admitted into the window leave at the next `poll_transmit`.
    pub fn unsent_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// Segments sent or admitted into the window and not yet acknowledged.
    pub fn unacked_segments(&self) -> usize {
        self.unacked
    }

    /// The largest write that [`Kcp::write`] accepts right now (stream mode: counting the room
    /// left in the last queued segment, which needs no new header; message mode: one message).
    pub fn send_capacity(&self) -> usize {
        let free = self
            .config
            .send_buffer_limit
            .saturating_sub(self.buffered_bytes());
        let payload = self.payload_for(free, self.tail_room());
        if self.config.stream {
            payload
        } else {
            payload.min(self.max_message_len())
        }
    }

    /// Room left in the last queued segment that a stream write can fill without a new header.
    fn tail_room(&self) -> usize {
        match self.snd_queue.back() {
            Some(last) if self.config.stream => self.mss.saturating_sub(last.len),
            _ => 0,
        }
    }

    /// Largest payload whose cost (`payload + 24 per new segment`) fits in `free` bytes.
    fn payload_for(&self, free: usize, tail_room: usize) -> usize {
        if free <= tail_room {
            return free;
        }
        let rest = free - tail_room;
        let full = rest / (self.mss + HEADER_LEN);
        let partial = (rest % (self.mss + HEADER_LEN)).saturating_sub(HEADER_LEN);
        tail_room + full * self.mss + partial
    }

    /// Largest message accepted in message mode.
    fn max_message_len(&self) -> usize {
        MAX_FRAGMENTS.min(usize::from(self.config.recv_window)) * self.mss
    }

    /// Queues `data` for sending; it leaves in the next [`Kcp::poll_transmit`] calls.
    ///
    /// Stream mode: the bytes extend the byte stream; they first fill the last queued segment,
    /// so small writes made before a drain share segments. An empty write does nothing.
    /// Message mode: `data` is one message (possibly empty), split in fragments of `mss` bytes
    /// and delivered whole by [`Kcp::read_message`].
    ///
    /// The write is accepted whole or refused whole (in both modes): [`KcpWriteError::Full`]
    /// when [`Kcp::send_capacity`] is smaller, [`KcpWriteError::TooLarge`] when it can never
    /// fit. Nothing is queued on error.
    pub fn write(&mut self, data: &[u8]) -> Result<(), KcpWriteError> {
        self.write_parts(&[data])
    }

    /// [`Kcp::write`] of the concatenation of `parts` (in message mode: one message), copying
    /// each byte once, straight into the send buffer: a frame header and a large payload need
    /// not be joined first. Accepted whole or refused whole, like `write`.
    pub fn write_parts(&mut self, parts: &[&[u8]]) -> Result<(), KcpWriteError> {
        let len: usize = parts.iter().map(|part| part.len()).sum();
        if self.config.stream && len == 0 {
            return Ok(());
        }
        let max = if self.config.stream {
            self.payload_for(self.config.send_buffer_limit, 0)
        } else {
            self.max_message_len()
                .min(self.payload_for(self.config.send_buffer_limit, 0))
        };
        if len > max {
            return Err(KcpWriteError::TooLarge { len, max });
        }
        // Exact cost: payload plus a header per new segment (an empty message is one segment).
        let tail_room = self.tail_room();
        let new_segments = if self.config.stream {
            (len - len.min(tail_room)).div_ceil(self.mss)
        } else {
            len.div_ceil(self.mss).max(1)
        };
        let free = self
            .config
            .send_buffer_limit
            .saturating_sub(self.buffered_bytes());
        if len + HEADER_LEN * new_segments > free {
            return Err(KcpWriteError::Full {
                len,
                available: self.send_capacity(),
            });
        }
        // Queued segments are the tail of the ring, so the new bytes continue the last one.
        let mut offset = self.ring.end_offset();
        for part in parts {
            self.ring.push(part);
        }
        let mut rest = len;
        if self.config.stream {
            let take = tail_room.min(rest);
            if let Some(last) = self.snd_queue.back_mut().filter(|_| take > 0) {
                last.len += take;
                offset += take as u64;
                rest -= take;
            }
            while rest > 0 {
                let take = self.mss.min(rest);
                self.snd_queue.push_back(QueuedSegment {
                    offset,
                    len: take,
                    frg: 0,
                });
                offset += take as u64;
                rest -= take;
            }
        } else {
            for i in 0..new_segments {
                let take = self.mss.min(rest);
                // new_segments <= 127 (max_message_len), so the fragment index fits a byte.
                self.snd_queue.push_back(QueuedSegment {
                    offset,
                    len: take,
                    frg: (new_segments - 1 - i) as u8,
                });
                offset += take as u64;
                rest -= take;
            }
        }
        self.queued_bytes += len;
        self.update_probe();
        Ok(())
    }

    /// Moves queued segments into the send buffer while the window allows, giving them
    /// sequence numbers (`ikcp_flush`'s "move data from snd_queue to snd_buf").
    fn admit_queued(&mut self) {
        let window = self.effective_window();
        while diff(self.snd_nxt, self.snd_una().wrapping_add(window)) < 0 {
            let Some(q) = self.snd_queue.pop_front() else {
                break;
            };
            self.queued_bytes -= q.len;
            if self.pending == 0 {
                self.scan_sn = self.snd_nxt;
            }
            self.snd_buf.push_back(SendSegment {
                sn: self.snd_nxt,
                frg: q.frg,
                offset: q.offset,
                len: q.len,
                ts: 0,
                resendts: 0,
                rto: 0,
                fastack: 0,
                xmit: 0,
                pending: true,
                acked: false,
                held: false,
            });
            self.snd_nxt = self.snd_nxt.wrapping_add(1);
            self.unacked += 1;
            self.pending += 1;
        }
    }

    /// First unacknowledged sequence number.
    pub(crate) fn snd_una(&self) -> u32 {
        self.snd_buf.front().map_or(self.snd_nxt, |s| s.sn)
    }

    /// Free receive window to advertise: `recv_window` minus unread in-order segments.
    pub(crate) fn wnd_unused(&self) -> u16 {
        let used = self
            .rcv_queue
            .len()
            .min(usize::from(self.config.recv_window));
        self.config.recv_window - used as u16
    }

    /// Writes one datagram of at most `mtu` bytes (less the send headroom) into `buf` and returns its length, or `None`
    /// when there is nothing to send. Call until `None` after every input.
    ///
    /// A datagram packs, in the reference's order: pending ACKs, window probe/update, then data
    /// segments due for (re)transmission; queued writes are admitted into the send window here,
    /// so writes made before a drain share segments and datagrams.
    ///
    /// `buf` must hold at least `mtu` bytes; a shorter buffer is API misuse and yields `None`
    /// without losing anything (call again with a large enough buffer).
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.tick(now);
        let mtu = self.mss + HEADER_LEN;
        let buf = buf.get_mut(..mtu)?;
        self.admit_queued();
        let wnd = self.wnd_unused();
        let mut len = 0;

        let other_output = self.pending > 0 || self.probe_flags != 0;
        if !self.acklist.is_empty() && (self.config.ack_delay == 0 || self.ack_due || other_output)
        {
            while let Some(&(sn, ts, arrived)) = self.acklist.front() {
                if len + HEADER_LEN > mtu {
                    break;
                }
                // With delayed ACKs, the echoed timestamp moves on by the time the ACK was
                // held, so the peer's RTT sample leaves the wait out and its RTO stays true.
                let ts = if self.config.ack_delay > 0 {
                    ts.wrapping_add(self.current.wrapping_sub(arrived))
                } else {
                    ts
                };
                self.put_header(buf, &mut len, Command::Ack, wnd, ts, sn, 0, 0);
                self.acklist.pop_front();
                self.stats.acks_out += 1;
            }
            if self.acklist.is_empty() {
                self.ack_due = false;
                self.ack_deadline = None;
            }
        }
        for (flag, cmd) in [
            (ASK_SEND, Command::WindowProbe),
            (ASK_TELL, Command::WindowSize),
        ] {
            if self.probe_flags & flag != 0 && len + HEADER_LEN <= mtu {
                self.put_header(buf, &mut len, cmd, wnd, self.current, 0, 0, 0);
                self.probe_flags &= !flag;
                match cmd {
                    Command::WindowProbe => self.stats.window_probes_out += 1,
                    _ => self.stats.window_updates_out += 1,
                }
            }
        }
        if self.pending > 0 {
            self.put_data(buf, &mut len, wnd);
        }
        if len == 0 {
            return None;
        }
        self.stats.datagrams_out += 1;
        self.stats.bytes_out += len as u64;
        Some(len)
    }

    #[allow(clippy::too_many_arguments)]
    fn put_header(
        &mut self,
        buf: &mut [u8],
        len: &mut usize,
        cmd: Command,
        wnd: u16,
        ts: u32,
        sn: u32,
        frg: u8,
        payload: u32,
    ) {
        let header = SegmentHeader {
            conv: self.conv,
            cmd,
            frg,
            wnd,
            ts,
            sn,
            una: self.rcv_nxt,
            len: payload,
        };
        buf[*len..*len + HEADER_LEN].copy_from_slice(&header.encode());
        *len += HEADER_LEN;
        self.stats.segments_out += 1;
    }

    /// Packs pending data segments, in sequence order from `scan_sn`, until the datagram is full.
    fn put_data(&mut self, buf: &mut [u8], len: &mut usize, wnd: u16) {
        let mtu = buf.len();
        let current = self.current;
        let rx_rto = self.rtt.rto();
        let slack = if self.config.nodelay { 0 } else { rx_rto >> 3 };
        let front = self.snd_una();
        let mut i = diff(self.scan_sn, front).max(0) as usize;
        while i < self.snd_buf.len() && self.pending > 0 {
            let seg = self.snd_buf[i];
            if seg.pending && !seg.acked {
                if *len + HEADER_LEN + seg.len > mtu {
                    break;
                }
                let mut seg = seg;
                if seg.xmit == 0 {
                    seg.xmit = 1;
                    seg.rto = rx_rto;
                    seg.resendts = current.wrapping_add(rx_rto + slack);
                    self.stats.data_segments_out += 1;
                    self.stats.data_bytes_out += seg.len as u64;
                    if seg.xmit >= self.config.dead_link {
                        self.state = KcpState::DeadLink;
                    }
                }
                seg.ts = current;
                seg.pending = false;
                self.pending -= 1;
                self.snd_buf[i] = seg;
                self.note_resend_deadline(seg.resendts);
                self.put_header(
                    buf,
                    len,
                    Command::Push,
                    wnd,
                    current,
                    seg.sn,
                    seg.frg,
                    seg.len as u32,
                );
                let (a, b) = self.ring.slices(seg.offset, seg.len);
                buf[*len..*len + a.len()].copy_from_slice(a);
                *len += a.len();
                buf[*len..*len + b.len()].copy_from_slice(b);
                *len += b.len();
            }
            i += 1;
        }
        self.scan_sn = self.snd_buf.get(i).map_or(self.snd_nxt, |s| s.sn);
    }

    /// Drops acknowledged segments from the front of the send buffer and releases their bytes.
    pub(crate) fn shrink_send_buffer(&mut self) {
        while self.snd_buf.front().is_some_and(|s| s.acked) {
            self.snd_buf.pop_front();
        }
        let keep_from = match (self.snd_buf.front(), self.snd_queue.front()) {
            (Some(s), _) => s.offset,
            (None, Some(q)) => q.offset,
            (None, None) => self.ring.end_offset(),
        };
        self.ring.release_to(keep_from);
        if self.unacked == 0 {
            self.earliest_resend = None;
        }
    }

    /// Marks the segment at index `i` of the send buffer acknowledged.
    pub(crate) fn ack_index(&mut self, i: usize) {
        let seg = &mut self.snd_buf[i];
        if seg.acked {
            return;
        }
        seg.acked = true;
        self.unacked -= 1;
        if seg.pending {
            seg.pending = false;
            self.pending -= 1;
        }
    }
}
