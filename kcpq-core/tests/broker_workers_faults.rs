//! A server of several workers under faults, in the simulator: partitions that heal, a restart
//! of every worker, a slow consumer, queue group members that leave with messages on their way,
//! 10 000 idle sessions, the owner's API, large messages and a full crossing between workers;
//! and address moves mid-handshake, drain, eviction, subscriptions gone every way, FEC.
//! Every scenario runs with 1, 2 and 4 workers on one virtual clock; the roles that matter sit
//! on chosen workers (`add_on`). Seeded and reproducible (`KCPQ_SEED=n` runs one seed).

mod sim;

use std::time::Duration;

use kcpq_core::CloseReason;
use kcpq_core::client::{ClientConfig, ClientEvent, SubscribeOptions};
use kcpq_core::kcp::KcpConfig;
use kcpq_core::message::RequestFailure;
use kcpq_core::proto::ErrorCode;
use kcpq_core::queue::{OverflowPolicy, QueueLimits};
use kcpq_core::server::{ServerConfig, ServerEvent};
use sim::net::LinkConfig;
use sim::world::{SERVER, World};
use sim::{messages_of, seeds};

const WORKERS: [usize; 3] = [1, 2, 4];

/// Liveness on a short scale, so faults are noticed within seconds of virtual time.
fn quick_server() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.ping_interval = Duration::from_secs(1);
    config.dead_after = Duration::from_secs(4);
    config
}

fn quick_client(name: &str) -> ClientConfig {
    let mut config = ClientConfig::default();
    config.name = name.to_owned();
    config.ping_interval = Duration::from_secs(1);
    config.dead_after = Duration::from_secs(4);
    config
}

/// Adds a client whose datagrams reach worker `worker` (modulo the count), after as many idle
/// clients as it takes to get there.
fn add_on(world: &mut World, name: &str, worker: usize) -> usize {
    add_on_with(world, quick_client(name), worker)
}

fn add_on_with(world: &mut World, config: ClientConfig, worker: usize) -> usize {
    let target = worker % world.worker_count();
    while world.worker_for(world.next_client_addr()) != target {
        let n = world.peers.len();
        world.add_client(quick_client(&format!("idle-{n}")));
    }
    world.add_client(config)
}

/// The worker holding the session of the client named `name`: exactly one does.
fn worker_of(world: &World, name: &str) -> usize {
    let holders: Vec<usize> = (0..world.worker_count())
        .filter(|&w| world.worker(w).sessions().iter().any(|s| s.name == name))
        .collect();
    assert_eq!(holders.len(), 1, "{name} is held by workers {holders:?}");
    holders[0]
}

fn connect_all(world: &mut World) {
    world.run_until(Duration::from_secs(30), |w| {
        (0..w.peers.len()).all(|i| w.connected(i))
    });
}

fn subscribe(world: &mut World, peer: usize, filter: &str, queue: Option<&str>) -> u32 {
    let mut options = SubscribeOptions::default();
    options.queue_group = queue.map(str::to_owned);
    subscribe_with(world, peer, filter, &options)
}

fn subscribe_with(world: &mut World, peer: usize, filter: &str, options: &SubscribeOptions) -> u32 {
    let sid = world.peers[peer]
        .client
        .subscribe_with(filter, options)
        .unwrap();
    world.drain();
    world.run_until(Duration::from_secs(30), |w| {
        w.peers[peer].events.contains(&ClientEvent::Subscribed(sid))
    });
    sid
}

fn reconnected(events: &[ClientEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, ClientEvent::Reconnected { .. }))
        .count()
}

/// Flushes client `i` and runs until the flush completes.
fn flush(world: &mut World, i: usize) {
    let id = world.peers[i]
        .client
        .flush(world.now, Duration::from_secs(30))
        .expect("flush");
    world.drain();
    world.run_until(Duration::from_secs(30), |w| {
        w.peers[i].events.contains(&ClientEvent::Flushed(id))
    });
}

fn publish_numbered(
    world: &mut World,
    publisher: usize,
    subject: &str,
    range: std::ops::Range<u32>,
) {
    for n in range {
        world.peers[publisher]
            .client
            .publish(subject, None, None, &n.to_be_bytes())
            .expect("publish");
    }
    world.drain();
}

fn numbers(payloads: &[Vec<u8>]) -> Vec<u32> {
    payloads
        .iter()
        .map(|p| u32::from_be_bytes(p[..4].try_into().expect("4-byte payloads")))
        .collect()
}

fn got(world: &World, peer: usize, sid: u32) -> Vec<u32> {
    numbers(&messages_of(&world.peers[peer].events, sid))
}

fn closed_replaced(world: &World, name: &str) -> bool {
    world.server_events.iter().any(|e| {
        matches!(e, ServerEvent::SessionClosed { name: n, reason: CloseReason::Replaced, .. } if n == name)
    })
}

#[test]
fn a_partitioned_client_keeps_or_regains_its_session_and_subscription_on_any_worker() {
    for workers in WORKERS {
        for seed in seeds(6) {
            // The server gives a silent session a minute; the client gives up after 4 s.
            let mut config = quick_server();
            config.dead_after = Duration::from_secs(60);
            let mut world = World::with_workers(seed, LinkConfig::lossy(2), config, workers);
            let publisher = add_on(&mut world, "pub", 0);
            let cut = add_on(&mut world, "cut", 1);
            let other = add_on(&mut world, "other", 2);
            connect_all(&mut world);
            let sid_cut = subscribe(&mut world, cut, "a.>", None);
            let sid_other = subscribe(&mut world, other, "a.b", None);
            let home = worker_of(&world, "cut");
            if workers > 1 {
                assert_ne!(home, worker_of(&world, "pub"), "workers {workers}");
            }

            // A short partition: the session holds; what was published meanwhile on another
            // worker waits on the subscriber's worker and arrives after the heal, in order.
            let cut_addr = world.peers[cut].addr;
            world.net.partition(cut_addr, SERVER);
            publish_numbered(&mut world, publisher, "a.b", 0..100);
            world.run_for(Duration::from_secs(2));
            world.net.heal(cut_addr, SERVER);
            world.run_until(Duration::from_secs(60), |w| {
                messages_of(&w.peers[cut].events, sid_cut).len() == 100
                    && messages_of(&w.peers[other].events, sid_other).len() == 100
            });
            assert_eq!(got(&world, cut, sid_cut), (0..100).collect::<Vec<_>>());
            assert_eq!(reconnected(&world.peers[cut].events), 0, "seed {seed}");
            assert_eq!(worker_of(&world, "cut"), home);

            // A long partition: the client gives its session up, the server does not yet. It
            // comes back from another port (its NAT forgot the mapping), which the kernel
            // hashes to another worker: its new session there takes the name over from the
            // old one, which is closed on its worker with its subscription.
            world.net.partition(cut_addr, SERVER);
            world.run_until(Duration::from_secs(30), |w| {
                w.peers[cut]
                    .events
                    .iter()
                    .any(|e| matches!(e, ClientEvent::Disconnected(_)))
            });
            world.net.heal(cut_addr, SERVER);
            // (Ports from 60 000 are no other client's; 60 000 is a multiple of 1, 2 and 4.)
            world.rebind(cut, 60_000 + ((home + 1) % workers) as u16);
            world.run_until(Duration::from_secs(60), |w| {
                reconnected(&w.peers[cut].events) >= 1
            });
            // (The flush shows the restored subscription is in place on every worker only
            // because workers hear each other faster than the client's round trip: see
            // `a_flush_after_subscribing_makes_the_subscription_visible_on_every_worker`.)
            flush(&mut world, cut);
            publish_numbered(&mut world, publisher, "a.b", 100..300);
            world.run_until(Duration::from_secs(60), |w| {
                messages_of(&w.peers[cut].events, sid_cut).len() >= 300
                    && messages_of(&w.peers[other].events, sid_other).len() >= 300
            });
            world.run_for(Duration::from_secs(1));
            assert_eq!(got(&world, cut, sid_cut), (0..300).collect::<Vec<_>>());
            assert_eq!(got(&world, other, sid_other), (0..300).collect::<Vec<_>>());
            let new_home = worker_of(&world, "cut");
            if workers > 1 {
                assert_ne!(new_home, home, "workers {workers} seed {seed}");
            }
            assert!(closed_replaced(&world, "cut"), "seed {seed}");
            let everyone = world.peers.len() as u64;
            assert_eq!(world.sum(|s| s.sessions), everyone, "seed {seed}");
            assert_eq!(world.sum(|s| s.subscriptions), 2, "seed {seed}");
            assert_eq!(world.sum(|s| s.drops.unknown_session), 0, "seed {seed}");
        }
    }
}

