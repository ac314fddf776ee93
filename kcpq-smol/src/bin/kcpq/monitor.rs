//! `kcpq server info` and `kcpq server check`: read kcpq-server's monitoring endpoint
//! (/healthz, /varz, /connz) and print it for people.

use std::fmt::Write as _;

use serde_json::Value;

use crate::args::{MonitorArgs, ServerCommand};
use crate::http::{Url, get};

/// Runs `kcpq server ...`.
pub(crate) fn run(command: &ServerCommand) -> Result<(), String> {
    match command {
        ServerCommand::Info(args) => {
            print!("{}", info(args)?);
            Ok(())
        }
        ServerCommand::Check(args) => {
            println!("{}", check(args)?);
            Ok(())
        }
    }
}

/// The endpoint `path` as JSON; anything but `200` with JSON is an error that says so.
fn fetch(url: &Url, args: &MonitorArgs, path: &str) -> Result<Value, String> {
    let response = get(url, path, args.timeout).map_err(|e| {
        format!(
            "{e}; is kcpq-server running with --monitor {}? (or name its monitor with \
             --monitor URL)",
            url.show("").trim_start_matches("http://")
        )
    })?;
    if response.status != 200 {
        return Err(format!(
            "the server is unhealthy: {} answered {}: {}",
            url.show(path),
            response.status_line,
            response.body.trim()
        ));
    }
    serde_json::from_str(&response.body).map_err(|e| {
        format!(
            "{} is not kcpq-server's monitor (its answer is not JSON: {e})",
            url.show(path)
        )
    })
}

/// One line: healthy or not, and why.
fn check(args: &MonitorArgs) -> Result<String, String> {
    let url = Url::parse(&args.monitor)?;
    let health = fetch(&url, args, "/healthz")?;
    let status = health["status"].as_str().unwrap_or("missing");
    if status != "ok" {
        return Err(format!(
            "the server is unhealthy: {} says status {status:?}",
            url.show("/healthz")
        ));
    }
    // /healthz answers from the monitor alone; /varz needs the broker itself.
    let varz = fetch(&url, args, "/varz")?;
    Ok(format!(
        "OK: kcpq-server at udp://{} is healthy (up {}, {} connection(s))",
        text(&varz["server_addr"]),
        uptime(&varz["uptime_secs"]),
        count(&varz["connections"])
    ))
}

/// The readable report of `kcpq server info`.
fn info(args: &MonitorArgs) -> Result<String, String> {
    let url = Url::parse(&args.monitor)?;
    let v = fetch(&url, args, "/varz")?;
    let connz = fetch(&url, args, "/connz")?;
    let mut out = String::new();
    let mut line = |label: &str, value: String| {
        let _ = writeln!(out, "{:<20}{value}", format!("{label}:"));
    };
    line(
        "Server",
        format!(
            "kcpq-server {} at udp://{}",
            text(&v["version"]),
            text(&v["server_addr"])
        ),
    );
    line("Uptime", uptime(&v["uptime_secs"]));
    line(
        "Connections",
        format!(
            "{} open, {} since start, {} closed",
            count(&v["connections"]),
            count(&v["total_connections"]),
            count(&v["closed_connections"])
        ),
    );
    line("Subscriptions", count(&v["subscriptions"]));
    line(
        "Messages",
        format!("{} in, {} out", count(&v["in_msgs"]), count(&v["out_msgs"])),
    );
    line(
        "Bytes",
        format!(
            "{} in, {} out",
            bytes(&v["in_bytes"]),
            bytes(&v["out_bytes"])
        ),
    );
    line(
        "Datagrams",
        format!(
            "{} in, {} out",
            count(&v["in_datagrams"]),
            count(&v["out_datagrams"])
        ),
    );
    line("Slow consumers", count(&v["slow_consumers"]));
    line("No responders", count(&v["no_responders"]));
    line("Handshake failures", count(&v["handshake_failures"]));
    line("Dropped", dropped(&v));
    let clients = connz["connections"].as_array().cloned().unwrap_or_default();
    let _ = writeln!(out, "Clients ({}):", clients.len());
    for c in &clients {
        let _ = writeln!(
            out,
            "  {}  {}  {} subscription(s)  rtt {:.1} ms  up {}",
            text(&c["name"]),
            text(&c["addr"]),
            count(&c["subscriptions"]),
            c["rtt_ms"].as_f64().unwrap_or(0.0),
            uptime(&c["uptime_secs"])
        );
    }
    Ok(out)
}

/// The `drops_*` counters that are not zero, or `none`.
fn dropped(varz: &Value) -> String {
    let Some(object) = varz.as_object() else {
        return "unknown".to_owned();
    };
    let nonzero: Vec<String> = object
        .iter()
        .filter_map(|(name, value)| {
            let reason = name.strip_prefix("drops_")?;
            let n = value.as_u64().filter(|&n| n > 0)?;
            Some(format!("{n} {}", reason.replace('_', " ")))
        })
        .collect();
    if nonzero.is_empty() {
        "none".to_owned()
    } else {
        nonzero.join(", ")
    }
}

/// A string field, or `unknown` (an older server).
fn text(value: &Value) -> String {
    value.as_str().unwrap_or("unknown").to_owned()
}

/// A counter, or `?`.
fn count(value: &Value) -> String {
    value
        .as_u64()
        .map_or_else(|| "?".to_owned(), |n| n.to_string())
}

/// A byte counter in B, KiB, MiB or GiB.
fn bytes(value: &Value) -> String {
    let Some(n) = value.as_u64() else {
        return "?".to_owned();
    };
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    #[allow(clippy::cast_precision_loss)]
    let mut scaled = n as f64 / 1024.0;
    let mut unit = 0;
    while scaled >= 1024.0 && unit + 1 < UNITS.len() {
        scaled /= 1024.0;
        unit += 1;
    }
    format!("{scaled:.1} {}", UNITS[unit])
}

/// Seconds as `3d 4h 5m 6s`, leading zero units left out.
fn uptime(value: &Value) -> String {
    let Some(secs) = value.as_f64() else {
        return "unknown".to_owned();
    };
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let secs = secs.max(0.0) as u64;
    let parts = [
        (secs / 86_400, "d"),
        (secs / 3600 % 24, "h"),
        (secs / 60 % 60, "m"),
        (secs % 60, "s"),
    ];
    let first = parts.iter().position(|&(n, _)| n > 0).unwrap_or(3);
    parts[first..]
        .iter()
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_read_well() {
        assert_eq!(bytes(&json!(512)), "512 B");
        assert_eq!(bytes(&json!(1536)), "1.5 KiB");
        assert_eq!(bytes(&json!(3 * 1024 * 1024)), "3.0 MiB");
        assert_eq!(uptime(&json!(4.7)), "4s");
        assert_eq!(uptime(&json!(90_061.0)), "1d 1h 1m 1s");
        assert_eq!(uptime(&json!(3600.0)), "1h 0m 0s");
        assert_eq!(count(&json!(null)), "?");
        assert_eq!(
            dropped(&json!({"drops_bad_tag": 2, "drops_duplicate": 0, "in_msgs": 5})),
            "2 bad tag"
        );
    }
}
