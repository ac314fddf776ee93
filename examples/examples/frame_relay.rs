//! A frame relay, as the original's H.264 relay: frames come in, each is published as one
//! message on a subject, and any number of `frame_receiver`s get them live.
//!
//! Sources (`--source`):
//! - `synthetic` (default): `--fps` frames per second (240) of `--size` bytes (100 000) for
//!   `--seconds` (10);
//! - `file:PATH`: length-delimited frames (a big-endian `u32` length, then the frame) replayed
//!   at `--fps`;
//! - `udp:ADDR`: the same length-delimited stream arriving as UDP datagrams on ADDR (a frame may
//!   span datagrams), relayed as soon as each frame is complete, for `--seconds`.
//!
//! Every published frame starts with a 16-byte header (sequence number, send time) so receivers
//! count gaps and measure latency. Client and server use the `video` KCP preset, with
//! `max_payload` raised to fit the frames. With `--server ADDR` the relay publishes to a running
//! server; without, it embeds one on `--listen` (127.0.0.1:4000). Either way the key comes from
//! `KCPQ_AES256_KEY_HEX`. `--start-after SECS` waits before the first frame, for receivers to
//! subscribe.
//!
//! Run with `cargo run -p kcpq-examples --release --example frame_relay -- --fps 240 --size 100000`.

use std::io::Read;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use kcpq_core::crypto::KeySet;
use kcpq_examples::{Error, arg, env_keys, frame, opt_arg, video};
use kcpq_std::{Client, ClientOptions, Server};

/// Where frames come from.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    Synthetic,
    File(String),
    Udp(String),
}

/// The relay's settings, from the command line (the key from the environment unless set).
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) source: Source,
    pub(crate) fps: f64,
    pub(crate) size: usize,
    pub(crate) seconds: f64,
    pub(crate) start_after: f64,
    pub(crate) subject: String,
    pub(crate) server: Option<String>,
    pub(crate) listen: String,
    pub(crate) keys: Option<KeySet>,
}

impl Options {
    pub(crate) fn parse(args: &[String]) -> Result<Options, Error> {
        let source = match opt_arg(args, "--source").as_deref() {
            None | Some("synthetic") => Source::Synthetic,
            Some(s) if s.starts_with("file:") => Source::File(s["file:".len()..].to_owned()),
            Some(s) if s.starts_with("udp:") => Source::Udp(s["udp:".len()..].to_owned()),
            Some(s) => {
                return Err(format!("unknown source {s}: synthetic, file:PATH or udp:ADDR").into());
            }
        };
        let options = Options {
            source,
            fps: arg(args, "--fps", 240.0)?,
            size: arg(args, "--size", 100_000)?,
            seconds: arg(args, "--seconds", 10.0)?,
            start_after: arg(args, "--start-after", 0.0)?,
            subject: arg(args, "--subject", "video.frames".to_owned())?,
            server: opt_arg(args, "--server"),
            listen: arg(args, "--listen", "127.0.0.1:4000".to_owned())?,
            keys: None,
        };
        if options.fps <= 0.0 || options.size < frame::HEADER_LEN {
            return Err(format!(
                "--fps must be above 0 and --size at least {}",
                frame::HEADER_LEN
            )
            .into());
        }
        Ok(options)
    }
}

/// What the relay did.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sent {
    pub(crate) frames: u64,
    pub(crate) elapsed: Duration,
}

/// Reads length-delimited frames from a byte stream.
struct Deframer {
    buffer: Vec<u8>,
    /// Where the next frame's length prefix starts in `buffer`.
    start: usize,
    /// Longest frame accepted: a longer length prefix is refused instead of buffered.
    max_len: usize,
}

impl Deframer {
    /// A deframer for frames of at most `max_len` bytes.
    fn new(max_len: usize) -> Self {
        Deframer {
            buffer: Vec::new(),
            start: 0,
            max_len,
        }
    }