#[test]
fn a_restarted_server_of_several_workers_gets_every_client_back_with_its_subscriptions() {
    for workers in WORKERS {
        for seed in seeds(6) {
            let mut world =
                World::with_workers(seed, LinkConfig::lossy(1), quick_server(), workers);
            let publisher = add_on(&mut world, "pub", 0);
            let subs: Vec<usize> = (0..4)
                .map(|w| add_on(&mut world, &format!("sub-{w}"), w))
                .collect();
            let responder = add_on(&mut world, "responder", 3);
            connect_all(&mut world);
            let sids: Vec<u32> = subs
                .iter()
                .map(|&i| subscribe(&mut world, i, "t.*", None))
                .collect();
            let svc = subscribe(&mut world, responder, "svc.echo", None);

            // Half the seeds restart with as many workers, half with another count: 1 -> 2,
            // 2 -> 4, 4 -> 1 (old session ids then name workers the new server may not have).
            let after = if seed % 2 == 0 {
                workers
            } else {
                WORKERS[(WORKERS.iter().position(|&n| n == workers).unwrap() + 1) % 3]
            };
            world.restart_workers(quick_server(), after, 1);
            let context = format!("workers {workers} -> {after} seed {seed}");
            world.run_until(Duration::from_secs(60), |w| {
                (0..w.peers.len()).all(|i| reconnected(&w.peers[i].events) >= 1)
            });
            for i in 0..world.peers.len() {
                assert!(
                    world.peers[i].events.iter().any(|e| matches!(
                        e,
                        ClientEvent::Disconnected(
                            CloseReason::StatelessReset | CloseReason::Silence
                        )
                    )),
                    "{context}: {:?}",
                    world.peers[i].events
                );
                flush(&mut world, i);
            }
            let everyone = world.peers.len() as u64;
            assert_eq!(world.sum(|s| s.sessions), everyone);
            assert_eq!(world.sum(|s| s.sessions_opened), everyone, "fresh workers");
            assert!(
                (0..after).all(|w| world.worker(w).session_count() > 0),
                "{context}"
            );

            publish_numbered(&mut world, publisher, "t.x", 0..100);
            world.run_until(Duration::from_secs(60), |w| {
                subs.iter()
                    .zip(&sids)
                    .all(|(&i, &sid)| messages_of(&w.peers[i].events, sid).len() >= 100)
            });
            for (&i, &sid) in subs.iter().zip(&sids) {
                assert_eq!(
                    got(&world, i, sid),
                    (0..100).collect::<Vec<_>>(),
                    "{context}"
                );
            }

            // Request and reply across the new workers, to the restored subscription.
            let now = world.now;
            let id = world.peers[publisher]
                .client
                .request(now, "svc.echo", None, b"ping", Duration::from_secs(20))
                .unwrap();
            world.drain();
            world.run_until(Duration::from_secs(30), |w| {
                !messages_of(&w.peers[responder].events, svc).is_empty()
            });
            let reply = world.peers[responder]
                .events
                .iter()
                .find_map(|e| match e {
                    ClientEvent::Message(m) if m.sid == svc => m.reply.clone(),
                    _ => None,
                })
                .expect("a request carries a reply subject");
            world.peers[responder]
                .client
                .publish(&reply, None, None, b"pong")
                .unwrap();
            world.drain();
            world.run_until(Duration::from_secs(30), |w| {
                w.peers[publisher].events.iter().any(
                    |e| matches!(e, ClientEvent::Reply(r, m) if *r == id && m.payload == b"pong"),
                )
            });
        }
    }
}

#[test]
fn a_slow_consumer_is_bounded_and_counted_on_its_own_worker_and_slows_nobody() {
    const QUEUE: usize = 64;
    const N: u32 = 3000;
    for workers in WORKERS {
        for seed in seeds(2) {
            let mut config = quick_server();
            config.dead_after = Duration::from_secs(120);
            config.subscription_queue = QueueLimits {
                max_messages: QUEUE,
                max_bytes: 1 << 20,
            };
            let mut world = World::with_workers(seed, LinkConfig::lossy(1), config, workers);
            let publisher = add_on(&mut world, "pub", 0);
            // Its host takes nothing from the network: the server's queue fills.
            let mut stuck_config = quick_client("stuck");
            stuck_config.dead_after = Duration::from_secs(120);
            let stuck = add_on_with(&mut world, stuck_config, 1);
            // Its application does not read: the client's own queue fills, the server's not.
            let mut lazy_config = quick_client("lazy");
            lazy_config.subscription_limits.max_messages = 10;
            let lazy = add_on_with(&mut world, lazy_config, 1);
            // One fast subscriber on every worker, the stuck one's and the publisher's included.
            let fast: Vec<usize> = (0..workers)
                .map(|w| add_on(&mut world, &format!("fast-{w}"), w))
                .collect();
            connect_all(&mut world);
            let fast_sids: Vec<u32> = fast
                .iter()
                .map(|&i| subscribe(&mut world, i, "v", None))
                .collect();
            let options = SubscribeOptions::default().with_policy(OverflowPolicy::DropOldest);
            let sid_stuck = subscribe_with(&mut world, stuck, "v", &options);
            let sid_lazy = subscribe(&mut world, lazy, "v", None);
            let home = worker_of(&world, "stuck");
            if workers > 1 {
                assert_ne!(home, worker_of(&world, "pub"));
            }

            let stuck_addr = world.peers[stuck].addr;
            world.net.partition(stuck_addr, SERVER);
            world.peers[lazy].not_reading = true;
            let payload = vec![7u8; 1000];
            for n in 0..N {
                let mut body = n.to_be_bytes().to_vec();
                body.extend_from_slice(&payload);
                world.peers[publisher]
                    .client
                    .publish("v", None, None, &body)
                    .expect("the publisher is never refused");
                if n % 100 == 99 {
                    world.drain();
                    world.run_for(Duration::from_millis(20));
                    let subs = world
                        .worker(home)
                        .subscriptions_of("stuck")
                        .expect("still connected");
                    assert!(subs[0].stats.pending as usize <= QUEUE, "seed {seed}");
                    for w in (0..workers).filter(|&w| w != home) {
                        assert!(world.worker(w).subscriptions_of("stuck").is_none());
                    }
                }
            }
            world.drain();
            world.run_until(Duration::from_secs(60), |w| {
                fast.iter()
                    .zip(&fast_sids)
                    .all(|(&i, &sid)| messages_of(&w.peers[i].events, sid).len() >= N as usize)
            });
            for (w, (&i, &sid)) in fast.iter().zip(&fast_sids).enumerate() {
                assert_eq!(
                    got(&world, i, sid),
                    (0..N).collect::<Vec<_>>(),
                    "workers {workers} seed {seed}: fast-{w} lost nothing"
                );
                let name = format!("fast-{w}");
                let subs = world
                    .worker(worker_of(&world, &name))
                    .subscriptions_of(&name)
                    .unwrap();
                assert_eq!(subs[0].stats.dropped, 0);
            }
            assert!(world.peers[publisher].client.is_connected());
            assert_eq!(reconnected(&world.peers[publisher].events), 0);
            // The drops are the stuck subscription's, counted on its worker alone; nothing was
            // held back between the workers for it.
            let stuck_subs = world.worker(home).subscriptions_of("stuck").unwrap();
            assert!(stuck_subs[0].stats.dropped > 0, "seed {seed}");
            for w in 0..workers {
                let drops = world.worker(w).stats().drops.slow_consumer;
                assert_eq!(
                    drops > 0,
                    w == home,
                    "workers {workers} worker {w}: {drops}"
                );
            }
            assert_eq!(world.sum(|s| s.drops.cross_worker_full), 0);
            assert!(
                world.server_events.iter().any(
                    |e| matches!(e, ServerEvent::SlowConsumer { name, .. } if name == "stuck")
                )
            );
            // The application that did not read lost messages in its own client only.
            let lazy_home = worker_of(&world, "lazy");
            let lazy_subs = world.worker(lazy_home).subscriptions_of("lazy").unwrap();
            assert_eq!(lazy_subs[0].stats.dropped, 0);
            assert!(world.peers[lazy].client.stats().dropped_slow_consumer > 0);
            world.peers[lazy].not_reading = false;
            world.drain();
            let lazy_got = got(&world, lazy, sid_lazy);
            assert_eq!(lazy_got, (0..10).collect::<Vec<_>>(), "the oldest ten kept");

            // Back on the network: drop-oldest kept the newest, in order, and every message
            // was delivered or counted as dropped on the stuck one's worker.
            world.net.heal(stuck_addr, SERVER);
            world.run_until(Duration::from_secs(60), |w| {
                got(w, stuck, sid_stuck).last() == Some(&(N - 1))
            });
            let stuck_got = got(&world, stuck, sid_stuck);
            assert!(stuck_got.windows(2).all(|w| w[0] < w[1]), "in order");
            let stuck_subs = world.worker(home).subscriptions_of("stuck").unwrap();
            assert_eq!(
                stuck_subs[0].stats.delivered + stuck_subs[0].stats.dropped,
                u64::from(N),
                "workers {workers} seed {seed}"
            );
        }
    }
}

