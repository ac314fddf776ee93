//! Measurement helpers: CPU ticks and RSS from `/proc`, percentiles, payload layouts.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{Value, json};

/// Clock ticks per second of `/proc/*/stat` (USER_HZ, 100 on every Linux architecture we run).
const CLK_TCK: f64 = 100.0;

/// utime + stime of a process in clock ticks (`pid` may be "self").
pub(crate) fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let mut fields = rest.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

/// A field of `/proc/<pid>/status` in kB (e.g. `VmRSS`).
pub(crate) fn status_kb(pid: &str, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        line.strip_prefix(key)?
            .strip_prefix(':')?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

/// CPU counters of the server and this process at one moment.
#[derive(Clone)]
pub(crate) struct Snap {
    at: Instant,
    server: Option<u64>,
    client: Option<u64>,
}

impl Snap {
    pub(crate) fn take(server_pid: Option<&str>) -> Snap {
        Snap {
            at: Instant::now(),
            server: server_pid.and_then(cpu_ticks),
            client: cpu_ticks("self"),
        }
    }

    /// Usage between `self` and `later`; percentages are of one core.
    pub(crate) fn usage(&self, later: &Snap) -> Value {
        let wall = later.at.duration_since(self.at).as_secs_f64();
        let part = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => {
                let seconds = b.saturating_sub(a) as f64 / CLK_TCK;
                (
                    json!(r3(seconds)),
                    json!(r1(100.0 * seconds / wall.max(1e-9))),
                )
            }
            _ => (Value::Null, Value::Null),
        };
        let (server_s, server_pct) = part(self.server, later.server);
        let (client_s, client_pct) = part(self.client, later.client);
        json!({"wall_s": r3(wall), "server_cpu_s": server_s, "server_cpu_pct": server_pct,
               "client_cpu_s": client_s, "client_cpu_pct": client_pct})
    }
}

/// Rounds to one decimal.
pub(crate) fn r1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Rounds to three decimals.
pub(crate) fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Nanoseconds since the Unix epoch.
pub(crate) fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// `header` followed by zeros up to `size` bytes (never shorter than the header).
pub(crate) fn payload(size: usize, header: &[u8]) -> Bytes {
    let mut bytes = BytesMut::with_capacity(size.max(header.len()));
    bytes.put_slice(header);
    bytes.resize(size.max(header.len()), 0);
    bytes.freeze()
}

/// The little-endian u64 at `offset`, if the slice is long enough.
pub(crate) fn le_u64(bytes: &[u8], offset: usize) -> Option<u64> {
    let raw: [u8; 8] = bytes.get(offset..offset + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(raw))
}

/// The little-endian u32 at `offset`, if the slice is long enough.
pub(crate) fn le_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    let raw: [u8; 4] = bytes.get(offset..offset + 4)?.try_into().ok()?;
    Some(u32::from_le_bytes(raw))
}

/// Nearest-rank percentiles of nanosecond samples, in microseconds.
pub(crate) fn percentiles_us(samples: &mut [u64]) -> Value {
    if samples.is_empty() {
        return json!({"n": 0});
    }
    samples.sort_unstable();
    let n = samples.len();
    let us = |ns: u64| r1(ns as f64 / 1000.0);
    let rank = |q: f64| us(samples[((q * n as f64).ceil() as usize).clamp(1, n) - 1]);
    let mean = samples.iter().map(|&x| x as f64).sum::<f64>() / n as f64 / 1000.0;
    json!({"n": n, "min": us(samples[0]), "p50": rank(0.50), "p90": rank(0.90), "p99": rank(0.99),
           "p999": rank(0.999), "max": us(samples[n - 1]), "mean": r1(mean)})
}

/// Sequence checking of one ordered stream: counts skipped and backwards sequence numbers.
#[derive(Default)]
pub(crate) struct SeqCheck {
    next: u64,
    pub(crate) gaps: u64,
    pub(crate) out_of_order: u64,
}

impl SeqCheck {
    pub(crate) fn see(&mut self, seq: u64) {
        if seq > self.next {
            self.gaps += seq - self.next;
        }
        if seq < self.next {
            self.out_of_order += 1;
        } else {
            self.next = seq + 1;
        }
    }
}

/// Merges the keys of `extra` into `target`.
pub(crate) fn merge(target: &mut Value, extra: Value) {
    if let (Some(target), Value::Object(extra)) = (target.as_object_mut(), extra) {
        target.extend(extra);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut samples: Vec<u64> = (1..=100).map(|x| x * 1000).collect();
        let p = percentiles_us(&mut samples);
        assert_eq!(p["p50"], json!(50.0));
        assert_eq!(p["p99"], json!(99.0));
        assert_eq!(p["max"], json!(100.0));
    }

    #[test]
    fn seq_check_counts_gaps_and_reordering() {
        let mut check = SeqCheck::default();
        for seq in [0, 1, 3, 2, 4] {
            check.see(seq);
        }
        assert_eq!((check.gaps, check.out_of_order), (1, 1));
    }

    #[test]
    fn payload_layout() {
        let p = payload(16, &7u64.to_le_bytes());
        assert_eq!(p.len(), 16);
        assert_eq!(le_u64(&p, 0), Some(7));
        assert_eq!(le_u32(&p, 12), Some(0));
        assert_eq!(le_u64(&p, 12), None);
    }

    #[test]
    fn own_process_is_readable() {
        assert!(cpu_ticks("self").is_some());
        assert!(status_kb("self", "VmRSS").is_some());
    }
}
