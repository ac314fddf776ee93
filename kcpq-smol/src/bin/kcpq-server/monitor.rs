//! The monitoring endpoint: a minimal HTTP/1.1 server on async-io answering GET /healthz,
//! /varz (JSON stats), /connz (JSON sessions) and /metrics (Prometheus text). One request per
//! connection, bounded request size and read time.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use kcpq_smol::core::kcp::KcpStats;
use kcpq_smol::core::server::ServerStats;
use kcpq_smol::{ServerHandle, SessionInfo, Spawner, with_timeout};
use serde_json::json;
use smol::net::{TcpListener, TcpStream};

/// Largest request head read.
const MAX_REQUEST: usize = 8 * 1024;
/// Time a client has to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves the monitor on `listener` until the process ends, each connection on a task of
/// `spawner`.
pub(crate) async fn serve(
    listener: TcpListener,
    server: ServerHandle,
    started: SystemTime,
    spawner: Spawner,
) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                log::warn!("monitor: accept failed: {e}");
                continue;
            }
        };
        let server = server.clone();
        spawner
            .spawn(async move {
                if let Err(e) = answer(stream, &server, started).await {
                    log::debug!("monitor: {e}");
                }
            })
            .detach();
    }
}

async fn answer(
    mut stream: TcpStream,
    server: &ServerHandle,
    started: SystemTime,
) -> std::io::Result<()> {
    let path = match with_timeout(READ_TIMEOUT, read_path(&mut stream)).await {
        Ok(Ok(path)) => path,
        Ok(Err(e)) => return Err(e),
        Err(_) => return Ok(()),
    };
    let (status, content_type, body) = route(&path, server, started).await;
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.flush().await
}