/// A queue group "q" on "jobs.*" with a member on the publisher's worker and one (`leaver`),
/// with or without a second one (`stayer`), on another worker; workers hear each other only
/// after 30 ms. The publisher sends one job a millisecond; half-way the leaver unsubscribes.
/// Returns the jobs each member got, the leaver's client's discarded ones and the world.
fn a_member_leaves_mid_stream(workers: usize, seed: u64, stayer: bool) -> (World, Vec<u32>, u64) {
    const N: u32 = 300;
    let mut world = World::with_workers(seed, LinkConfig::perfect(), quick_server(), workers);
    world.cross_delay = Duration::from_millis(30);
    let publisher = add_on(&mut world, "pub", 0);
    let near = add_on(&mut world, "near", 0);
    let leaver = add_on(&mut world, "leaver", 1);
    let mut members = vec![near, leaver];
    if stayer {
        members.push(add_on(&mut world, "stayer", 1));
    }
    connect_all(&mut world);
    let sids: Vec<u32> = members
        .iter()
        .map(|&m| subscribe(&mut world, m, "jobs.*", Some("q")))
        .collect();
    if workers > 1 {
        assert_ne!(worker_of(&world, "leaver"), worker_of(&world, "pub"));
    }
    if stayer {
        assert_eq!(worker_of(&world, "leaver"), worker_of(&world, "stayer"));
    }
    for n in 0..N {
        if n == N / 2 {
            world.peers[leaver]
                .client
                .unsubscribe(sids[1], None)
                .unwrap();
        }
        world.peers[publisher]
            .client
            .publish("jobs.x", None, None, &n.to_be_bytes())
            .unwrap();
        world.drain();
        world.run_for(Duration::from_millis(1));
    }
    flush(&mut world, publisher);
    world.run_for(Duration::from_secs(2));
    let mut all: Vec<u32> = members
        .iter()
        .zip(&sids)
        .flat_map(|(&m, &sid)| got(&world, m, sid))
        .collect();
    all.sort_unstable();
    let discarded = world.peers[leaver].client.stats().dropped_unknown;
    (world, all, discarded)
}

#[test]
fn a_queue_member_leaving_with_jobs_on_their_way_gets_none_twice_and_none_unaccounted() {
    const N: u64 = 300;
    for workers in WORKERS {
        for seed in seeds(6) {
            for stayer in [false, true] {
                let (world, all, discarded) = a_member_leaves_mid_stream(workers, seed, stayer);
                let context = format!("workers {workers} seed {seed} stayer {stayer}");
                let mut unique = all.clone();
                unique.dedup();
                assert_eq!(
                    unique.len(),
                    all.len(),
                    "{context}: a job went to two members"
                );
                let gone = world.sum(|s| s.drops.queue_member_gone);
                // Every job reached one member (the leaver's client discards what arrives after
                // its UNSUB) or was counted as gone on the leaver's worker.
                assert_eq!(
                    all.len() as u64 + discarded + gone,
                    N,
                    "{context}: {} got, {discarded} discarded, {gone} gone",
                    all.len()
                );
                if workers > 1 && !stayer {
                    assert!(gone > 0, "{context}: no job was on its way");
                    let leaver_worker = worker_of(&world, "leaver");
                    assert_eq!(
                        world.worker(leaver_worker).stats().drops.queue_member_gone,
                        gone
                    );
                } else {
                    // Alone, the leaver leaves at once; beside a stayer, the stayer takes the
                    // jobs that were on their way to it.
                    assert_eq!(gone, 0, "{context}");
                }
            }
        }
    }
}

#[test]
fn ten_thousand_idle_sessions_connect_over_four_workers_and_wake_them_per_worker_not_per_session() {
    const SESSIONS: usize = 10_000;
    let seed = seeds(1)[0];
    let mut wakeups_of = Vec::new();
    for workers in [1, 4] {
        let mut world = World::with_workers(
            seed,
            LinkConfig::perfect(),
            ServerConfig::default(),
            workers,
        );
        for i in 0..SESSIONS {
            let mut config = ClientConfig::default();
            config.name = format!("idle-{i}");
            world.add_client(config);
        }
        // (Session counts, not `stats()`, which walks every session.)
        let open = |w: &World| -> usize { (0..workers).map(|i| w.worker(i).session_count()).sum() };
        world.run_until(Duration::from_secs(60), |w| {
            open(w) == SESSIONS && (0..SESSIONS).all(|i| w.connected(i))
        });
        for w in 0..workers {
            let share = world.worker(w).session_count();
            assert_eq!(share, SESSIONS / workers, "worker {w} of {workers}");
        }
        // Let the connect burst settle, then count the wake-ups of all workers over T idle
        // seconds.
        world.run_for(Duration::from_secs(30));
        let idle = Duration::from_secs(60);
        let before = world.server_wakeups;
        world.run_for(idle);
        let wakeups = world.server_wakeups - before;
        let ping = ServerConfig::default().ping_interval;
        let bound = (SESSIONS as u64 * idle.as_secs()) / ping.as_secs() + 100;
        assert!(
            wakeups <= bound,
            "{workers} workers: {wakeups} wake-ups in {idle:?} (bound {bound})"
        );
        assert_eq!(world.sum(|s| s.sessions), SESSIONS as u64);
        assert_eq!(world.sum(|s| s.sessions_closed), 0);
        wakeups_of.push(wakeups);
    }
    // Idle sessions' timers are coalesced per worker, so four workers wake about four times as
    // often as one (a handful of times a minute each), never once per session. (The issue's
    // target, no more wake-ups over all workers than one server's, is not met by that factor.)
    assert!(
        wakeups_of[1] <= 4 * wakeups_of[0] + 4,
        "wake-ups: 1 worker {}, 4 workers {}",
        wakeups_of[0],
        wakeups_of[1]
    );
}

