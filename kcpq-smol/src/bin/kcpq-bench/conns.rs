//! conns: N idle connections with one subscription each; connect rate, RSS per connection,
//! then one message to every subscription.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_io::Timer;
use bytes::Bytes;
use kcpq_smol::{Client, Subscription};
use serde_json::{Value, json};

use crate::stats::{Snap, merge, percentiles_us, r1, r3, status_kb};
use crate::{BenchError, Ctx, next_until, subscribe};

type Opened = (Client, Subscription, u64);

fn per_conn(before: Option<u64>, after: Option<u64>, n: usize) -> Value {
    match (before, after) {
        (Some(a), Some(b)) if n > 0 => json!(r1((b as f64 - a as f64) * 1024.0 / n as f64)),
        _ => Value::Null,
    }
}

/// Opens `n` connections, `concurrency` at a time; each subscribes to `base.i`.
pub(crate) async fn conns(
    ctx: &Ctx,
    n: usize,
    concurrency: usize,
    settle: Duration,
    verify: u32,
) -> Result<Value, BenchError> {
    let base = ctx.subject("conns");
    let rss0 = ctx.pid().and_then(|p| status_kb(p, "VmRSS"));
    let crss0 = status_kb("self", "VmRSS");
    let s0 = Snap::take(ctx.pid());
    let deadline = Instant::now() + ctx.timeout;
    let t0 = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|w| {
            let (next, base) = (next.clone(), base.clone());
            let ctx = Ctx {
                server_pid: None,
                ..ctx.clone()
            };
            crate::spawn_on(w, async move {
                let mut results: Vec<Result<Opened, String>> = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    if Instant::now() > deadline {
                        results.push(Err("deadline".to_owned()));
                        continue;
                    }
                    let t = Instant::now();
                    let opened = async {
                        let client = ctx.connect_on(w).await?;
                        let sub = subscribe(&client, &format!("{base}.{i}"), 16, 16).await?;
                        Ok::<_, BenchError>((client, sub, t.elapsed().as_nanos() as u64))
                    };
                    results.push(opened.await.map_err(|e| e.to_string()));
                }
                results
            })
        })
        .collect();
    let mut opened = Vec::new();
    let mut errors: HashMap<String, u64> = HashMap::new();
    let mut latencies = Vec::new();
    for worker in workers {
        for result in worker.await {
            match result {
                Ok((client, sub, ns)) => {
                    latencies.push(ns);
                    opened.push((client, sub));
                }
                Err(e) => *errors.entry(e.chars().take(80).collect()).or_default() += 1,
            }
        }
    }
    let connect_s = t0.elapsed().as_secs_f64();
    let s1 = Snap::take(ctx.pid());
    Timer::after(settle).await;
    let rss1 = ctx.pid().and_then(|p| status_kb(p, "VmRSS"));
    let crss1 = status_kb("self", "VmRSS");
    let connected = opened.len();
    let (mut delivered, mut verify_s) = (Value::Null, Value::Null);
    if verify == 0 {
        drop(opened);
    } else if connected > 0 {
        let publisher = ctx.connect().await?;
        let started = Instant::now();
        let verify_deadline = started + Duration::from_secs(30);
        let got = Arc::new(AtomicU64::new(0));
        let mut clients = Vec::new();
        let mut waiters = Vec::new();
        for (client, mut sub) in opened {
            clients.push(client);
            let got = got.clone();
            waiters.push(crate::spawn(async move {
                if let Some(Some(_)) = next_until(&mut sub, verify_deadline).await {
                    got.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        for i in 0..n {
            let _ = publisher
                .publish(&format!("{base}.{i}"), Bytes::from_static(b"ping"))
                .await;
        }
        let _ = publisher.flush().await;
        for waiter in waiters {
            waiter.await;
        }
        delivered = json!(got.load(Ordering::Relaxed));
        verify_s = json!(r3(started.elapsed().as_secs_f64()));
        drop(clients);
    }
    // The clients were dropped without `close`: each driver, on this executor, sends its CLOSE
    // when it next runs (a dropping thread waits for that only when the driver runs elsewhere).
    // Give them a moment before the process exits, as a program whose executor outlives its
    // clients would.
    Timer::after(Duration::from_millis(100)).await;
    let mut out = json!({
        "test": "conns", "n": n, "concurrency": concurrency, "connected": connected,
        "errors": errors, "connect_all_s": r3(connect_s),
        "conns_per_s": r1(connected as f64 / connect_s),
        "connect_us": percentiles_us(&mut latencies),
        "server_rss_kb_before": rss0, "server_rss_kb_after": rss1,
        "server_bytes_per_conn": per_conn(rss0, rss1, connected),
        "client_rss_kb_before": crss0, "client_rss_kb_after": crss1,
        "client_bytes_per_conn": per_conn(crss0, crss1, connected),
        "server_varz_connections": Value::Null,
        "verify_delivered": delivered, "verify_s": verify_s,
        "usage_connect_phase": s0.usage(&s1),
    });
    merge(&mut out, ctx.common());
    Ok(out)
}