/// Reads the request head and returns the path of a GET (without its query string).
async fn read_path(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_REQUEST {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    let mut words = text.lines().next().unwrap_or("").split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    if method != "GET" {
        return Ok(String::new());
    }
    Ok(target.split('?').next().unwrap_or("").to_owned())
}

async fn route(
    path: &str,
    server: &ServerHandle,
    started: SystemTime,
) -> (&'static str, &'static str, String) {
    const JSON: &str = "application/json";
    const TEXT: &str = "text/plain; charset=utf-8";
    const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";
    let unavailable = (
        "503 Service Unavailable",
        TEXT,
        "server stopped\n".to_owned(),
    );
    match path {
        "/healthz" => ("200 OK", JSON, json!({"status": "ok"}).to_string()),
        "/varz" => match server.stats().await {
            Ok(stats) => {
                let body = varz(&stats, server.local_addr(), started, server.workers());
                ("200 OK", JSON, body)
            }
            Err(_) => unavailable,
        },
        "/connz" => match server.sessions().await {
            Ok(clients) => ("200 OK", JSON, connz(&clients)),
            Err(_) => unavailable,
        },
        "/metrics" => match server.worker_stats().await {
            Ok(workers) => ("200 OK", PROMETHEUS, metrics(&workers)),
            Err(_) => unavailable,
        },
        "" => ("405 Method Not Allowed", TEXT, "only GET\n".to_owned()),
        _ => (
            "404 Not Found",
            TEXT,
            "try /healthz, /varz, /connz or /metrics\n".to_owned(),
        ),
    }
}

fn unix_secs(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Every counter, by its name in /varz and /metrics.
fn counters(stats: &ServerStats) -> Vec<(&'static str, u64, &'static str)> {
    let d = &stats.drops;
    vec![
        ("connections", stats.sessions, "Sessions open now."),
        (
            "total_connections",
            stats.sessions_opened,
            "Sessions opened since start.",
        ),
        (
            "closed_connections",
            stats.sessions_closed,
            "Sessions closed since start.",
        ),
        (
            "silent_connections",
            stats.sessions_silent,
            "Sessions ended because their client fell silent (gone without a CLOSE).",
        ),
        (
            "replaced_connections",
            stats.sessions_replaced,
            "Sessions whose client name a new client instance took over.",
        ),
        (
            "evicted_connections",
            stats.sessions_evicted,
            "Silent sessions evicted for a new client at the session limit.",
        ),
        (
            "subscriptions",
            stats.subscriptions,
            "Subscriptions held now.",
        ),
        ("in_msgs", stats.msgs_in, "Messages published by clients."),
        (
            "in_bytes",
            stats.bytes_in,
            "Payload bytes published by clients.",
        ),
        (
            "out_msgs",
            stats.msgs_out,
            "Messages delivered to subscriptions.",
        ),
        (
            "out_bytes",
            stats.bytes_out,
            "Payload bytes delivered to subscriptions.",
        ),
        ("in_datagrams", stats.datagrams_in, "Datagrams received."),
        ("out_datagrams", stats.datagrams_out, "Datagrams sent."),
        (
            "in_wire_bytes",
            stats.wire_bytes_in,
            "Bytes of every datagram received (UDP payloads, handshakes and ACKs included).",
        ),
        (
            "out_wire_bytes",
            stats.wire_bytes_out,
            "Bytes of every datagram sent (UDP payloads, ACKs and retransmissions included).",
        ),
        (
            "slow_consumers",
            d.slow_consumer,
            "Messages dropped for slow consumers.",
        ),
        (
            "handshake_failures",
            stats.handshake_failures,
            "Handshakes that did not complete.",
        ),
        (
            "no_responders",
            stats.no_responders,
            "Requests answered with no responders.",
        ),
        (
            "cut_through_msgs",
            stats.cut_through,
            "Large messages forwarded cut-through, as their bytes arrived.",
        ),
        (
            "cut_through_aborted",
            stats.cut_through_aborted,
            "Cut-through messages aborted (their publisher stalled or left mid-message).",
        ),
        (
            "fec_sessions",
            stats.fec.sessions,
            "Sessions using forward error correction now.",
        ),
        (
            "fec_parity_sent",
            stats.fec.parity_sent,
            "FEC parity shards sent.",
        ),
        (
            "fec_recovered",
            stats.fec.recovered,
            "Lost datagrams rebuilt from FEC parity (no retransmission needed).",
        ),
        (
            "fec_unrecoverable",
            stats.fec.unrecoverable,
            "Lost datagrams in FEC-protected groups too damaged to rebuild (KCP retransmitted).",
        ),
        (
            "fec_decoder_bytes",
            stats.fec.decoder_bytes,
            "Bytes all sessions' FEC decoders hold now (bounded by the server).",
        ),
        (
            "fec_overhead_bytes",
            stats.fec.overhead_bytes,
            "Bytes FEC added on the wire: shard headers and parity datagrams.",
        ),
        (
            "drops_malformed_datagram",
            d.malformed_datagram,
            "Malformed datagrams dropped.",
        ),
        (
            "drops_unknown_session",
            d.unknown_session,
            "Datagrams for unknown sessions.",
        ),
        (
            "drops_bad_tag",
            d.bad_tag,
            "Datagrams failing authentication.",
        ),
        (
            "drops_duplicate",
            d.duplicate,
            "Replayed or duplicated datagrams.",
        ),
        (
            "drops_too_old",
            d.too_old,
            "Datagrams older than the replay window.",
        ),
        (
            "drops_protocol_violation",
            d.protocol_violation,
            "Frames breaking the protocol.",
        ),
        (
            "drops_reply_queue_full",
            d.reply_queue_full,
            "Handshake replies dropped.",
        ),
        ("drops_events", d.events, "Server events dropped."),
        (
            "drops_session_limit",
            d.session_limit,
            "Sessions refused at the limit.",
        ),
        (
            "drops_cross_worker_full",
            d.cross_worker_full,
            "Messages not passed to another worker that was not keeping up.",
        ),
        (
            "drops_queue_member_gone",
            d.queue_member_gone,
            "Queue-group messages whose group had no member left on the worker they reached.",
        ),
        (
            "cross_worker_msgs",
            stats.cross_out,
            "Messages passed between the server's workers (interest, messages, datagrams).",
        ),
        (
            "datagrams_forwarded",
            stats.datagrams_forwarded,
            "Datagrams that reached another worker's socket than their session's, passed on.",
        ),
        (
            "drops_server_pending_full",
            d.server_pending_full,
            "Messages not queued because all subscription queues held max_pending_bytes.",
        ),
        (
            "drops_unsubscribed",
            d.unsubscribed,
            "Messages still queued for a subscription when its session ended.",
        ),
        (
            "drops_draining",
            d.draining,
            "Publishes ignored and sessions refused while draining or shutting down.",
        ),
        (
            "pending_bytes",
            stats.pending_bytes,
            "Bytes waiting in subscription queues now.",
        ),
    ]
}

fn varz(stats: &ServerStats, addr: SocketAddr, started: SystemTime, workers: usize) -> String {
    let mut object = serde_json::Map::new();
    object.insert("version".into(), json!(env!("CARGO_PKG_VERSION")));
    object.insert("workers".into(), json!(workers));
    object.insert("server_addr".into(), json!(addr.to_string()));
    object.insert("start".into(), json!(unix_secs(started)));
    let uptime = SystemTime::now()
        .duration_since(started)
        .unwrap_or_default();
    object.insert("uptime_secs".into(), json!(uptime.as_secs_f64()));
    for (name, value, _) in counters(stats) {
        object.insert(name.into(), json!(value));
    }
    serde_json::Value::Object(object).to_string()
}

fn connz(clients: &[SessionInfo]) -> String {
    let now = SystemTime::now();
    let connections: Vec<_> = clients
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "addr": c.addr.to_string(),
                "worker": c.worker,
                "start": unix_secs(c.connected_since),
                "uptime_secs": now.duration_since(c.connected_since).unwrap_or_default().as_secs_f64(),
                "last_activity": unix_secs(c.last_heard),
                "idle_secs": now.duration_since(c.last_heard).unwrap_or_default().as_secs_f64(),
                "rtt_ms": c.rtt.as_secs_f64() * 1000.0,
                "subscriptions": c.subscriptions,
                "in_flight_segments": c.transport.in_flight_segments,
                "unsent_bytes": c.transport.unsent_bytes,
                "remote_window": c.transport.remote_window,
                "rto_ms": c.transport.rto.as_secs_f64() * 1000.0,
                "pending_msgs": c.transport.queued_msgs,
                "pending_bytes": c.transport.queued_bytes,
                "kcp": kcp_json(&c.transport.kcp),
            })
        })
        .collect();
    json!({"num_connections": clients.len(), "connections": connections}).to_string()
}