#[test]
fn the_owner_on_worker_zero_serves_and_reaches_clients_on_every_worker() {
    for workers in WORKERS {
        for seed in seeds(5) {
            let mut world =
                World::with_workers(seed, LinkConfig::lossy(2), quick_server(), workers);
            let near = add_on(&mut world, "near", 0);
            let far = add_on(&mut world, "far", 1);
            let c2 = add_on(&mut world, "c2", 2);
            let c3 = add_on(&mut world, "c3", 3);
            let clients = [near, far, c2, c3];
            connect_all(&mut world);
            let sids: Vec<u32> = clients
                .iter()
                .map(|&c| subscribe(&mut world, c, "cmd.*", None))
                .collect();
            let far_home = worker_of(&world, "far");
            if workers > 1 {
                assert_ne!(far_home, 0);
            }
            let context = format!("workers {workers} seed {seed}");

            // To everyone on a subject: once each, on every worker.
            world
                .server
                .publish("cmd.all", None, None, b"hello all")
                .unwrap();
            world.drain();
            world.run_until(Duration::from_secs(30), |w| {
                clients
                    .iter()
                    .zip(&sids)
                    .all(|(&c, &sid)| !messages_of(&w.peers[c].events, sid).is_empty())
            });
            world.run_for(Duration::from_secs(1));
            for (&c, &sid) in clients.iter().zip(&sids) {
                assert_eq!(
                    messages_of(&world.peers[c].events, sid),
                    vec![b"hello all".to_vec()],
                    "{context}"
                );
            }

            // To one client by name, from worker 0 whichever worker holds it.
            world
                .server
                .publish_to("far", "cmd.one", None, None, b"hello far")
                .unwrap();
            world.drain();
            world.run_until(Duration::from_secs(30), |w| {
                messages_of(&w.peers[far].events, sids[1]).len() == 2
            });
            world.run_for(Duration::from_secs(1));
            for (&c, &sid) in clients.iter().zip(&sids).filter(|&(&c, _)| c != far) {
                assert_eq!(messages_of(&world.peers[c].events, sid).len(), 1);
            }

            // A client on another worker requests what the owner serves; the owner answers.
            let owner_sid = world.server.subscribe("svc.>", None).unwrap();
            world.drain();
            // The owner's subscription has no OK to wait for: let its announcement cross.
            world.run_for(Duration::from_millis(5));
            let now = world.now;
            let req = world.peers[far]
                .client
                .request(now, "svc.time", None, b"now?", Duration::from_secs(20))
                .unwrap();
            world.drain();
            world.run_until(Duration::from_secs(30), |w| {
                w.server_events
                    .iter()
                    .any(|e| matches!(e, ServerEvent::Message(m) if m.sid == owner_sid))
            });
            let reply = world
                .server_events
                .iter()
                .find_map(|e| match e {
                    ServerEvent::Message(m) if m.sid == owner_sid => m.reply.clone(),
                    _ => None,
                })
                .expect("a request carries a reply subject");
            world.server.publish(&reply, None, None, b"noon").unwrap();
            world.drain();
            world.run_until(Duration::from_secs(30), |w| {
                w.peers[far].events.iter().any(
                    |e| matches!(e, ClientEvent::Reply(id, m) if *id == req && m.payload == b"noon"),
                )
            });

            // The owner's request to everyone: the reply of a client on another worker comes
            // back to the owner's inbox.
            let now = world.now;
            let id = world
                .server
                .request(now, None, "cmd.status", None, b"?", Duration::from_secs(20))
                .unwrap();
            world.drain();
            world.run_until(Duration::from_secs(30), |w| {
                w.peers[far]
                    .events
                    .iter()
                    .any(|e| matches!(e, ClientEvent::Message(m) if m.subject == "cmd.status"))
            });
            let reply = world.peers[far]
                .events
                .iter()
                .find_map(|e| match e {
                    ClientEvent::Message(m) if m.subject == "cmd.status" => m.reply.clone(),
                    _ => None,
                })
                .expect("a request carries a reply subject");
            world.peers[far]
                .client
                .publish(&reply, None, None, b"ok")
                .unwrap();
            world.drain();
            world.run_until(Duration::from_secs(30), |w| {
                w.server_events.iter().any(
                    |e| matches!(e, ServerEvent::Reply(r, m) if *r == id && m.payload == b"ok"),
                )
            });

            // The owner's request to one client by name, on another worker: only it gets it.
            let now = world.now;
            let id = world
                .server
                .request(
                    now,
                    Some("far"),
                    "cmd.ping",
                    None,
                    b"?",
                    Duration::from_secs(20),
                )
                .unwrap();
            world.drain();
            world.run_until(Duration::from_secs(30), |w| {
                w.peers[far]
                    .events
                    .iter()
                    .any(|e| matches!(e, ClientEvent::Message(m) if m.subject == "cmd.ping"))
            });
            let reply = world.peers[far]
                .events
                .iter()
                .find_map(|e| match e {
                    ClientEvent::Message(m) if m.subject == "cmd.ping" => m.reply.clone(),
                    _ => None,
                })
                .expect("a request carries a reply subject");
            world.peers[far]
                .client
                .publish(&reply, None, None, b"pong")
                .unwrap();
            world.drain();
            world.run_until(Duration::from_secs(30), |w| {
                w.server_events.iter().any(
                    |e| matches!(e, ServerEvent::Reply(r, m) if *r == id && m.payload == b"pong"),
                )
            });
            for &c in clients.iter().filter(|&&c| c != far) {
                assert!(
                    !world.peers[c]
                        .events
                        .iter()
                        .any(|e| matches!(e, ClientEvent::Message(m) if m.subject == "cmd.ping")),
                    "{context}"
                );
            }

            // Nobody listens on any worker: no responders at once.
            let now = world.now;
            let none = world
                .server
                .request(now, None, "nobody.here", None, b"", Duration::from_secs(20))
                .unwrap();
            world.drain();
            assert!(
                world.server_events.contains(&ServerEvent::RequestFailed(
                    none,
                    RequestFailure::NoResponders
                )),
                "{context}"
            );

            // A queue group shared by the owner and clients on other workers: each job once.
            let owner_q = world.server.subscribe("jobs", Some("q")).unwrap();
            let members: Vec<(usize, u32)> = [far, c3]
                .iter()
                .map(|&c| (c, subscribe(&mut world, c, "jobs", Some("q"))))
                .collect();
            for n in 0..100u32 {
                world
                    .server
                    .publish("jobs", None, None, &n.to_be_bytes())
                    .unwrap();
            }
            world.drain();
            let total = |w: &World| {
                let owner = w
                    .server_events
                    .iter()
                    .filter(|e| matches!(e, ServerEvent::Message(m) if m.sid == owner_q))
                    .count();
                owner
                    + members
                        .iter()
                        .map(|&(c, sid)| messages_of(&w.peers[c].events, sid).len())
                        .sum::<usize>()
            };
            world.run_until(Duration::from_secs(30), |w| total(w) >= 100);
            world.run_for(Duration::from_secs(1));
            assert_eq!(total(&world), 100, "{context}");
        }
    }
}

/// A payload whose every byte depends on its number and position, so a torn, shifted or mixed
/// message cannot pass for another.
fn payload(n: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ n.wrapping_mul(97) ^ (i >> 8) as u8)
        .collect()
}

#[test]
fn large_messages_reach_subscribers_on_every_worker_whole_and_in_order() {
    for workers in WORKERS {
        for seed in seeds(4) {
            let link = if seed % 2 == 0 {
                LinkConfig::perfect()
            } else {
                LinkConfig::lossy(3)
            };
            let mut world = World::with_workers(seed, link, ServerConfig::default(), workers);
            let publisher = add_on(&mut world, "pub", 0);
            let subs: Vec<usize> = (0..workers.max(2))
                .map(|w| add_on(&mut world, &format!("s{w}"), w))
                .collect();
            connect_all(&mut world);
            let sids: Vec<u32> = subs
                .iter()
                .map(|&s| subscribe(&mut world, s, "video.>", None))
                .collect();
            let sizes = [100_000, 10, 300_000, 17_000, 0, 65_536, 1, 16_384];
            let sent: Vec<Vec<u8>> = sizes
                .iter()
                .enumerate()
                .map(|(n, &len)| payload(n as u8, len))
                .collect();
            for p in &sent {
                world.peers[publisher]
                    .client
                    .publish("video.cam", None, None, p)
                    .unwrap();
            }
            world.drain();
            world.run_until(Duration::from_secs(60), |w| {
                subs.iter()
                    .zip(&sids)
                    .all(|(&s, &sid)| messages_of(&w.peers[s].events, sid).len() >= sent.len())
            });
            world.run_for(Duration::from_secs(1));
            for (&s, &sid) in subs.iter().zip(&sids) {
                assert!(
                    messages_of(&world.peers[s].events, sid) == sent,
                    "workers {workers} seed {seed}: subscriber {s} got other messages"
                );
            }
            assert_eq!(world.sum(|s| s.cut_through_aborted), 0);
            // The publisher's worker forwards to its own subscribers cut-through, whoever else
            // (on other workers) gets the message whole.
            assert!(
                world.worker(0).stats().cut_through > 0,
                "workers {workers} seed {seed}: no cut-through on the publisher's worker"
            );
        }
    }
}

