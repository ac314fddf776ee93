//! The few Linux system calls the forwarder needs that `std` does not offer. Every `unsafe`
//! block of the crate lives below this module.

pub(crate) mod poll;
pub(crate) mod rusage;
pub(crate) mod tun;
