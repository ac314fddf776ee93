//! The process's own CPU time.
#![allow(unsafe_code)]

use std::io;
use std::time::Duration;

use kcpq_impair::CpuTime;

/// User and system CPU time of the whole process so far (`getrusage(RUSAGE_SELF)`).
pub(crate) fn cpu_time() -> io::Result<CpuTime> {
    // SAFETY: rusage is plain old data; all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage for the duration of the call.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(CpuTime {
        user: timeval(usage.ru_utime),
        system: timeval(usage.ru_stime),
    })
}

fn timeval(tv: libc::timeval) -> Duration {
    let secs = u64::try_from(tv.tv_sec).unwrap_or(0);
    let micros = u64::try_from(tv.tv_usec).unwrap_or(0);
    Duration::from_secs(secs) + Duration::from_micros(micros)
}