/// A publisher whose KCP sends 16 segments per round trip, so that a large message is still on
/// its way when the test cuts it off.
fn slow_publisher(name: &str) -> ClientConfig {
    let mut config = quick_client(name);
    let mut kcp = KcpConfig::fast();
    kcp.send_window = 16;
    config.kcp = kcp;
    config
}

#[test]
fn a_publisher_dying_mid_message_blocks_no_subscriber_on_any_worker() {
    for workers in WORKERS {
        for seed in seeds(4) {
            let mut world =
                World::with_workers(seed, LinkConfig::perfect(), quick_server(), workers);
            let publisher = add_on_with(&mut world, slow_publisher("pub"), 0);
            let other = add_on(&mut world, "other", 1);
            let subs: Vec<usize> = (0..workers.max(2))
                .map(|w| add_on(&mut world, &format!("s{w}"), w))
                .collect();
            connect_all(&mut world);
            let sids: Vec<u32> = subs
                .iter()
                .map(|&s| subscribe(&mut world, s, "video.>", None))
                .collect();
            let home = worker_of(&world, "pub");
            let context = format!("workers {workers} seed {seed}");

            // The publisher dies with a fifth of its 200 KB message at its worker.
            let before = world.worker(home).stats().wire_bytes_in;
            world.peers[publisher]
                .client
                .publish("video.cam", None, None, &payload(3, 200_000))
                .unwrap();
            world.drain();
            world.run_until(Duration::from_secs(5), |w| {
                w.worker(home).stats().wire_bytes_in > before + 40_000
            });
            world.vanish(publisher);

            // Another publisher's large and small messages reach every subscriber at once,
            // long before the server finds the dead one out.
            let next = payload(4, 50_000);
            world.peers[other]
                .client
                .publish("video.other", None, None, &next)
                .unwrap();
            world.peers[other]
                .client
                .publish("video.meta", None, None, b"meta")
                .unwrap();
            world.drain();
            let expected = vec![next.clone(), b"meta".to_vec()];
            world.run_until(Duration::from_secs(2), |w| {
                subs.iter()
                    .zip(&sids)
                    .all(|(&s, &sid)| messages_of(&w.peers[s].events, sid).len() >= 2)
            });
            let everyone = world.peers.len() as u64;
            assert_eq!(world.sum(|s| s.sessions), everyone, "{context}: still open");
            for (&s, &sid) in subs.iter().zip(&sids) {
                assert!(
                    messages_of(&world.peers[s].events, sid) == expected,
                    "{context}: subscriber {s}"
                );
            }

            // The dead publisher is found out on its worker; nothing of its message arrives.
            world.run_until(Duration::from_secs(60), |w| {
                w.sum(|s| s.sessions) == everyone - 1
            });
            world.run_for(Duration::from_secs(1));
            for (&s, &sid) in subs.iter().zip(&sids) {
                assert!(
                    messages_of(&world.peers[s].events, sid) == expected,
                    "{context}: subscriber {s}"
                );
                assert!(world.peers[s].client.stats().msgs_aborted <= 1);
            }
        }
    }
}

#[test]
fn a_full_crossing_drops_and_counts_routed_messages_and_recovers() {
    const N: u32 = 200;
    for workers in WORKERS {
        for seed in seeds(4) {
            let mut config = ServerConfig::default();
            config.max_cross_bytes = 2_000;
            let mut world = World::with_workers(seed, LinkConfig::perfect(), config, workers);
            let publisher = add_on(&mut world, "pub", 0);
            let local = add_on(&mut world, "local", 0);
            let remote: Vec<usize> = (1..workers)
                .map(|w| add_on(&mut world, &format!("r{w}"), w))
                .collect();
            connect_all(&mut world);
            let sid_local = subscribe(&mut world, local, "burst", None);
            let sids: Vec<u32> = remote
                .iter()
                .map(|&r| subscribe(&mut world, r, "burst", None))
                .collect();
            let context = format!("workers {workers} seed {seed}");

            // A burst of 500-byte messages: more than the bound can hold at once.
            for n in 0..N {
                let mut body = n.to_be_bytes().to_vec();
                body.resize(500, 0xab);
                world.peers[publisher]
                    .client
                    .publish("burst", None, None, &body)
                    .unwrap();
            }
            world.drain();
            flush(&mut world, publisher);
            world.run_for(Duration::from_secs(2));
            assert_eq!(got(&world, local, sid_local), (0..N).collect::<Vec<_>>());
            let full = world.sum(|s| s.drops.cross_worker_full);
            assert_eq!(full, world.worker(0).stats().drops.cross_worker_full);
            let crossed: usize = remote
                .iter()
                .zip(&sids)
                .map(|(&r, &sid)| {
                    let mine = got(&world, r, sid);
                    assert!(mine.windows(2).all(|w| w[0] < w[1]), "{context}: order");
                    mine.len()
                })
                .sum();
            assert_eq!(
                crossed as u64 + full,
                u64::from(N) * remote.len() as u64,
                "{context}: every message crossed or was counted"
            );
            if workers > 1 {
                assert!(full > 0, "{context}: the bound never filled");
                assert!(crossed > 0, "{context}: nothing crossed");
            }
            // Each remote subscription counts what it lost on the way, its client is told
            // (ERR slow consumer, once per notice), and so is the owner (an event).
            for (w, (&r, &sid)) in (1..).zip(remote.iter().zip(&sids)) {
                let name = format!("r{w}");
                let home = worker_of(&world, &name);
                let subs = world.worker(home).subscriptions_of(&name).unwrap();
                let lost = u64::from(N) - got(&world, r, sid).len() as u64;
                assert_eq!(subs[0].stats.dropped, lost, "{context}: {name}");
                assert!(lost > 0, "{context}: {name} lost nothing");
                let told = world.peers[r]
                    .events
                    .iter()
                    .filter(|e| {
                        matches!(e, ClientEvent::ServerError(err)
                            if err.code == ErrorCode::SlowConsumer
                                && err.message.contains(&format!("subscription {sid} lost")))
                    })
                    .count();
                assert!(told > 0, "{context}: {name} was not told");
                assert!(
                    world.server_events.iter().any(
                        |e| matches!(e, ServerEvent::SlowConsumer { name: n, .. } if *n == name)
                    ),
                    "{context}: no event for {name}"
                );
            }
            let local_subs = world.worker(0).subscriptions_of("local").unwrap();
            assert_eq!(local_subs[0].stats.dropped, 0, "{context}");

            // The bound frees as the other workers take messages in: paced, every message
            // crosses.
            for n in N..N + 20 {
                let mut body = n.to_be_bytes().to_vec();
                body.resize(500, 0xcd);
                world.peers[publisher]
                    .client
                    .publish("burst", None, None, &body)
                    .unwrap();
                world.drain();
                world.run_for(Duration::from_millis(10));
            }
            world.run_until(Duration::from_secs(5), |w| {
                remote
                    .iter()
                    .zip(&sids)
                    .all(|(&r, &sid)| got(w, r, sid).ends_with(&(N..N + 20).collect::<Vec<_>>()))
            });
            assert_eq!(world.sum(|s| s.drops.cross_worker_full), full);
            let everyone = world.peers.len() as u64;
            assert_eq!(world.sum(|s| s.sessions), everyone);
        }
    }
}

