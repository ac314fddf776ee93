//! `kcpq-impair`: a userspace network impairment forwarder for benchmarks.
//!
//! The forwarder sits between two TUN devices and moves raw IP packets from one to the other,
//! dropping, delaying, jittering and reordering them on the way, so TCP and UDP traffic cross the
//! very same impaired path. This library holds the deterministic, root-free core:
//!
//! - [`impairment`]: the per-packet decision (lost, or released at a given time);
//! - [`schedule`]: the bounded timer heap packets wait in until their release time;
//! - [`counters`] and [`report`]: what the forwarder counts and prints.
//!
//! The binary adds the TUN devices, the forwarding threads and the command line.

#![warn(missing_docs)]

pub mod counters;
pub mod impairment;
pub mod report;
pub mod schedule;

pub use counters::{Counters, Event, Snapshot};
pub use impairment::{Impairment, Params, ParamsError, Release};
pub use report::{CpuTime, Report};
pub use schedule::{Released, Schedule};
