//! Starting a server of several workers, written once for every adapter: checking the count,
//! making the [`WorkerGroup`] and each worker's core ([`worker_cores`]), the way between them
//! ([`cross_lanes`](super::cross_lanes())), and adding up the workers' counters
//! ([`total_stats`]). What is left to an adapter is its sockets (one per worker on one address:
//! `kcpq_os::bind_workers`), threads, channels and each worker's doorbell; see
//! `crate::server::workers` for what the workers share and what crosses between them.

use crate::Instant;
use crate::crypto::KeySet;
use crate::rng::Seed;
use crate::server::{
    MAX_WORKERS, Server, ServerConfig, ServerConfigError, ServerStats, WorkerGroup,
    WorkerGroupError,
};

/// Checks a worker count before anything is bound: 1 to [`MAX_WORKERS`].
pub fn check_workers(count: usize) -> Result<(), WorkerGroupError> {
    match count {
        1..=MAX_WORKERS => Ok(()),
        _ => Err(WorkerGroupError::Count(count)),
    }
}

/// The cores of a server of `count` workers, worker 0 first, made at `now` with `config` and
/// `keys`: one [`WorkerGroup`] and one [`Server::new_worker`] each. `seed` is called for the
/// group's seed, then once per worker (adapters pass fresh operating-system randomness); its
/// error, a bad count and a bad configuration all become the adapter's error `E`.
pub fn worker_cores<S, E>(
    config: &ServerConfig,
    keys: &KeySet,
    count: usize,
    now: Instant,
    mut seed: impl FnMut() -> Result<Seed, S>,
) -> Result<Vec<Server>, E>
where
    E: From<S> + From<WorkerGroupError> + From<ServerConfigError>,
{
    let group = WorkerGroup::new(count, seed()?, config.max_sessions, config.dead_after)?;
    (0..count)
        .map(|index| {
            Ok(Server::new_worker(
                config.clone(),
                keys,
                seed()?,
                now,
                &group,
                index,
            )?)
        })
        .collect()
}

/// The server-wide counters: the sum of every worker's.
pub fn total_stats(workers: impl IntoIterator<Item = ServerStats>) -> ServerStats {
    let mut total = ServerStats::default();
    for stats in workers {
        total += stats;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::cross_lanes;
    use crate::adapter::cross_lanes::counting_doorbells;
    use crate::crypto::Key;
    use std::sync::atomic::Ordering;

    #[test]
    fn counts_out_of_range_are_refused_before_anything_is_made() {
        assert_eq!(check_workers(0), Err(WorkerGroupError::Count(0)));
        assert_eq!(check_workers(1), Ok(()));
        assert_eq!(check_workers(MAX_WORKERS), Ok(()));
        let over = MAX_WORKERS + 1;
        assert_eq!(check_workers(over), Err(WorkerGroupError::Count(over)));
    }

    #[derive(Debug, thiserror::Error)]
    enum Failed {
        #[error("seed")]
        Seed,
        #[error(transparent)]
        Count(#[from] WorkerGroupError),
        #[error(transparent)]
        Config(#[from] ServerConfigError),
    }

    #[test]
    fn each_worker_gets_its_own_seed_and_index_and_messages_reach_their_peer() {
        let keys = KeySet::single(Key::from_bytes([1; 32]));
        let config = ServerConfig::default();
        let mut seeds = 0u8;
        let seed = || {
            seeds += 1;
            Ok::<_, Failed>([seeds; 32])
        };
        let cores: Vec<Server> =
            worker_cores::<Failed, Failed>(&config, &keys, 3, Instant::ZERO, seed)
                .unwrap_or_else(|e| panic!("three workers: {e}"));
        assert_eq!(seeds, 4, "the group's seed, then one per worker");
        let indexes: Vec<_> = cores.iter().map(Server::worker_index).collect();
        assert_eq!(indexes, [0, 1, 2]);
        let zero = worker_cores::<Failed, Failed>(&config, &keys, 0, Instant::ZERO, || Ok([0; 32]));
        assert!(matches!(zero, Err(Failed::Count(_))));
        let refused =
            worker_cores::<Failed, Failed>(&config, &keys, 2, Instant::ZERO, || Err(Failed::Seed));
        assert!(matches!(refused, Err(Failed::Seed)));

        // Worker 0 subscribes: the announcement crosses to workers 1 and 2 through the lanes,
        // and each rings the receiver's doorbell.
        let mut cores = cores;
        let (bells, rung) = counting_doorbells(3);
        let mut ends = cross_lanes(bells);
        cores[0].subscribe("a.b", None).expect("subscribe");
        while let Some((to, msg)) = cores[0].poll_cross() {
            ends[0].0.send(to, msg);
        }
        let rings: Vec<_> = rung.iter().map(|r| r.load(Ordering::Relaxed)).collect();
        assert_eq!(rings, [0, 1, 1]);
        for (_, inbox) in &ends[1..] {
            let mut from = Vec::new();
            assert_eq!(inbox.drain(|f, _| from.push(f)), 1);
            assert_eq!(
                from,
                [0],
                "one announcement per other worker, from worker 0"
            );
        }
        ends.clear();
        assert_eq!(
            total_stats([ServerStats::default(), ServerStats::default()]),
            ServerStats::default()
        );
    }
}
