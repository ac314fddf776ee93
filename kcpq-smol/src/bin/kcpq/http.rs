//! A minimal HTTP/1.1 GET over `std::net::TcpStream`, enough for kcpq-server's monitoring
//! endpoint: plain HTTP, one request per connection, bounded time and size.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The largest answer read.
const MAX_RESPONSE: u64 = 16 * 1024 * 1024;

/// A parsed `http://HOST:PORT[/PREFIX]` (or `HOST:PORT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Url {
    /// Host and port, as written.
    authority: String,
    /// The path the endpoints are under, without a trailing `/` (usually empty).
    prefix: String,
}

impl Url {
    /// Parses `text`; only plain `http` is spoken.
    pub(crate) fn parse(text: &str) -> Result<Url, String> {
        let rest = match text.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) => {
                return Err(format!(
                    "{text}: kcpq-server's monitor speaks plain http, not {scheme}; write \
                     http://HOST:PORT"
                ));
            }
            None => text,
        };
        let (authority, prefix) = match rest.find('/') {
            Some(at) => (&rest[..at], rest[at..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(format!("{text} names no host; write http://HOST:PORT"));
        }
        let authority = if authority.contains(':') {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        Ok(Url {
            authority,
            prefix: prefix.to_owned(),
        })
    }

    /// `path` under this URL, for messages.
    pub(crate) fn show(&self, path: &str) -> String {
        format!("http://{}{}{path}", self.authority, self.prefix)
    }
}

/// An answer: the status code, its reason phrase and the body.
#[derive(Debug)]
pub(crate) struct Response {
    /// E.g. 200.
    pub(crate) status: u16,
    /// E.g. `200 OK`.
    pub(crate) status_line: String,
    /// The body as text.
    pub(crate) body: String,
}

/// GETs `path` under `url`, each step bounded by `timeout`.
pub(crate) fn get(url: &Url, path: &str, timeout: Duration) -> Result<Response, String> {
    let shown = url.show(path);
    let unreachable = |reason: String| format!("cannot reach {shown}: {reason}");
    let addrs = url
        .authority
        .to_socket_addrs()
        .map_err(|e| unreachable(e.to_string()))?;
    let mut last = "the address resolves to nothing".to_owned();
    let mut stream = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = e.to_string(),
        }
    }
    let mut stream = stream.ok_or_else(|| unreachable(last))?;
    let io = |e: std::io::Error| {
        if matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ) {
            format!("{shown} did not answer within {timeout:?}")
        } else {
            unreachable(e.to_string())
        }
    };
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    let request = format!(
        "GET {}{path} HTTP/1.1\r\nHost: {}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        url.prefix, url.authority
    );
    stream.write_all(request.as_bytes()).map_err(io)?;
    let mut raw = Vec::new();
    stream
        .take(MAX_RESPONSE)
        .read_to_end(&mut raw)
        .map_err(io)?;
    parse_response(&raw).ok_or_else(|| format!("{shown} did not answer in HTTP"))
}

/// Splits a whole HTTP/1.x answer (read until the server closed) into status and body.
fn parse_response(raw: &[u8]) -> Option<Response> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let status_line = head.lines().next()?;
    let (version, status_line) = status_line.split_once(' ')?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    let status = status_line.split(' ').next()?.parse().ok()?;
    Some(Response {
        status,
        status_line: status_line.to_owned(),
        body: String::from_utf8_lossy(&raw[end + 4..]).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        let url = Url::parse("http://127.0.0.1:8222/").expect("url");
        assert_eq!(url.show("/varz"), "http://127.0.0.1:8222/varz");
        let url = Url::parse("localhost:9000/kcpq").expect("url");
        assert_eq!(url.show("/varz"), "http://localhost:9000/kcpq/varz");
        assert_eq!(
            Url::parse("example.com").expect("url").show(""),
            "http://example.com:80"
        );
        assert!(Url::parse("https://x:1").is_err());
    }

    #[test]
    fn responses_parse() {
        let r = parse_response(b"HTTP/1.1 503 Service Unavailable\r\nA: b\r\n\r\nserver stopped\n")
            .expect("a response");
        assert_eq!(r.status, 503);
        assert_eq!(r.status_line, "503 Service Unavailable");
        assert_eq!(r.body, "server stopped\n");
        assert!(parse_response(b"SSH-2.0-x\r\n\r\n").is_none());
    }
}
