//! # kcpq-mac
//!
//! HMAC-SHA256 ([RFC 2104]) for KCPQ's packet protection, with a batch form that computes the
//! tags of several packets at once.
//!
//! A KCPQ server seals and opens every datagram it carries, and SHA-256 is about 40 % of its
//! CPU time. [`tag_all`] computes the tags of a batch of messages together, on one of two
//! engines ([`Engine`]):
//!
//! - **Four SHA lanes.** With the x86 SHA extensions, one SHA-256 stream leaves the SHA unit
//!   waiting on each round's result; four independent messages in lockstep keep it busy
//!   (1.9x one stream's bytes per second on AMD's Zen 4; 1.2x on Intel's Rocket Lake, whose
//!   SHA unit one stream nearly keeps busy already).
//! - **Sixteen AVX-512 lanes.** SHA-256's rounds on vectors of sixteen 32-bit words, one
//!   message per element: 1.65x the four SHA lanes on the Rocket Lake core once all sixteen
//!   are full.
//!
//! Which is faster depends on the CPU, so [`calibrate`] times both once and each group of up
//! to [`BATCH`] messages takes the cheaper for its lengths. A server or client that has
//! several datagrams to seal or open at once tags them with one call.
//!
//! Everything here computes plain HMAC-SHA256: the tags are the same bytes whichever path made
//! them (tested against the `hmac` crate, on every engine). Without the SHA extensions or
//! AVX-512, or for a single message, the `sha2` crate's compression function does the work.
//!
//! The lanes need `unsafe` twice: the calls into the SHA-extension and AVX-512 code after the
//! CPU was found to have them. That is why this lives in its own crate and not in kcpq-core,
//! which forbids `unsafe`. The intrinsics themselves are safe functions in their
//! target-feature context, and no pointer is dereferenced.
//!
//! [RFC 2104]: https://www.rfc-editor.org/rfc/rfc2104
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod engine;
mod key;
mod lanes;
mod message;
mod sha256;
mod wide;

pub use engine::{Calibration, Engine, calibrate, force_engine, tag_all_with};

pub use key::HmacKey;
use message::PaddedMessage;

/// Bytes of an HMAC-SHA256 tag.
pub const TAG_LEN: usize = 32;

/// Most messages [`tag_all`] computes together (the widest engine's width). It takes any
/// number; callers that gather this many before they call it let every engine run full.
pub const BATCH: usize = wide::WIDE;

/// One message to tag under one key.
#[derive(Debug, Clone, Copy)]
pub struct TagJob<'a> {
    /// The key.
    pub key: &'a HmacKey,
    /// The bytes the tag covers.
    pub message: &'a [u8],
}

/// Computes the tag of every job into `tags` (`tags[i]` for `jobs[i]`), several at a time
/// where the CPU can: sixteen in AVX-512 registers or four on the SHA extensions, whichever
/// [`calibrate`] found cheaper for each group's lengths (the SHA lanes until it runs).
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
    // Jobs go in the order given: the callers' batches are runs of datagrams of one size (full
    // ones in a burst), so neighbours mostly have equal lengths.
    for (group, tags) in jobs.chunks(wide::WIDE).zip(tags.chunks_mut(wide::WIDE)) {
        let blocks = group
            .iter()
            .map(|job| PaddedMessage::blocks_for(job.message.len()));
        let (total, longest) = blocks.fold((0, 0), |(t, m), b| (t + b, m.max(b)));
        let chosen = engine::choose(group.len(), total, longest);
        for (jobs, tags) in group
            .chunks(chosen.width())
            .zip(tags.chunks_mut(chosen.width()))
        {
            engine::run(chosen, jobs, tags);
        }
    }
}

/// Whether [`tag_all`] computes several tags faster than one by one on this CPU (it has the x86
/// SHA extensions or AVX-512): where it does not, callers need not gather messages for it.
pub fn batches_help() -> bool {
    Engine::ShaLanes.available() || Engine::Wide.available()
}

#[cfg(test)]
mod tests;