/// One session's KCP counters, named as in `KcpStats`.
fn kcp_json(k: &KcpStats) -> serde_json::Value {
    json!({
        "datagrams_in": k.datagrams_in,
        "datagrams_out": k.datagrams_out,
        "bytes_in": k.bytes_in,
        "bytes_out": k.bytes_out,
        "data_segments_out": k.data_segments_out,
        "retransmits_timeout": k.retransmits_timeout,
        "retransmits_fast": k.retransmits_fast,
        "timeouts_held": k.timeouts_held,
        "acks_in": k.acks_in,
        "acks_out": k.acks_out,
        "window_probes_out": k.window_probes_out,
        "window_updates_out": k.window_updates_out,
        "duplicate_segments": k.duplicate_segments,
        "dropped_segments": k.drops.total(),
    })
}

/// A per-worker metric: name, Prometheus type, help, and how to read it.
type PerWorker = (
    &'static str,
    &'static str,
    &'static str,
    fn(&ServerStats) -> u64,
);

/// The server's counters (summed over workers), then per worker with a `worker` label those
/// that show how the load spreads: sessions, messages in and out.
fn metrics(workers: &[ServerStats]) -> String {
    let mut stats = ServerStats::default();
    for worker in workers {
        stats += worker.clone();
    }
    let mut out = String::new();
    let per_worker: [PerWorker; 3] = [
        (
            "worker_connections",
            "gauge",
            "Sessions open now, per worker.",
            |s| s.sessions,
        ),
        (
            "worker_msgs_in_total",
            "counter",
            "Messages published, per worker.",
            |s| s.msgs_in,
        ),
        (
            "worker_msgs_out_total",
            "counter",
            "Messages delivered, per worker.",
            |s| s.msgs_out,
        ),
    ];
    for (name, kind, help, value) in per_worker {
        let _ = writeln!(out, "# HELP kcpq_{name} {help}");
        let _ = writeln!(out, "# TYPE kcpq_{name} {kind}");
        for (i, worker) in workers.iter().enumerate() {
            let _ = writeln!(out, "kcpq_{name}{{worker=\"{i}\"}} {}", value(worker));
        }
    }
    for (name, value, help) in counters(&stats) {
        let gauge = matches!(name, "connections" | "subscriptions" | "pending_bytes");
        let (kind, suffix) = if gauge {
            ("gauge", "")
        } else {
            ("counter", "_total")
        };
        let _ = writeln!(out, "# HELP kcpq_{name}{suffix} {help}");
        let _ = writeln!(out, "# TYPE kcpq_{name}{suffix} {kind}");
        let _ = writeln!(out, "kcpq_{name}{suffix} {value}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varz_and_metrics_carry_every_counter_once() {
        let stats = ServerStats::default();
        let names: Vec<&str> = counters(&stats).iter().map(|(n, _, _)| *n).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "a counter name is used twice");
        let addr = SocketAddr::from(([127, 0, 0, 1], 4000));
        let varz: serde_json::Value =
            serde_json::from_str(&varz(&stats, addr, SystemTime::now(), 2)).expect("valid JSON");
        let metrics = metrics(&[stats.clone(), stats.clone()]);
        for name in [
            "connections",
            "silent_connections",
            "replaced_connections",
            "evicted_connections",
            "pending_bytes",
            "drops_server_pending_full",
            "in_wire_bytes",
            "out_wire_bytes",
        ] {
            assert_eq!(varz[name], json!(0), "/varz lacks {name}");
            assert!(metrics.contains(name), "/metrics lacks {name}");
        }
        assert!(varz["version"].is_string());
        assert!(metrics.contains("# TYPE kcpq_pending_bytes gauge"));
        assert!(metrics.contains("# TYPE kcpq_silent_connections_total counter"));
    }
}