#[test]
fn a_queue_member_counts_what_a_full_crossing_lost_for_its_group() {
    const N: u32 = 200;
    for seed in seeds(3) {
        let mut config = ServerConfig::default();
        config.max_cross_bytes = 2_000;
        let mut world = World::with_workers(seed, LinkConfig::perfect(), config, 2);
        let publisher = add_on(&mut world, "pub", 0);
        let member = add_on(&mut world, "member", 1);
        connect_all(&mut world);
        let sid = subscribe(&mut world, member, "jobs", Some("workers"));
        for n in 0..N {
            let mut body = n.to_be_bytes().to_vec();
            body.resize(500, 0x5a);
            world.peers[publisher]
                .client
                .publish("jobs", None, None, &body)
                .unwrap();
        }
        world.drain();
        flush(&mut world, publisher);
        world.run_for(Duration::from_secs(2));
        let context = format!("seed {seed}");
        let delivered = got(&world, member, sid).len() as u64;
        let full = world.sum(|s| s.drops.cross_worker_full);
        assert!(full > 0 && delivered > 0, "{context}: {full} {delivered}");
        assert_eq!(delivered + full, u64::from(N), "{context}");
        let subs = world.worker(1).subscriptions_of("member").unwrap();
        assert_eq!(subs[0].stats.dropped, full, "{context}");
        assert_eq!(subs[0].stats.delivered, delivered, "{context}");
    }
}

/// A world of `workers` workers whose crossings take 40 ms, with a connected publisher on
/// worker 0 and a subscriber-to-be on worker 1: (world, publisher, subscriber).
fn slow_crossing(workers: usize, seed: u64) -> (World, usize, usize) {
    let mut world = World::with_workers(seed, LinkConfig::perfect(), quick_server(), workers);
    world.cross_delay = Duration::from_millis(40);
    let publisher = add_on(&mut world, "pub", 0);
    let sub = add_on(&mut world, "sub", 1);
    connect_all(&mut world);
    (world, publisher, sub)
}

/// A client whose subscription is restored after a reconnect gets no `Subscribed` again: a
/// flush is its only way to know the server has the subscription, as with one server.
#[test]
fn a_flush_after_subscribing_makes_the_subscription_visible_on_every_worker() {
    for workers in [2, 4] {
        for seed in seeds(4) {
            let (mut world, publisher, sub) = slow_crossing(workers, seed);
            let sid = world.peers[sub].client.subscribe("late", None).unwrap();
            world.drain();
            flush(&mut world, sub);
            world.peers[publisher]
                .client
                .publish("late", None, None, b"after the flush")
                .unwrap();
            world.drain();
            flush(&mut world, publisher);
            world.run_for(Duration::from_secs(1));
            assert_eq!(
                messages_of(&world.peers[sub].events, sid).len(),
                1,
                "workers {workers} seed {seed}"
            );
        }
    }
}

/// A flush is a barrier across workers, as on one nats-server: once the publisher's flush
/// returns, a flush of any subscriber returns only after the message is in its subscription,
/// however slowly the publisher's worker hands it to the subscriber's.
#[test]
fn a_publishers_flush_puts_its_messages_before_any_later_flush_of_a_subscriber() {
    for workers in [2, 4] {
        for seed in seeds(4) {
            let (mut world, publisher, sub) = slow_crossing(workers, seed);
            let sid = subscribe(&mut world, sub, "crossing", None);
            world.peers[publisher]
                .client
                .publish("crossing", None, None, b"before the flushes")
                .unwrap();
            world.drain();
            flush(&mut world, publisher);
            flush(&mut world, sub);
            assert_eq!(
                messages_of(&world.peers[sub].events, sid).len(),
                1,
                "workers {workers} seed {seed}"
            );
        }
    }
}

#[test]
fn a_client_whose_address_changes_mid_handshake_connects_through_whichever_worker_hears_it() {
    for workers in WORKERS {
        // Hello, cookie, Finish and the first data packet each take 1 ms on this link: the
        // rebinding lands before, between and after each of them.
        for at_us in (250..6_000u32).step_by(250) {
            let seed = u64::from(at_us);
            let mut world =
                World::with_workers(seed, LinkConfig::perfect(), quick_server(), workers);
            let publisher = add_on(&mut world, "pub", 0);
            connect_all(&mut world);
            // A Finish from another address than its cookie's is refused (the cookie is bound to
            // the address), as with one server: the client starts over from the new address.
            let mut config = quick_client("roamer");
            config.retry_initial_connect = true;
            let roamer = add_on_with(&mut world, config, 1);
            world.run_for(Duration::from_micros(at_us.into()));
            let home = world.worker_for(world.peers[roamer].addr);
            world.rebind(roamer, 60_000 + ((home + 1) % workers) as u16);
            let context = format!("workers {workers} rebound after {at_us} µs");
            world.run_until(Duration::from_secs(30), |w| w.connected(roamer));
            let sid = subscribe(&mut world, roamer, "roam", None);
            publish_numbered(&mut world, publisher, "roam", 0..10);
            world.run_until(Duration::from_secs(30), |w| {
                messages_of(&w.peers[roamer].events, sid).len() >= 10
            });
            // The half-open handshake or session the old address left on a worker is gone
            // once its deadline passes; one session per client remains.
            world.run_for(Duration::from_secs(30));
            assert_eq!(
                got(&world, roamer, sid),
                (0..10).collect::<Vec<_>>(),
                "{context}"
            );
            assert_eq!(world.sum(|s| s.sessions), 2, "{context}");
            worker_of(&world, "roamer");
            assert!(world.peers[roamer].client.is_connected(), "{context}");
            assert_eq!(reconnected(&world.peers[roamer].events), 0, "{context}");
        }
    }
}

#[test]
fn a_handshake_and_sessions_survive_their_datagrams_moving_to_another_worker() {
    for workers in WORKERS {
        // The move lands before, between and after the handshake's datagrams (1 ms each).
        for at_us in (250..6_000u32).step_by(250) {
            let seed = u64::from(at_us);
            let mut world =
                World::with_workers(seed, LinkConfig::perfect(), quick_server(), workers);
            let publisher = add_on(&mut world, "pub", 0);
            connect_all(&mut world);
            let newcomer = add_on(&mut world, "newcomer", 1);
            world.run_for(Duration::from_micros(at_us.into()));
            // Every address now reaches the next worker's socket (one joined or left the
            // SO_REUSEPORT group): the cookie another worker issued, the half-open handshake
            // another worker holds and the established sessions must all still work.
            world.worker_shift = 1;
            let context = format!("workers {workers} moved after {at_us} µs");
            world.run_until(Duration::from_secs(30), |w| w.connected(newcomer));
            let sid = subscribe(&mut world, newcomer, "moved", None);
            publish_numbered(&mut world, publisher, "moved", 0..10);
            world.run_until(Duration::from_secs(30), |w| {
                messages_of(&w.peers[newcomer].events, sid).len() >= 10
            });
            world.run_for(Duration::from_secs(10));
            assert_eq!(
                got(&world, newcomer, sid),
                (0..10).collect::<Vec<_>>(),
                "{context}"
            );
            for peer in [publisher, newcomer] {
                assert!(world.peers[peer].client.is_connected(), "{context}");
                assert_eq!(world.peers[peer].client.stats().failed_attempts, 0);
                assert_eq!(reconnected(&world.peers[peer].events), 0, "{context}");
            }
            assert_eq!(world.sum(|s| s.sessions), 2, "{context}");
            assert_eq!(world.sum(|s| s.handshake_failures), 0, "{context}");
            assert_eq!(world.sum(|s| s.drops.unknown_session), 0, "{context}");
            if workers > 1 {
                assert!(world.sum(|s| s.datagrams_forwarded) > 0, "{context}");
            }
        }
    }
}

