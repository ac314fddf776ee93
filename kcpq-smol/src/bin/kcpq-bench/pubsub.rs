//! throughput, fanin and frames: one subject, many messages, sequence-checked.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kcpq_smol::Subscription;
use serde_json::{Value, json};

use crate::stats::{
    SeqCheck, Snap, le_u32, le_u64, merge, payload, percentiles_us, r1, r3, unix_ns,
};
use crate::{BenchError, Ctx, barrier, next_until, other_thread, sleep_until, spawn_on, subscribe};

/// What one subscriber counted.
struct Counted {
    received: u64,
    bytes: u64,
    last: Instant,
    seq: SeqCheck,
}

/// Counts messages until `expect` arrived, `idle` passed without one, or `deadline`.
async fn count(
    mut sub: Subscription,
    expect: u64,
    t0: Instant,
    deadline: Instant,
    idle: Duration,
    check_seq: bool,
) -> Counted {
    let mut c = Counted {
        received: 0,
        bytes: 0,
        last: t0,
        seq: SeqCheck::default(),
    };
    while c.received < expect {
        let idle_at = c.last.max(t0) + idle;
        match next_until(&mut sub, deadline.min(idle_at)).await {
            Some(Some(m)) => {
                c.last = Instant::now();
                c.received += 1;
                c.bytes += m.payload.len() as u64;
                if check_seq && let Some(seq) = le_u64(&m.payload, 0) {
                    c.seq.see(seq);
                }
            }
            Some(None) => break,
            None => {
                let now = Instant::now();
                if now >= deadline || now >= idle_at {
                    break;
                }
            }
        }
    }
    c
}

fn cpu_per_message(out: &mut Value, delivered: u64) {
    if let (Some(seconds), true) = (out["usage"]["server_cpu_s"].as_f64(), delivered > 0) {
        out["server_cpu_ns_per_delivered_msg"] = json!(r1(seconds * 1e9 / delivered as f64));
    }
}

/// 1 publisher → `nsubs` subscribers, `count` messages of `[seq u64][zeros]`.
pub(crate) async fn throughput(
    ctx: &Ctx,
    size: usize,
    count_: u64,
    nsubs: usize,
    idle: Duration,
) -> Result<Value, BenchError> {
    let subject = ctx.subject("tp");
    let capacity = (count_ as usize).saturating_add(1024);
    let mut clients = Vec::new();
    let mut subs = Vec::new();
    for k in 0..nsubs {
        let client = ctx.connect_on(other_thread(k)).await?;
        subs.push(subscribe(&client, &subject, capacity, size).await?);
        if !barrier(&client).await {
            return Err(BenchError::Barrier("subscriber"));
        }
        clients.push(client);
    }
    let publisher = ctx.connect().await?;
    let s0 = Snap::take(ctx.pid());
    let t0 = Instant::now();
    let deadline = t0 + ctx.timeout;
    let counters: Vec<_> = subs
        .into_iter()
        .enumerate()
        .map(|(k, sub)| {
            let counted = count(sub, count_, t0, deadline, idle, size >= 8);
            spawn_on(other_thread(k), counted)
        })
        .collect();
    let mut sent = 0u64;
    for i in 0..count_ {
        if i % 4096 == 0 && Instant::now() > deadline {
            break;
        }
        if publisher
            .publish(&subject, payload(size, &i.to_le_bytes()))
            .await
            .is_err()
        {
            break;
        }
        sent += 1;
    }
    let _ = publisher.flush().await;
    let pub_elapsed = t0.elapsed().as_secs_f64();
    let mut per_sub = Vec::new();
    let mut all = sent == count_;
    let mut min_rate = f64::INFINITY;
    let mut total = 0;
    for counter in counters {
        let c = counter.await;
        let elapsed = c.last.duration_since(t0).as_secs_f64().max(1e-9);
        all &= c.received == count_ && c.seq.out_of_order == 0;
        let rate = r1(c.received as f64 / elapsed);
        min_rate = min_rate.min(rate);
        total += c.received;
        per_sub.push(json!({"received": c.received, "msgs_per_s": rate,
            "MB_per_s": r1(c.bytes as f64 / elapsed / 1e6), "elapsed_s": r3(elapsed),
            "gaps": c.seq.gaps, "out_of_order": c.seq.out_of_order}));
    }
    let s1 = Snap::take(ctx.pid());
    let mut out = json!({
        "test": "throughput", "size": size, "count": count_, "subs": nsubs, "sent": sent,
        "pub_msgs_per_s": r1(sent as f64 / pub_elapsed),
        "pub_MB_per_s": r1(sent as f64 * size as f64 / pub_elapsed / 1e6),
        "sub_msgs_per_s_min": min_rate, "all_delivered": all, "per_sub": per_sub,
        "total_delivered": total, "usage": s0.usage(&s1),
    });
    cpu_per_message(&mut out, total);
    merge(&mut out, ctx.common());
    drop(clients);
    Ok(out)
}

