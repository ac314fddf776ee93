//! Criterion benchmarks for the `subject` module: matches per second of the subscription index
//! (cache hits, cache misses, cache off) next to a naive linear scan, for exact, `*` and `>`
//! filters at 10 000 and 100 000 subscriptions. Every published subject reaches exactly one
//! subscriber. Also validation per published subject (done by the client and by the server for
//! every publish), ASCII and not. And matching with queue groups.
//!
//! `cargo bench -p kcpq-core --bench subject -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kcpq_core::subject::{
    IndexConfig, MatchResult, SubjectLimits, SubscriptionIndex, filter_matches, validate_filter,
    validate_subject,
};

#[derive(Clone, Copy)]
enum Kind {
    Exact,
    Star,
    Full,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Exact => "exact",
            Kind::Star => "star",
            Kind::Full => "full",
        }
    }

    fn filter(self, i: usize) -> String {
        match self {
            Kind::Exact => format!("bench.{i}.data"),
            Kind::Star => format!("bench.{i}.*"),
            Kind::Full => format!("bench.{i}.>"),
        }
    }

    fn subject(self, i: usize) -> String {
        match self {
            Kind::Exact | Kind::Star => format!("bench.{i}.data"),
            Kind::Full => format!("bench.{i}.data.x"),
        }
    }
}

/// `count` subjects spread over the `n` subscriptions (a stride coprime with `n`).
fn subjects(kind: Kind, n: usize, count: usize) -> Vec<String> {
    (0..count).map(|j| kind.subject((j * 7919) % n)).collect()
}

fn index(kind: Kind, n: usize, cache_capacity: usize) -> SubscriptionIndex<u32> {
    let mut index =
        SubscriptionIndex::new(IndexConfig::default().with_cache_capacity(cache_capacity));
    for i in 0..n {
        index.insert(&kind.filter(i), None, i as u32).unwrap();
    }
    index
}

/// The baseline: every filter tested against every subject.
fn naive_scan(filters: &[(String, u32)], subject: &str, out: &mut Vec<u32>) {
    out.clear();
    for (filter, value) in filters {
        if filter_matches(filter, subject) {
            out.push(*value);
        }
    }
}

fn bench_index(c: &mut Criterion) {
    const BATCH: usize = 1000;
    for n in [10_000, 100_000] {
        for kind in [Kind::Exact, Kind::Star, Kind::Full] {
            let mut group = c.benchmark_group(format!("subject/{}/{n}", kind.name()));
            group.throughput(Throughput::Elements(BATCH as u64));
            // Index variants: (name, cache capacity, distinct subjects published).
            for (variant, capacity, distinct) in [
                ("cache_hit", 1024, 512),
                ("cache_miss", 1024, n),
                ("no_cache", 0, n),
            ] {
                let mut ix = index(kind, n, capacity);
                let subjects = subjects(kind, n, distinct);
                let mut out = MatchResult::with_capacity(4, 4);
                let mut next = 0;
                group.bench_function(BenchmarkId::from_parameter(variant), |b| {
                    b.iter(|| {
                        for _ in 0..BATCH {
                            ix.match_into(black_box(&subjects[next]), &mut out);
                            assert_eq!(out.len(), 1);
                            next = (next + 1) % subjects.len();
                        }
                    })
                });
            }

            // The naive scan costs O(n) per match: smaller batches keep iterations short.
            let naive_batch = if n > 10_000 { 10 } else { 100 };
            group.throughput(Throughput::Elements(naive_batch as u64));
            let filters: Vec<(String, u32)> = (0..n).map(|i| (kind.filter(i), i as u32)).collect();
            let subjects = subjects(kind, n, n);
            let mut out = Vec::with_capacity(4);
            let mut next = 0;
            group.bench_function(BenchmarkId::from_parameter("naive_scan"), |b| {
                b.iter(|| {
                    for _ in 0..naive_batch {
                        naive_scan(&filters, black_box(&subjects[next]), &mut out);
                        assert_eq!(out.len(), 1);
                        next = (next + 1) % subjects.len();
                    }
                })
            });
            group.finish();
        }
    }
}

fn bench_validate(c: &mut Criterion) {
    let limits = SubjectLimits::default();
    let mut group = c.benchmark_group("validate");
    for (name, subject) in [
        ("short", "orders.new"),
        ("typical", "kcpqbench.throughput.17"),
        ("inbox", "_INBOX.Zm9vYmFyYmF6cXV4cXV1eA.17"),
        ("non_ascii", "capteurs.température.salle"),
    ] {
        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::new("subject", name), |b| {
            b.iter(|| validate_subject(black_box(subject), &limits).is_ok())
        });
    }
    group.bench_function(BenchmarkId::new("filter", "wildcards"), |b| {
        b.iter(|| validate_filter(black_box("telemetry.*.temp.>"), &limits).is_ok())
    });
    group.finish();
}

/// Queue groups on the matching path: a subject that reaches 4 group names of 8 members each,
/// one filter per name (`q1`) or each name spread over two overlapping filters (`q2`, whose
/// members NATS and KCPQ merge per name), with the match cache on (hits rotate the choice).
fn bench_queue_groups(c: &mut Criterion) {
    let mut group = c.benchmark_group("queue");
    group.throughput(Throughput::Elements(1));
    for filters_per_name in [1usize, 2] {
        let mut index = SubscriptionIndex::new(IndexConfig::default());
        let mut value = 0u32;
        for name in ["a", "b", "c", "d"] {
            for member in 0..8 {
                let filter = if filters_per_name == 2 && member % 2 == 1 {
                    "jobs.>"
                } else {
                    "jobs.*"
                };
                index.insert(filter, Some(name), value).unwrap();
                value += 1;
            }
        }
        let mut out = MatchResult::new();
        group.bench_function(format!("q{filters_per_name}"), |b| {
            b.iter(|| {
                index.match_into(black_box("jobs.run"), &mut out);
                black_box(out.len())
            })
        });
    }
    group.finish();
}

criterion_group!(group, bench_index, bench_validate, bench_queue_groups);
criterion_main!(group);