/// A publisher on worker 0 and a subscriber on worker 1 (with several workers), 300 numbered
/// messages published and processed by the publisher's worker (flushed), then every worker
/// drained at once. Returns the world, the subscriber and its sid.
fn drained_after_three_hundred(
    workers: usize,
    seed: u64,
    cross_delay: Duration,
) -> (World, usize, u32) {
    let mut world = World::with_workers(seed, LinkConfig::lossy(3), quick_server(), workers);
    world.cross_delay = cross_delay;
    let publisher = add_on(&mut world, "pub", 0);
    let subscriber = add_on(&mut world, "sub", 1);
    connect_all(&mut world);
    let sid = subscribe(&mut world, subscriber, "d", None);
    publish_numbered(&mut world, publisher, "d", 0..300);
    flush(&mut world, publisher);
    let now = world.now;
    for w in 0..workers {
        world.worker_mut(w).drain(now, Duration::from_secs(30));
    }
    world.drain();
    world.run_until(Duration::from_secs(60), |w| {
        (0..workers).all(|i| w.worker(i).is_shut_down())
    });
    (world, subscriber, sid)
}

#[test]
fn draining_every_worker_delivers_what_was_published_then_closes_every_session() {
    for workers in WORKERS {
        for seed in seeds(6) {
            let (world, subscriber, sid) =
                drained_after_three_hundred(workers, seed, Duration::from_micros(100));
            let context = format!("workers {workers} seed {seed}");
            assert_eq!(
                got(&world, subscriber, sid),
                (0..300).collect::<Vec<_>>(),
                "{context}"
            );
            let completed = world
                .server_events
                .iter()
                .filter(|e| **e == ServerEvent::ShutdownComplete)
                .count();
            assert_eq!(completed, workers, "{context}");
            assert_eq!(world.sum(|s| s.sessions), 0, "{context}");
            assert!(
                world.peers[subscriber]
                    .events
                    .iter()
                    .any(|e| matches!(e, ClientEvent::Disconnected(CloseReason::PeerClosed(_)))),
                "{context}"
            );
        }
    }
}

/// As above, with workers slow to hear each other (a busy worker's queue): the messages the
/// publisher's worker accepted and routed before the drain are still crossing when the
/// subscriber's worker, idle, shuts its sessions down.
#[test]
fn draining_every_worker_delivers_what_was_still_crossing() {
    for workers in [2, 4] {
        for seed in seeds(6) {
            let (world, subscriber, sid) =
                drained_after_three_hundred(workers, seed, Duration::from_millis(40));
            assert_eq!(
                got(&world, subscriber, sid),
                (0..300).collect::<Vec<_>>(),
                "workers {workers} seed {seed}"
            );
        }
    }
}

/// A server of `workers` workers limited to 4 sessions, c0 to c3 on workers 0 to 3 (modulo
/// the count); c1 and c3 die, and 23 s later (past 1.5 ping intervals, before the silence
/// limit) a newcomer arrives on worker `newcomer_on` (from a port of its own, as idle clients
/// cannot fill the gaps of a full server). Returns the world and the newcomer.
#[test]
fn a_parked_newcomer_is_refused_when_no_worker_has_a_silent_session() {
    for workers in [2, 4] {
        let mut config = ServerConfig::default();
        config.max_sessions = 2;
        let mut world = World::with_workers(11, LinkConfig::perfect(), config, workers);
        for i in 0..2 {
            let mut client = ClientConfig::default();
            client.name = format!("busy{i}");
            world.add_client(client);
        }
        connect_all(&mut world);
        let mut client = ClientConfig::default();
        client.name = "late".to_owned();
        let late = world.add_client(client);
        world.run_for(Duration::from_secs(5));
        let context = format!("workers {workers}");
        // Nobody was silent: after its wait the newcomer is refused, the others stay.
        assert_eq!(world.sum(|s| s.sessions), 2, "{context}");
        assert!(world.sum(|s| s.drops.session_limit) >= 1, "{context}");
        assert!(
            world.peers[late].events.iter().any(|e| matches!(
                e,
                ClientEvent::ServerError(err) if err.code == kcpq_core::proto::ErrorCode::TooManySessions
            )),
            "{context}"
        );
        assert!(
            world.connected(0) && world.peers[0].client.is_connected(),
            "{context}"
        );
        assert_eq!(evicted(&world), 0, "{context}");
    }
}

fn full_with_two_silent(workers: usize, seed: u64, newcomer_on: usize) -> (World, usize) {
    let mut config = ServerConfig::default();
    config.max_sessions = 4;
    let mut world = World::with_workers(seed, LinkConfig::lossy(1), config, workers);
    let named = |name: &str| {
        let mut config = ClientConfig::default();
        config.name = name.to_owned();
        config
    };
    let clients: Vec<usize> = (0..4)
        .map(|i| world.add_client(named(&format!("c{i}"))))
        .collect();
    connect_all(&mut world);
    for i in 0..4 {
        assert_eq!(worker_of(&world, &format!("c{i}")), i % workers);
    }
    for dying in [clients[1], clients[3]] {
        world.peers[dying]
            .client
            .publish("x", None, None, b"bye")
            .unwrap();
    }
    world.drain();
    world.run_for(Duration::from_millis(100));
    world.vanish(clients[1]);
    world.vanish(clients[3]);
    world.run_for(Duration::from_secs(23));
    assert_eq!(world.sum(|s| s.sessions), 4);
    let newcomer = world.add_client(named("newcomer"));
    world.rebind(newcomer, 60_000 + (newcomer_on % workers) as u16);
    world.run_for(Duration::from_secs(5));
    for live in [clients[0], clients[2]] {
        assert!(world.peers[live].client.is_connected());
    }
    (world, newcomer)
}

fn evicted(world: &World) -> usize {
    world
        .server_events
        .iter()
        .filter(|e| {
            matches!(
                e,
                ServerEvent::SessionClosed {
                    reason: CloseReason::Evicted,
                    ..
                }
            )
        })
        .count()
}

#[test]
fn a_full_server_of_workers_evicts_a_silent_session_for_a_newcomer_on_its_worker() {
    for workers in WORKERS {
        for seed in seeds(4) {
            let (world, newcomer) = full_with_two_silent(workers, seed, 1);
            let context = format!("workers {workers} seed {seed}");
            assert!(world.connected(newcomer), "{context}");
            assert_eq!(evicted(&world), 1, "{context}");
            assert_eq!(world.sum(|s| s.sessions_evicted), 1, "{context}");
            assert_eq!(world.sum(|s| s.sessions), 4, "{context}");
        }
    }
}

#[test]
fn a_full_server_of_workers_evicts_a_silent_session_on_another_worker_for_a_newcomer() {
    for workers in [2, 4] {
        for seed in seeds(4) {
            let (world, newcomer) = full_with_two_silent(workers, seed, 0);
            let context = format!("workers {workers} seed {seed}");
            assert!(world.connected(newcomer), "{context}");
            assert_eq!(evicted(&world), 1, "{context}");
        }
    }
}

/// The ways a subscription goes away.
#[derive(Debug, Clone, Copy)]
enum Gone {
    Unsubscribed,
    CountReached,
    Drained,
    Closed,
    Vanished,
    NameTakenOver,
    OwnerUnsubscribed,
}

/// Requests `subject` from `requester` and runs until it fails or is answered; returns whether
/// it failed at once with no responders.
fn no_responders(world: &mut World, requester: usize, subject: &str) -> bool {
    let now = world.now;
    let id = world.peers[requester]
        .client
        .request(now, subject, None, b"?", Duration::from_secs(5))
        .unwrap();
    world.drain();
    let done = |w: &World| {
        w.peers[requester].events.iter().any(|e| {
            matches!(e, ClientEvent::RequestFailed(r, _) | ClientEvent::Reply(r, _) if *r == id)
        })
    };
    world.run_until(Duration::from_secs(10), done);
    world.peers[requester]
        .events
        .contains(&ClientEvent::RequestFailed(
            id,
            RequestFailure::NoResponders,
        ))
}

