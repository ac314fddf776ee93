//! Waiting for a descriptor to become readable, with a nanosecond-resolution timeout.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

/// Waits until `fd` is readable or `timeout` passes (`None`: no timeout). Returns whether it is
/// readable; a wait cut short by a signal returns `false`, so callers just loop.
pub(crate) fn readable(fd: impl AsFd, timeout: Option<Duration>) -> io::Result<bool> {
    let mut pollfd = libc::pollfd {
        fd: fd.as_fd().as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let spec = timeout.map(|t| libc::timespec {
        tv_sec: libc::time_t::try_from(t.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: t.subsec_nanos().into(),
    });
    let spec_ptr = spec
        .as_ref()
        .map_or(std::ptr::null(), |s| s as *const libc::timespec);
    // SAFETY: one valid pollfd, a timespec that is either null or points at `spec`, which lives
    // until the call returns, and no signal mask change.
    let rc = unsafe { libc::ppoll(&mut pollfd, 1, spec_ptr, std::ptr::null()) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(false);
        }
        return Err(e);
    }
    if pollfd.revents & (libc::POLLERR | libc::POLLNVAL) != 0 {
        return Err(io::Error::other("TUN descriptor reported an error"));
    }
    Ok(rc > 0 && pollfd.revents & libc::POLLIN != 0)
}
