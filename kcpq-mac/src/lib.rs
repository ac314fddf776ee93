//! # kcpq-mac
//!
//! HMAC-SHA256 ([RFC 2104]) for KCPQ's packet protection, with a batch form that computes the
//! tags of several packets at once.
//!
//! A KCPQ server seals and opens every datagram it carries, and SHA-256 is about 40 % of its
//! CPU time. With the x86 SHA extensions, one SHA-256 stream leaves the SHA unit waiting on
//! each round's result; [`tag_all`] runs four independent messages through it in lockstep
//! (four lanes), which hashes about 1.7x the bytes per second of one stream on the same core.
//! A server or client that has several datagrams to seal or open at once tags them with one
//! call.
//!
//! Everything here computes plain HMAC-SHA256: the tags are the same bytes whichever path made
//! them (tested against the `hmac` crate). Without the SHA extensions, or for a single message,
//! the `sha2` crate's compression function does the work.
//!
//! The lanes need `unsafe` once: the call into the SHA-extension code after the CPU was found
//! to have it. That is why this lives in its own crate and not in kcpq-core, which forbids
//! `unsafe`. The intrinsics themselves are safe functions in their target-feature context, and
//! no pointer is dereferenced.
//!
//! [RFC 2104]: https://www.rfc-editor.org/rfc/rfc2104
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod key;
mod lanes;
mod message;

pub use key::HmacKey;

/// Bytes of an HMAC-SHA256 tag.
pub const TAG_LEN: usize = 32;

/// Most messages tagged in lockstep; [`tag_all`] takes any number and groups them.
pub const LANES: usize = lanes::LANES;

/// One message to tag under one key.
#[derive(Debug, Clone, Copy)]
pub struct TagJob<'a> {
    /// The key.
    pub key: &'a HmacKey,
    /// The bytes the tag covers.
    pub message: &'a [u8],
}

/// Computes the tag of every job into `tags` (`tags[i]` for `jobs[i]`), four lanes at a time
/// where the CPU has the SHA extensions.
///
/// # Panics
/// If `tags` is shorter than `jobs` (a caller's bug).
pub fn tag_all(jobs: &[TagJob<'_>], tags: &mut [[u8; TAG_LEN]]) {
    assert!(
        tags.len() >= jobs.len(),
        "tag_all: {} tags for {} jobs",
        tags.len(),
        jobs.len()
    );
    let mut done = 0;
    if jobs.len() >= LANES && lanes::available() {
        // Jobs go in the order given: the callers' batches are runs of datagrams of one size
        // (full ones in a burst), so neighbours mostly have equal lengths.
        while jobs.len() - done >= LANES {
            let group: [TagJob<'_>; LANES] = std::array::from_fn(|i| jobs[done + i]);
            let out = lanes::tag_lanes(group);
            tags[done..done + LANES].copy_from_slice(&out);
            done += LANES;
        }
    }
    for (job, tag) in jobs[done..].iter().zip(&mut tags[done..]) {
        *tag = job.key.tag(job.message);
    }
}

/// Whether [`tag_all`] runs lanes on this CPU (it has the x86 SHA extensions).
pub fn lanes_available() -> bool {
    lanes::available()
}

#[cfg(test)]
mod tests;