    /// Appends bytes from the source.
    fn extend(&mut self, bytes: &[u8]) {
        // Consumed bytes are dropped once they are the larger part, so a long stream costs
        // linear time, not a shift of the whole buffer per frame.
        if self.start > self.buffer.len() / 2 {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        self.buffer.extend_from_slice(bytes);
    }

    /// The next whole frame in the buffer, if any, with [`frame::HEADER_LEN`] bytes of room in
    /// front for the relay's header (so the frame is copied once, here). A length prefix above
    /// the limit is an error: the stream is corrupt or not length-delimited.
    fn next_message(&mut self) -> Result<Option<Vec<u8>>, Error> {
        let rest = &self.buffer[self.start..];
        let Some(prefix) = rest.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes(prefix.try_into()?) as usize;
        if len > self.max_len {
            return Err(format!(
                "a frame of {len} bytes in the source exceeds the limit of {} (--size); is the \
                 stream length-delimited (big-endian u32 length, then the frame)?",
                self.max_len
            )
            .into());
        }
        let Some(body) = rest.get(4..4 + len) else {
            return Ok(None);
        };
        let mut message = Vec::with_capacity(frame::HEADER_LEN + len);
        message.resize(frame::HEADER_LEN, 0);
        message.extend_from_slice(body);
        self.start += 4 + len;
        Ok(Some(message))
    }
}

/// Publishes frames with their header; counts them.
struct Publisher {
    client: Client,
    subject: String,
    seq: u64,
}

impl Publisher {
    /// Publishes `message`, its first bytes overwritten by the header of the next frame. The
    /// message is handed over, not copied.
    fn send(&mut self, mut message: Vec<u8>) -> Result<(), Error> {
        frame::stamp(&mut message, self.seq);
        self.client.publish(&self.subject, message)?;
        self.seq += 1;
        Ok(())
    }
}

/// Sleeps until `due`.
fn wait_until(due: Instant) {
    let now = Instant::now();
    if due > now {
        std::thread::sleep(due - now);
    }
}

pub(crate) fn run(options: Options) -> Result<Sent, Error> {
    let keys = match options.keys.clone() {
        Some(keys) => keys,
        None => env_keys()?,
    };
    let (embedded, addr) = match &options.server {
        Some(addr) => (None, addr.clone()),
        None => {
            let server = Server::bind(
                options.listen.as_str(),
                keys.clone(),
                video::server_config(options.size),
            )?;
            let addr = server.local_addr().to_string();
            println!("relay: embedded server on {addr}");
            (Some(server), addr)
        }
    };
    let mut client_options = ClientOptions::new(addr, keys);
    client_options.config = video::client_config(options.size);
    client_options.config.name = "frame-relay".to_owned();
    let mut publisher = Publisher {
        client: Client::connect_with(client_options)?,
        subject: options.subject.clone(),
        seq: 0,
    };

    // Time for receivers to join before the first frame (with the embedded server, they can only
    // connect once the relay runs).
    std::thread::sleep(Duration::from_secs_f64(options.start_after.max(0.0)));
    let interval = Duration::from_secs_f64(1.0 / options.fps);
    let run_for = Duration::from_secs_f64(options.seconds.max(0.0));
    // Frames from a source must fit the payload limit the client was given, header included.
    let max_frame = video::max_payload(options.size) - frame::HEADER_LEN;
    let start = Instant::now();
    match &options.source {
        Source::Synthetic => {
            // Frames due at a fixed cadence; a late frame is sent at once, not skipped.
            let frames = (options.fps * options.seconds).round() as u64;
            for n in 0..frames {
                wait_until(start + interval.mul_f64(n as f64));
                // One pass over the frame: the header is stamped over the fill byte.
                let message = vec![(n % 251) as u8; options.size];
                publisher.send(message)?;
            }
        }
        Source::File(path) => {
            let mut deframer = Deframer::new(max_frame);
            std::fs::File::open(path)?.read_to_end(&mut deframer.buffer)?;
            let mut n = 0u32;
            while let Some(message) = deframer.next_message()? {
                wait_until(start + interval * n);
                publisher.send(message)?;
                n += 1;
            }
        }
        Source::Udp(bind) => {
            let socket = UdpSocket::bind(bind.as_str())?;
            println!("relay: reading frames on udp://{}", socket.local_addr()?);
            socket.set_read_timeout(Some(Duration::from_millis(100)))?;
            let mut deframer = Deframer::new(max_frame);
            let mut datagram = vec![0u8; 65_536];
            while start.elapsed() < run_for {
                match socket.recv(&mut datagram) {
                    Ok(len) => deframer.extend(&datagram[..len]),
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                }
                while let Some(message) = deframer.next_message()? {
                    publisher.send(message)?;
                }
            }
        }
    }
    // Drain: every frame queued reaches the server before the relay leaves (generously bounded:
    // a slow link or machine may hold seconds of frames in the client's queues).
    publisher.client.drain(Duration::from_secs(60))?;
    let sent = Sent {
        frames: publisher.seq,
        elapsed: start.elapsed(),
    };
    println!(
        "relay: {} frames in {:.2} s ({:.1} fps)",
        sent.frames,
        sent.elapsed.as_secs_f64(),
        sent.frames as f64 / sent.elapsed.as_secs_f64()
    );
    if let Some(server) = embedded {
        server.drain(Duration::from_secs(60))?;
    }
    Ok(sent)
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    run(Options::parse(&args)?).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(frames: &[&[u8]]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for body in frames {
            bytes.extend_from_slice(&(body.len() as u32).to_be_bytes());
            bytes.extend_from_slice(body);
        }
        bytes
    }

    #[test]
    fn deframer_yields_whole_frames_with_header_room_across_pieces() {
        let bodies: [&[u8]; 4] = [b"first", b"", &[7; 3000], b"last"];
        let bytes = stream(&bodies);
        let mut deframer = Deframer::new(3000);
        let mut got = Vec::new();
        // Pieces of 7 bytes: prefixes and bodies split at every possible place.
        for piece in bytes.chunks(7) {
            deframer.extend(piece);
            while let Some(message) = deframer.next_message().unwrap() {
                got.push(message);
            }
        }
        assert_eq!(got.len(), bodies.len());
        for (message, body) in got.iter().zip(bodies) {
            assert_eq!(&message[..frame::HEADER_LEN], &[0; frame::HEADER_LEN]);
            assert_eq!(&message[frame::HEADER_LEN..], body);
        }
        assert!(deframer.next_message().unwrap().is_none());
        assert!(
            deframer.buffer.len() < bytes.len(),
            "consumed bytes are dropped as the stream goes on"
        );
    }

    #[test]
    fn deframer_refuses_a_length_above_the_limit_instead_of_buffering() {
        let mut deframer = Deframer::new(100);
        deframer.extend(&101u32.to_be_bytes());
        let error = deframer.next_message().expect_err("over the limit");
        assert!(
            error.to_string().contains("exceeds the limit of 100"),
            "{error}"
        );
    }
}
