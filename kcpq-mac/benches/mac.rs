//! Tags of datagram-sized messages: one at a time against four in lanes, and the `hmac` crate.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hmac::{Hmac, KeyInit, Mac};
use kcpq_mac::{Engine, HmacKey, TAG_LEN, TagJob, tag_all_with};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    for size in [200usize, 1400] {
        let messages: Vec<Vec<u8>> = (0..16u8).map(|i| vec![i; size]).collect();
        let key = HmacKey::new(&[9u8; 32]);
        let mut group = c.benchmark_group(format!("16 tags of {size} B"));
        group.throughput(Throughput::Bytes((16 * size) as u64));
        group.bench_function("hmac crate", |b| {
            let mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&[9u8; 32]).unwrap();
            b.iter(|| {
                for m in &messages {
                    let mut mac = mac.clone();
                    mac.update(m);
                    black_box(mac.finalize());
                }
            })
        });
        group.bench_function("one at a time", |b| {
            b.iter(|| {
                for m in &messages {
                    black_box(key.tag(m));
                }
            })
        });
        for engine in [Engine::ShaLanes, Engine::Wide] {
            if !engine.available() {
                continue;
            }
            group.bench_function(format!("{engine:?}"), |b| {
                let jobs: Vec<TagJob<'_>> = messages
                    .iter()
                    .map(|m| TagJob {
                        key: &key,
                        message: m,
                    })
                    .collect();
                let mut tags = [[0u8; TAG_LEN]; 16];
                b.iter(|| {
                    tag_all_with(engine, black_box(&jobs), &mut tags);
                    black_box(&tags);
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