#[test]
fn a_subscription_gone_any_way_is_gone_from_every_worker() {
    use Gone::*;
    for workers in WORKERS {
        for gone in [
            Unsubscribed,
            CountReached,
            Drained,
            Closed,
            Vanished,
            NameTakenOver,
            OwnerUnsubscribed,
        ] {
            let seed = gone as u64;
            let context = format!("workers {workers} {gone:?}");
            let mut world =
                World::with_workers(seed, LinkConfig::lossy(2), quick_server(), workers);
            // The owner on worker 0, the requester on worker 1, the responder on worker 2
            // (modulo the count).
            let requester = add_on(&mut world, "requester", 1);
            let responder = add_on(&mut world, "responder", 2);
            connect_all(&mut world);
            let plain = subscribe(&mut world, responder, "svc.plain", None);
            let queued = subscribe(&mut world, responder, "svc.queued", Some("g"));
            let owner_sid = world.server.subscribe("svc.owner", None).unwrap();
            world.drain();
            world.run_for(Duration::from_millis(5));
            for subject in ["svc.plain", "svc.queued", "svc.owner"] {
                assert!(!no_responders(&mut world, requester, subject), "{context}");
            }
            let sessions_before = world.sum(|s| s.sessions);
            match gone {
                Unsubscribed | CountReached => {
                    let after = matches!(gone, CountReached).then_some(1);
                    for sid in [plain, queued] {
                        world.peers[responder]
                            .client
                            .unsubscribe(sid, after)
                            .unwrap();
                    }
                    world.drain();
                    flush(&mut world, responder);
                    if matches!(gone, CountReached) {
                        for subject in ["svc.plain", "svc.queued"] {
                            world.peers[requester]
                                .client
                                .publish(subject, None, None, b"last")
                                .unwrap();
                        }
                        world.drain();
                        world.run_until(Duration::from_secs(30), |w| {
                            [plain, queued].iter().all(|&sid| {
                                w.peers[responder]
                                    .events
                                    .contains(&ClientEvent::Unsubscribed(sid))
                            })
                        });
                    }
                }
                Drained => {
                    let now = world.now;
                    world.peers[responder]
                        .client
                        .drain(now, Duration::from_secs(10))
                        .unwrap();
                    world.drain();
                    world.run_until(Duration::from_secs(30), |w| {
                        w.sum(|s| s.sessions) < sessions_before
                    });
                }
                Closed => {
                    let now = world.now;
                    world.peers[responder].client.close(now);
                    world.drain();
                    world.run_until(Duration::from_secs(30), |w| {
                        w.sum(|s| s.sessions) < sessions_before
                    });
                }
                Vanished => {
                    world.vanish(responder);
                    world.run_until(Duration::from_secs(30), |w| {
                        w.sum(|s| s.sessions) < sessions_before
                    });
                }
                NameTakenOver => {
                    // Another instance, on another worker, with no subscriptions.
                    let heir = add_on(&mut world, "responder", 3);
                    world.run_until(Duration::from_secs(30), |w| {
                        w.connected(heir) && closed_replaced(w, "responder")
                    });
                }
                OwnerUnsubscribed => {
                    world.server.unsubscribe(owner_sid).unwrap();
                    world.drain();
                }
            }
            if !matches!(gone, OwnerUnsubscribed) {
                for subject in ["svc.plain", "svc.queued"] {
                    assert!(
                        no_responders(&mut world, requester, subject),
                        "{context}: {subject}"
                    );
                }
                assert!(
                    !no_responders(&mut world, requester, "svc.owner"),
                    "{context}"
                );
            } else {
                assert!(
                    no_responders(&mut world, requester, "svc.owner"),
                    "{context}"
                );
                assert!(
                    !no_responders(&mut world, requester, "svc.plain"),
                    "{context}"
                );
            }
        }
    }
}

#[test]
fn a_request_right_after_the_owner_subscribes_finds_it_from_another_worker() {
    for workers in [2, 4] {
        for seed in seeds(4) {
            let mut world =
                World::with_workers(seed, LinkConfig::lossy(2), quick_server(), workers);
            world.cross_delay = Duration::from_millis(40);
            let requester = add_on(&mut world, "requester", 1);
            connect_all(&mut world);
            world.server.subscribe("svc.owner", None).unwrap();
            world.drain();
            // What an adapter's subscribe call waits for before it returns.
            world.run_until(Duration::from_secs(5), |w| w.server.subscriptions_settled());
            assert!(
                !no_responders(&mut world, requester, "svc.owner"),
                "workers {workers} seed {seed}"
            );
        }
    }
}

#[test]
fn forward_error_correction_works_across_workers_and_forwarded_datagrams() {
    use kcpq_core::fec::{FecConfig, FecMode};
    const N: u32 = 300;
    for workers in WORKERS {
        for seed in seeds(3) {
            let mode = FecMode::Fixed { data: 4, parity: 2 };
            let mut config = quick_server();
            config.fec = FecConfig::with_mode(mode);
            let mut world = World::with_workers(seed, LinkConfig::lossy(10), config, workers);
            let with_fec = |name: &str| {
                let mut config = quick_client(name);
                config.fec = FecConfig::with_mode(mode);
                config
            };
            let publisher = add_on_with(&mut world, with_fec("pub"), 0);
            let subscriber = add_on_with(&mut world, with_fec("sub"), 1);
            connect_all(&mut world);
            let sid = subscribe(&mut world, subscriber, "fec.>", None);
            let mut recovered_before_the_move = 0;
            for n in 0..N {
                // Half-way, every address moves to the next worker's socket: the sessions'
                // datagrams, parity included, are forwarded to their owners from then on.
                if n == N / 2 {
                    world.worker_shift = 1;
                    recovered_before_the_move = world.sum(|s| s.fec.recovered);
                }
                world.peers[publisher]
                    .client
                    .publish("fec.data", None, None, &n.to_be_bytes())
                    .unwrap();
                world.drain();
                world.run_for(Duration::from_millis(15));
            }
            world.run_until(Duration::from_secs(60), |w| {
                messages_of(&w.peers[subscriber].events, sid).len() >= N as usize
            });
            world.run_for(Duration::from_secs(1));
            let context = format!("workers {workers} seed {seed}");
            assert_eq!(
                got(&world, subscriber, sid),
                (0..N).collect::<Vec<_>>(),
                "{context}"
            );
            let recovered = world.sum(|s| s.fec.recovered);
            assert!(recovered > recovered_before_the_move, "{context}");
            assert!(world.peers[subscriber].client.stats().fec.recovered > 0);
            for peer in [publisher, subscriber] {
                assert_eq!(reconnected(&world.peers[peer].events), 0, "{context}");
            }
            assert_eq!(world.sum(|s| s.drops.unknown_session), 0, "{context}");
            if workers > 1 {
                assert!(world.sum(|s| s.datagrams_forwarded) > 0, "{context}");
            }
        }
    }
}

#[test]
fn datagrams_forwarded_to_another_worker_are_bounded_like_messages() {
    for seed in seeds(3) {
        let mut config = quick_server();
        config.max_cross_bytes = 1;
        let mut world = World::with_workers(seed, LinkConfig::perfect(), config, 2);
        let client = add_on(&mut world, "mover", 0);
        connect_all(&mut world);
        // Every datagram now reaches the other worker's socket, and none fits the bound.
        world.worker_shift = 1;
        world.peers[client]
            .client
            .publish("x", None, None, b"lost on the way")
            .unwrap();
        world.drain();
        world.run_for(Duration::from_secs(2));
        let context = format!("seed {seed}");
        assert!(world.sum(|s| s.drops.cross_worker_full) > 0, "{context}");
        assert_eq!(world.sum(|s| s.datagrams_forwarded), 0, "{context}");
        assert_eq!(
            world.worker(1).stats().drops.unknown_session,
            0,
            "{context}"
        );
        // Back on its own worker's socket, the session goes on.
        world.worker_shift = 0;
        let sid = subscribe(&mut world, client, "y", None);
        assert!(sid > 0, "{context}");
    }
}
