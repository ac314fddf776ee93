//! latency (ping-pong through the server) and udplat (raw UDP echo, the floor).

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use async_io::{Async, Timer};
use futures_lite::{StreamExt, future};
use serde_json::{Value, json};

use crate::stats::{Snap, le_u64, merge, payload, percentiles_us};
use crate::{BenchError, Ctx, Pacer, barrier, next_until, other_thread, spawn_on, subscribe};

/// Pinger (SUB pong, PUB ping) and echo (SUB ping, PUB pong) connections; one ping outstanding.
pub(crate) async fn latency(
    ctx: &Ctx,
    size: usize,
    count: u64,
    rate: f64,
    warmup: u64,
) -> Result<Value, BenchError> {
    let ping = ctx.subject("lat.ping");
    let pong = ctx.subject("lat.pong");
    let echo = ctx.connect_on(other_thread(0)).await?;
    let mut echo_sub = subscribe(&echo, &ping, 65_536, size).await?;
    let pinger = ctx.connect().await?;
    let mut pong_sub = subscribe(&pinger, &pong, 65_536, size).await?;
    if !(barrier(&echo).await && barrier(&pinger).await) {
        return Err(BenchError::Barrier("latency"));
    }
    let echo_task = {
        let (echo, pong) = (echo.clone(), pong.clone());
        spawn_on(other_thread(0), async move {
            while let Some(m) = echo_sub.next().await {
                if echo.publish(&pong, m.payload).await.is_err() {
                    break;
                }
            }
        })
    };
    let s0 = Snap::take(ctx.pid());
    let deadline = Instant::now() + ctx.timeout;
    let mut pacer = Pacer::new(rate);
    let mut rtts = Vec::with_capacity(count as usize);
    let (mut lost, mut stale, mut sent) = (0u64, 0u64, 0u64);
    for i in 0..warmup + count {
        pacer.tick().await;
        if Instant::now() > deadline {
            break;
        }
        let body = payload(size, &i.to_le_bytes());
        let t = Instant::now();
        pinger.publish(&ping, body).await?;
        sent += 1;
        loop {
            match next_until(&mut pong_sub, t + Duration::from_secs(1)).await {
                Some(Some(m)) => {
                    let rtt = t.elapsed();
                    if le_u64(&m.payload, 0) == Some(i) {
                        if i >= warmup {
                            rtts.push(rtt.as_nanos() as u64);
                        }
                        break;
                    }
                    stale += 1;
                }
                _ => {
                    lost += 1;
                    break;
                }
            }
        }
    }
    let s1 = Snap::take(ctx.pid());
    drop(echo_task);
    let mut out = json!({
        "test": "latency", "size": size, "count": count, "rate": rate, "warmup": warmup,
        "sent": sent, "lost": lost, "stale_replies": stale,
        "rtt_us": percentiles_us(&mut rtts), "usage": s0.usage(&s1),
    });
    merge(&mut out, ctx.common());
    Ok(out)
}

/// The same loop over two plain UDP sockets on 127.0.0.1, with an echo task between them. With
/// `via` (a `udprelay` process), each datagram crosses the relay on its way, so a round trip has
/// the four process-to-process hops of a ping-pong through a broker and none of its work.
pub(crate) async fn udplat(
    size: usize,
    count: u64,
    rate: f64,
    warmup: u64,
    via: Option<SocketAddr>,
) -> Result<Value, BenchError> {
    let echo = Async::<UdpSocket>::bind((Ipv4Addr::LOCALHOST, 0))?;
    let pinger = Async::<UdpSocket>::bind((Ipv4Addr::LOCALHOST, 0))?;
    match via {
        Some(relay) => {
            register_with_relay(&echo, relay).await?;
            pinger.get_ref().connect(relay)?;
        }
        None => pinger.get_ref().connect(echo.get_ref().local_addr()?)?,
    }
    let echo_task = crate::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        while let Ok((n, from)) = echo.recv_from(&mut buf).await {
            if echo.send_to(&buf[..n], from).await.is_err() {
                break;
            }
        }
    });
    let s0 = Snap::take(None);
    let mut pacer = Pacer::new(rate);
    let mut rtts = Vec::with_capacity(count as usize);
    let mut lost = 0u64;
    let mut buf = vec![0u8; 65_536];
    for i in 0..warmup + count {
        pacer.tick().await;
        let body = payload(size, &i.to_le_bytes());
        let t = Instant::now();
        pinger.send(&body).await?;
        loop {
            let deadline = t + Duration::from_secs(1);
            let received = future::or(async { Some(pinger.recv(&mut buf).await) }, async {
                Timer::at(deadline).await;
                None
            })
            .await;
            match received {
                Some(Ok(n)) if le_u64(&buf[..n], 0) == Some(i) => {
                    if i >= warmup {
                        rtts.push(t.elapsed().as_nanos() as u64);
                    }
                    break;
                }
                Some(Ok(_)) => {}
                _ => {
                    lost += 1;
                    break;
                }
            }
        }
    }
    let s1 = Snap::take(None);
    drop(echo_task);
    Ok(
        json!({"test": "udplat", "size": size, "count": count, "rate": rate, "lost": lost,
              "via_relay": via.map(|relay| relay.to_string()),
              "rtt_us": percentiles_us(&mut rtts), "usage": s0.usage(&s1)}),
    )
}

/// Makes `echo` the relay's first peer: an empty datagram, answered by an empty one.
async fn register_with_relay(echo: &Async<UdpSocket>, relay: SocketAddr) -> Result<(), BenchError> {
    let mut buf = [0u8; 64];
    for _ in 0..10 {
        echo.send_to(&[], relay).await?;
        let answer = future::or(async { Some(echo.recv_from(&mut buf).await) }, async {
            Timer::after(Duration::from_millis(200)).await;
            None
        })
        .await;
        if let Some(Ok((0, from))) = answer
            && from == relay
        {
            return Ok(());
        }
    }
    Err(BenchError::Relay(relay))
}

/// The least a broker can do: forward each datagram between two peers on blocking system calls,
/// one thread, no other work. An empty datagram makes its sender the first peer (and is
/// answered with an empty one); the next other sender becomes the second. Runs until killed. A
/// datagram the system refuses to send is lost, as on a network: the pinger counts it.
pub(crate) fn udprelay(listen: SocketAddr) -> Result<Value, BenchError> {
    let socket = UdpSocket::bind(listen)?;
    eprintln!("udprelay listening on {}", socket.local_addr()?);
    let mut buf = vec![0u8; 65_536];
    let (mut first, mut second): (Option<SocketAddr>, Option<SocketAddr>) = (None, None);
    loop {
        let (n, from) = socket.recv_from(&mut buf)?;
        if n == 0 {
            (first, second) = (Some(from), None);
            let _ = socket.send_to(&[], from);
            continue;
        }
        let Some(a) = first else { continue };
        if from != a && second.is_none() {
            second = Some(from);
        }
        let to = if from == a {
            second
        } else if Some(from) == second {
            Some(a)
        } else {
            None
        };
        if let Some(to) = to {
            let _ = socket.send_to(&buf[..n], to);
        }
    }
}