/// `npubs` publishers of `count_` messages `[seq u64][pub id u32][zeros]` each → 1 subscriber.
pub(crate) async fn fanin(
    ctx: &Ctx,
    npubs: usize,
    size: usize,
    count_: u64,
    idle: Duration,
) -> Result<Value, BenchError> {
    let total = count_ * npubs as u64;
    let subject = ctx.subject("fanin");
    let sub_client = ctx.connect().await?;
    let mut sub = subscribe(
        &sub_client,
        &subject,
        (total as usize).saturating_add(1024),
        size,
    )
    .await?;
    if !barrier(&sub_client).await {
        return Err(BenchError::Barrier("subscriber"));
    }
    let mut publishers = Vec::new();
    for id in 0..npubs {
        publishers.push(ctx.connect_on(other_thread(id)).await?);
    }
    let s0 = Snap::take(ctx.pid());
    let t0 = Instant::now();
    let deadline = t0 + ctx.timeout;
    let receiver = crate::spawn(async move {
        let mut checks: Vec<SeqCheck> = (0..npubs).map(|_| SeqCheck::default()).collect();
        let (mut n, mut last) = (0u64, t0);
        while n < total {
            let idle_at = last + idle;
            match next_until(&mut sub, deadline.min(idle_at)).await {
                Some(Some(m)) => {
                    last = Instant::now();
                    n += 1;
                    let id = le_u32(&m.payload, 8).map(|id| id as usize);
                    if let (Some(seq), Some(check)) =
                        (le_u64(&m.payload, 0), id.and_then(|id| checks.get_mut(id)))
                    {
                        check.see(seq);
                    }
                }
                Some(None) => break,
                None => {
                    let now = Instant::now();
                    if now >= deadline || now >= idle_at {
                        break;
                    }
                }
            }
        }
        let gaps = checks.iter().map(|c| c.gaps).sum::<u64>();
        let ooo = checks.iter().map(|c| c.out_of_order).sum::<u64>();
        (n, gaps, ooo, last)
    });
    let tasks: Vec<_> = publishers
        .into_iter()
        .enumerate()
        .map(|(id, client)| {
            let subject = subject.clone();
            spawn_on(other_thread(id), async move {
                let mut header = [0u8; 12];
                header[8..].copy_from_slice(&(id as u32).to_le_bytes());
                let mut sent = 0u64;
                for i in 0..count_ {
                    if i % 4096 == 0 && Instant::now() > deadline {
                        break;
                    }
                    header[..8].copy_from_slice(&i.to_le_bytes());
                    if client
                        .publish(&subject, payload(size, &header))
                        .await
                        .is_err()
                    {
                        break;
                    }
                    sent += 1;
                }
                let _ = client.flush().await;
                (sent, t0.elapsed(), client)
            })
        })
        .collect();
    let (mut sent, mut pub_elapsed, mut keep) = (0u64, Duration::ZERO, Vec::new());
    for task in tasks {
        let (s, elapsed, client) = task.await;
        sent += s;
        pub_elapsed = pub_elapsed.max(elapsed);
        keep.push(client);
    }
    let (n, gaps, ooo, last) = receiver.await;
    let s1 = Snap::take(ctx.pid());
    let elapsed = last.duration_since(t0).as_secs_f64().max(1e-9);
    let mut out = json!({
        "test": "fanin", "pubs": npubs, "size": size, "count_per_pub": count_,
        "sent": sent, "received": n, "all_delivered": n == total && sent == total && ooo == 0,
        "gaps": gaps, "out_of_order": ooo,
        "delivered_msgs_per_s": r1(n as f64 / elapsed),
        "delivered_MB_per_s": r1(n as f64 * size as f64 / elapsed / 1e6),
        "pub_agg_msgs_per_s": r1(sent as f64 / pub_elapsed.as_secs_f64().max(1e-9)),
        "usage": s0.usage(&s1),
    });
    cpu_per_message(&mut out, n.max(1));
    merge(&mut out, ctx.common());
    drop((keep, sub_client));
    Ok(out)
}

/// Frames `[seq u64][send time u64 ns][zeros]` at a fixed rate to `nsubs` subscribers.
/// What a frames test sends and where its raw latencies go.
pub(crate) struct FrameRun {
    /// Frame size in bytes.
    pub(crate) size: usize,
    /// Frames per second.
    pub(crate) fps: f64,
    /// How long frames are sent.
    pub(crate) seconds: f64,
    /// Subscriber connections.
    pub(crate) subs: usize,
    /// How long subscribers wait after the last frame.
    pub(crate) grace: Duration,
    /// Where each subscriber's latencies are written (`PREFIX.i`), if anywhere.
    pub(crate) dump_latencies: Option<std::path::PathBuf>,
}

