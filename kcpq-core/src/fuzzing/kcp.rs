//! Fuzz entry points for the `kcp` module.
//!
//! Both functions accept any bytes and never panic unless an invariant of the module is broken
//! (which is what the fuzzer looks for).

use std::time::Duration;

use crate::Instant;
use crate::kcp::{HEADER_LEN, Kcp, KcpConfig, SegmentHeader, Segments};

/// Decodes `data` as one datagram of segments and checks that every segment that decodes
/// re-encodes to the same bytes and decodes again to the same header.
pub fn kcp_segment_decode(data: &[u8]) {
    let mut at = 0;
    for item in Segments::new(data) {
        let Ok((header, payload)) = item else { break };
        assert_eq!(header.len as usize, payload.len());
        assert_eq!(&header.encode()[..], &data[at..at + HEADER_LEN]);
        let again = SegmentHeader::decode(&data[at..]).expect("decoded once, decodes again");
        assert_eq!(again, (header, payload));
        at += HEADER_LEN + payload.len();
    }
    assert!(at <= data.len());
}

/// Reads bytes from the fuzz input; zero once exhausted.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let (first, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        *first
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }
    fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
}

/// Drives an endpoint (`target`) against a well-behaved peer with input-chosen operations:
/// writes, reads, time jumps (including across the u32 millisecond wrap), delivery, loss,
/// duplication, reordering and corruption of the peer's datagrams, and raw datagrams. After
/// every operation it checks the bounds, and after each `handle_timeout` plus drain that
/// `poll_timeout` is not in the past.
pub fn kcp_endpoint(data: &[u8]) {
    let mut input = Input(data);
    let mut config = if input.byte() & 1 == 0 {
        KcpConfig::fast()
    } else {
        KcpConfig::normal()
    };
    let flags = input.byte();
    config.stream = flags & 1 == 0;
    config.ack_delay = if flags & 2 == 0 {
        0
    } else {
        u32::from(input.byte())
    };
    config.mtu = 50 + usize::from(input.byte()) * 4;
    config.send_window = 1 + u16::from(input.byte() % 64);
    config.recv_window = 1 + u16::from(input.byte() % 64);
    config.dead_link = 1 + u32::from(input.byte() % 30);
    config.send_buffer_limit = config.mtu + usize::from(input.u16());
    let mut now = Instant::from_millis(u64::from(input.u16()) << 16);
    let conv = 0xF022;
    let mut target = Kcp::new(conv, config.clone(), now);
    let mut peer = Kcp::new(conv, config.clone(), now);
    let mut buf = vec![0u8; config.mtu];
    let mut held: Vec<Vec<u8>> = Vec::new();
    let payload: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    let mut read_buf = vec![0u8; 64 * 1024];

    while !input.0.is_empty() {
        match input.byte() % 10 {
            0 => {
                let step = match input.byte() {
                    255 => u64::from(u32::MAX) - 5,
                    ms => u64::from(ms) * u64::from(input.byte() % 8 + 1),
                };
                now += Duration::from_millis(step);
                target.handle_timeout(now);
                while target.poll_transmit(now, &mut buf).is_some() {}
                if let Some(t) = target.poll_timeout() {
                    assert!(
                        t > now,
                        "deadline {t:?} not after handle_timeout({now:?}) and a drain"
                    );
                }
                peer.handle_timeout(now);
            }
            1 => {
                let len = usize::from(input.byte()) * 2;
                let raw = input.take(len).to_vec();
                target.handle_datagram(now, &raw);
            }
            2 => {
                let len = usize::from(input.u16()) % 4096;
                let _ = target.write(&payload[..len]);
                let len = usize::from(input.byte()) * 8;
                let _ = peer.write(&payload[..len]);
            }
            3 => {
                if input.byte() & 1 == 0 {
                    let cap = usize::from(input.u16()).min(read_buf.len());
                    let n = target.read(&mut read_buf[..cap]);
                    assert!(n <= cap);
                } else {
                    let _ = target.read_message(&mut read_buf[..usize::from(input.u16())]);
                }
                while peer.read_chunks(|c| c.len()) > 0 {}
            }
            4 => {
                // Target output goes to the peer, every n-th datagram lost.
                let lose = usize::from(input.byte() % 4);
                let mut i = 0;
                while let Some(n) = target.poll_transmit(now, &mut buf) {
                    assert!(n <= config.mtu);
                    i += 1;
                    if lose == 0 || i % (lose + 1) != 0 {
                        peer.handle_datagram(now, &buf[..n]);
                    }
                }
            }
            5 => {
                while let Some(n) = peer.poll_transmit(now, &mut buf) {
                    held.push(buf[..n].to_vec());
                }
            }
            6 => {
                // Deliver a held peer datagram, chosen by the input (reordering), maybe
                // duplicated (kept), maybe corrupted.
                if !held.is_empty() {
                    let i = usize::from(input.byte()) % held.len();
                    let keep = input.byte() & 1 == 1;
                    let mut d = if keep {
                        held[i].clone()
                    } else {
                        held.swap_remove(i)
                    };
                    let flip = usize::from(input.byte());
                    if flip < d.len() {
                        d[flip] ^= input.byte();
                    }
                    target.handle_datagram(now, &d);
                }
            }
            7 => {
                // A forged segment with plausible fields around the sequence space in use.
                let header = SegmentHeader {
                    conv,
                    cmd: crate::kcp::Command::from_u8(81 + input.byte() % 4)
                        .expect("81..=84 are commands"),
                    frg: input.byte(),
                    wnd: input.u16(),
                    ts: (now.as_millis() as u32).wrapping_sub(u32::from(input.byte())),
                    sn: u32::from(input.u16()),
                    una: u32::from(input.u16()),
                    len: 0,
                };
                target.handle_datagram(now, &header.encode());
            }
            8 => held.clear(),
            _ => {
                let _ = target.poll_timeout();
                let _ = target.send_capacity();
                let _ = target.peek_size();
            }
        }
        let c = target.config();
        assert!(target.buffered_bytes() <= c.send_buffer_limit);
        assert!(target.recv_buffered_segments() <= usize::from(c.recv_window));
        assert!(target.unacked_segments() <= usize::from(c.send_window));
        assert!(target.unsent_bytes() <= target.buffered_bytes());
        assert!(held.len() < 100_000);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_target_accepts_anything() {
        kcp_segment_decode(&[]);
        kcp_segment_decode(&[0; 23]);
        let mut d = SegmentHeader {
            conv: 1,
            cmd: crate::kcp::Command::Push,
            frg: 0,
            wnd: 1,
            ts: 2,
            sn: 3,
            una: 4,
            len: 2,
        }
        .encode()
        .to_vec();
        d.extend_from_slice(b"hi");
        d.extend_from_slice(&[9; 30]);
        kcp_segment_decode(&d);
    }

    #[test]
    fn endpoint_target_runs_a_session() {
        kcp_endpoint(&[]);
        // Write, drain to the peer, let the peer answer, deliver, advance time; repeatedly.
        let mut script = vec![0, 0, 40, 8, 8, 3, 0, 16];
        for i in 0..200u8 {
            script.extend_from_slice(&[2, i, 1, 9, 4, 0, 5, 6, 0, 0, 255, 0, 0, 3, 10, 3, 0]);
        }
        script.extend_from_slice(&[0, 255, 0, 1, 30, 1, 2, 3]);
        kcp_endpoint(&script);
    }
}
