//! The tags of received datagrams computed together, before each is opened.
//!
//! An adapter hands the core the datagrams one readiness wake-up found
//! ([`crate::Drive::handle_datagrams`]). Before handling them one by one, the server or client
//! computes the tags of up to [`kcpq_mac::BATCH`] data packets of its sessions in one call
//! ([`kcpq_mac::tag_all`]); each packet's open then compares against its tag instead of
//! computing it. A tag is used only if it was computed under the key the open selects
//! ([`crate::crypto::PacketProtection::open_with`]), so a packet handled earlier in the group
//! that changes the keys (a key update) costs only a recomputation. On a CPU where batches do
//! not help ([`kcpq_mac::batches_help`]) nothing is computed ahead.

use std::net::SocketAddr;

use kcpq_mac::{BATCH, TAG_LEN, TagJob};

use crate::crypto::PrecomputedTag;

use super::Session;

/// The tags of `datagrams` (at most [`BATCH`] are looked at) whose sessions `session_for`
/// finds and whose keys are at hand, in the datagrams' places; `None` elsewhere, and
/// everywhere when fewer than two could be computed together.
pub(crate) fn precompute_tags<'a>(
    datagrams: impl Iterator<Item = &'a [u8]>,
    session_for: impl Fn(&[u8]) -> Option<&'a Session>,
) -> [Option<PrecomputedTag>; BATCH] {
    let mut out: [Option<PrecomputedTag>; BATCH] = Default::default();
    if !kcpq_mac::batches_help() {
        return out;
    }
    let mut jobs: [Option<(usize, TagJob<'a>)>; BATCH] = [None; BATCH];
    let mut n = 0;
    for (i, datagram) in datagrams.take(BATCH).enumerate() {
        if let Some(job) = session_for(datagram).and_then(|s| s.tag_job(datagram)) {
            jobs[n] = Some((i, job));
            n += 1;
        }
    }
    if n < 2 {
        return out;
    }
    let list: [TagJob<'a>; BATCH] =
        std::array::from_fn(|k| jobs[k.min(n - 1)].expect("the first n are set").1);
    let mut tags = [[0u8; TAG_LEN]; BATCH];
    kcpq_mac::tag_all(&list[..n], &mut tags[..n]);
    for (job, tag) in jobs[..n].iter().flatten().zip(tags) {
        out[job.0] = Some(PrecomputedTag {
            key: job.1.key.clone(),
            tag,
        });
    }
    out
}

/// The body of `Server::handle_datagrams` and `Client::handle_datagrams`: hands `datagrams` to
/// `handle` one by one, in order, each with its tag if it was computed ahead (in groups of
/// [`BATCH`], for the datagrams whose session `session_for` finds in `machine`).
pub(crate) fn handle_in_groups<M>(
    machine: &mut M,
    datagrams: &mut [(SocketAddr, &mut [u8])],
    session_for: for<'m> fn(&'m M, &[u8]) -> Option<&'m Session>,
    mut handle: impl FnMut(&mut M, SocketAddr, &mut [u8], Option<&PrecomputedTag>),
) {
    for group in datagrams.chunks_mut(BATCH) {
        if let [(from, datagram)] = group {
            // Nothing to compute together (the common case at low rates): no lookup ahead.
            handle(machine, *from, datagram, None);
            continue;
        }
        let mut tags = {
            let machine = &*machine;
            precompute_tags(group.iter().map(|(_, d)| &**d), |d| session_for(machine, d))
        };
        for ((from, datagram), tag) in group.iter_mut().zip(&mut tags) {
            handle(machine, *from, datagram, tag.take().as_ref());
        }
    }
}
