//! The summary the forwarder prints on exit: counters per direction and its own CPU time.

use std::fmt;
use std::time::Duration;

use crate::counters::Snapshot;

/// CPU time consumed by the process, as `getrusage(RUSAGE_SELF)` reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTime {
    /// Time spent in user mode.
    pub user: Duration,
    /// Time spent in the kernel on the process's behalf.
    pub system: Duration,
}

impl CpuTime {
    /// User plus system time.
    pub fn total(&self) -> Duration {
        self.user + self.system
    }
}

/// Everything the forwarder reports: one line per direction, then a CPU line.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// Each direction's label (for example `a->b`) and counters.
    pub directions: Vec<(String, Snapshot)>,
    /// The process's CPU time.
    pub cpu: CpuTime,
    /// Wall-clock time since the forwarder started.
    pub wall: Duration,
}

impl Report {
    /// Packets read from all devices.
    pub fn packets(&self) -> u64 {
        self.directions.iter().map(|(_, s)| s.received).sum()
    }

    /// CPU time per packet read, if any packet was read.
    pub fn cpu_per_packet(&self) -> Option<Duration> {
        let packets = u32::try_from(self.packets()).ok().filter(|p| *p > 0)?;
        Some(self.cpu.total() / packets)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (label, snapshot) in &self.directions {
            writeln!(f, "{label} {snapshot}")?;
        }
        let per_packet = self
            .cpu_per_packet()
            .map_or_else(|| "n/a".to_owned(), |d| format!("{}ns", d.as_nanos()));
        write!(
            f,
            "cpu user={:.3}s system={:.3}s wall={:.3}s packets={} per_packet={per_packet}",
            self.cpu.user.as_secs_f64(),
            self.cpu.system.as_secs_f64(),
            self.wall.as_secs_f64(),
            self.packets(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_directions_and_cpu() {
        let report = Report {
            directions: vec![
                (
                    "a->b".to_owned(),
                    Snapshot {
                        received: 600,
                        forwarded: 600,
                        ..Snapshot::default()
                    },
                ),
                (
                    "b->a".to_owned(),
                    Snapshot {
                        received: 400,
                        ..Snapshot::default()
                    },
                ),
            ],
            cpu: CpuTime {
                user: Duration::from_millis(1),
                system: Duration::from_millis(2),
            },
            wall: Duration::from_secs(2),
        };
        assert_eq!(report.cpu_per_packet(), Some(Duration::from_micros(3)));
        let text = report.to_string();
        assert!(text.starts_with("a->b received=600 "));
        assert!(text.contains("\nb->a received=400 "));
        assert!(
            text.ends_with(
                "cpu user=0.001s system=0.002s wall=2.000s packets=1000 per_packet=3000ns"
            )
        );
    }

    #[test]
    fn no_packets_no_per_packet_figure() {
        let report = Report {
            directions: Vec::new(),
            cpu: CpuTime::default(),
            wall: Duration::ZERO,
        };
        assert_eq!(report.cpu_per_packet(), None);
        assert!(report.to_string().ends_with("per_packet=n/a"));
    }
}
