//! Attaching to a TUN device, possibly one that lives in another network namespace.
#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::thread;

/// Where to find a TUN device: its name and, optionally, the named network namespace (as made by
/// `ip netns add`) it lives in.
#[derive(Clone, Debug)]
pub(crate) struct TunSpec {
    /// Interface name, for example `tun-a`.
    pub(crate) name: String,
    /// Named network namespace, for example `kcpq-a`; `None` for the caller's own namespace.
    pub(crate) netns: Option<String>,
}

/// Opens `/dev/net/tun` in the namespace of `spec` and attaches to the device `spec.name` as a
/// TUN without packet information header, non-blocking. If the device does not exist the kernel
/// creates it (without addresses or routes), so set the topology up first.
///
/// The namespace switch happens on a short-lived thread, since `setns` changes only the calling
/// thread's namespace; the file descriptor keeps working in every thread afterwards.
pub(crate) fn open(spec: &TunSpec) -> io::Result<File> {
    let spec = spec.clone();
    thread::spawn(move || {
        if let Some(netns) = &spec.netns {
            enter_netns(netns)?;
        }
        attach(&spec.name)
    })
    .join()
    .map_err(|_| io::Error::other("TUN opening thread panicked"))?
}

/// Moves the calling thread into the named network namespace.
fn enter_netns(name: &str) -> io::Result<()> {
    let path = PathBuf::from("/var/run/netns").join(name);
    let ns = File::open(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    // SAFETY: `ns` is an open namespace file for the duration of the call; setns only reads the
    // descriptor and changes this thread's network namespace.
    let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Attaches to (or creates) the TUN device `name` in the calling thread's namespace.
fn attach(name: &str) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/net/tun")?;
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad interface name {name:?}"),
        ));
    }
    // SAFETY: ifreq is plain old data (byte arrays, integers, pointers in a union); all zeroes is
    // a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in request.ifr_name.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    request.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
    // SAFETY: TUNSETIFF reads and writes one `struct ifreq`, which `request` is and which outlives
    // the call; the descriptor is open.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &mut request) };
    if rc != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("TUNSETIFF {name}: {e}")));
    }
    Ok(file)
}