pub(crate) async fn frames(ctx: &Ctx, run: FrameRun) -> Result<Value, BenchError> {
    let FrameRun {
        size,
        fps,
        seconds,
        subs: nsubs,
        grace,
        dump_latencies,
    } = run;
    let total = (fps * seconds).round() as u64;
    let subject = ctx.subject("frames");
    let mut clients = Vec::new();
    let mut subs = Vec::new();
    for k in 0..nsubs {
        let client = ctx.connect_on(other_thread(k)).await?;
        subs.push(subscribe(&client, &subject, 65_536, size).await?);
        if !barrier(&client).await {
            return Err(BenchError::Barrier("subscriber"));
        }
        clients.push(client);
    }
    let publisher = ctx.connect().await?;
    let sent_total = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let hard_deadline = Instant::now()
        + ctx
            .timeout
            .max(Duration::from_secs_f64(seconds) + grace + Duration::from_secs(2));
    let receivers: Vec<_> = subs
        .into_iter()
        .enumerate()
        .map(|(k, mut sub)| {
            let (sent_total, done) = (sent_total.clone(), done.clone());
            spawn_on(other_thread(k), async move {
                let mut latencies = Vec::with_capacity(total as usize);
                let (mut n, mut seq_check, mut done_at) = (0u64, SeqCheck::default(), None);
                loop {
                    let now = Instant::now();
                    if now > hard_deadline {
                        break;
                    }
                    if done.load(Ordering::Acquire) {
                        let at = *done_at.get_or_insert(now);
                        if n >= sent_total.load(Ordering::Acquire) || now > at + grace {
                            break;
                        }
                    }
                    match next_until(&mut sub, now + Duration::from_millis(100)).await {
                        Some(Some(m)) => {
                            let received = unix_ns();
                            let (Some(seq), Some(sent_at)) =
                                (le_u64(&m.payload, 0), le_u64(&m.payload, 8))
                            else {
                                continue;
                            };
                            n += 1;
                            latencies.push(received.saturating_sub(sent_at));
                            seq_check.see(seq);
                        }
                        Some(None) => break,
                        None => {}
                    }
                }
                (n, seq_check, latencies)
            })
        })
        .collect();
    let s0 = Snap::take(ctx.pid());
    let period = Duration::from_secs_f64(1.0 / fps);
    let t0 = Instant::now();
    let (mut max_late, mut sent) = (Duration::ZERO, 0u64);
    for i in 0..total {
        let scheduled = t0 + period.mul_f64(i as f64);
        sleep_until(scheduled).await;
        let now = Instant::now();
        if now > hard_deadline {
            break;
        }
        max_late = max_late.max(now.saturating_duration_since(scheduled));
        let mut header = [0u8; 16];
        header[..8].copy_from_slice(&i.to_le_bytes());
        header[8..].copy_from_slice(&unix_ns().to_le_bytes());
        if publisher
            .publish(&subject, payload(size, &header))
            .await
            .is_err()
        {
            break;
        }
        sent += 1;
        sent_total.store(sent, Ordering::Release);
    }
    let _ = publisher.flush().await;
    let pub_elapsed = t0.elapsed().as_secs_f64();
    done.store(true, Ordering::Release);
    let mut per_sub = Vec::new();
    let mut all = true;
    let (mut fps_min, mut p50_max, mut p99_max, mut dropped_total) =
        (f64::INFINITY, 0.0f64, 0.0f64, 0);
    for receiver in receivers {
        let (n, seq_check, mut latencies) = receiver.await;
        if let Some(prefix) = &dump_latencies {
            let path = format!("{}.{}", prefix.display(), per_sub.len());
            let text: Vec<String> = latencies.iter().map(|ns| (ns / 1000).to_string()).collect();
            std::fs::write(&path, text.join("\n") + "\n").map_err(|e| BenchError::Dump(path, e))?;
        }
        all &= n == sent && seq_check.out_of_order == 0;
        let latency = percentiles_us(&mut latencies);
        let fps_sub = r1(n as f64 / pub_elapsed);
        fps_min = fps_min.min(fps_sub);
        p50_max = p50_max.max(latency["p50"].as_f64().unwrap_or(f64::NAN));
        p99_max = p99_max.max(latency["p99"].as_f64().unwrap_or(f64::NAN));
        dropped_total += sent.saturating_sub(n);
        per_sub.push(
            json!({"received": n, "fps": fps_sub, "dropped": sent.saturating_sub(n),
            "gaps": seq_check.gaps, "out_of_order": seq_check.out_of_order, "latency_us": latency}),
        );
    }
    let s1 = Snap::take(ctx.pid());
    let mut out = json!({
        "test": "frames", "size": size, "fps_target": fps, "seconds": seconds, "subs": nsubs,
        "sent": sent, "pub_fps": r1(sent as f64 / pub_elapsed),
        "pub_max_late_ms": r3(max_late.as_secs_f64() * 1e3),
        "fps_min": fps_min, "dropped_total": dropped_total,
        "lat_p50_us_max": p50_max, "lat_p99_us_max": p99_max,
        "all_delivered": all, "per_sub": per_sub, "usage": s0.usage(&s1),
    });
    merge(&mut out, ctx.common());
    drop((clients, publisher));
    Ok(out)
}
