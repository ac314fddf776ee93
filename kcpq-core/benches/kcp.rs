//! Criterion benchmarks for the `kcp` module: bytes per second through a pair of endpoints
//! (both sides' CPU, one thread) over the simulated in-memory link, perfect or with 1 % loss,
//! for 64 B, 1 KiB and 64 KiB writes.
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

#[path = "../tests/kcp_support/mod.rs"]
mod kcp_support;

use kcp_support::{LinkConfig, Pair};
use kcpq_core::Instant;
use kcpq_core::kcp::{Kcp, KcpConfig};

const TOTAL: usize = 2 << 20;

/// Moves `TOTAL` bytes from `a` to `b` in writes of `write_len` bytes.
fn run(link: &LinkConfig, write_len: usize, payload: &[u8]) -> usize {
    let config = KcpConfig::fast();
    let mut pair = Pair::new(
        Kcp::new(9, config.clone(), Instant::ZERO),
        Kcp::new(9, config, Instant::ZERO),
        link.clone(),
        1,
    );
    let (mut written, mut received) = (0, 0);
    pair.run(10_000_000, |p| {
        while written < TOTAL && p.a.send_capacity() >= write_len {
            p.a.write(&payload[..write_len]).expect("capacity checked");
            written += write_len;
        }
        received += p.b.read_chunks(|chunk| chunk.len());
        received >= TOTAL
    })
    .expect("transfer completes");
    received
}

fn benches(c: &mut Criterion) {
    let payload = vec![0x5A; 64 * 1024];
    for (name, link) in [
        ("perfect", LinkConfig::perfect()),
        ("loss_1pct", LinkConfig::lossy(10, 0, 1, 0)),
    ] {
        let mut group = c.benchmark_group(format!("kcp_pair_{name}"));
        group.throughput(Throughput::Bytes(TOTAL as u64));
        group.sample_size(10);
        for write_len in [64, 1024, 64 * 1024] {
            group.bench_with_input(
                BenchmarkId::from_parameter(write_len),
                &write_len,
                |b, &w| {
                    b.iter(|| run(&link, w, &payload));
                },
            );
        }
        group.finish();
    }
}

criterion_group!(group, benches);
criterion_main!(group);
