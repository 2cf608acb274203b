//! A raw HTTP/1 client: writes exact bytes (malformed on purpose) and reads back every
//! response the proxy sends on that connection, and whether it closed it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// What came back on one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Status and body of each response, in order.
    pub responses: Vec<(u16, String)>,
    /// Whether the proxy closed the connection (EOF or reset) within the wait.
    pub closed: bool,
}

impl Reply {
    /// `400 "Bad Request"` / `200, 400` / `none`, for tables and messages.
    pub fn summary(&self) -> String {
        if self.responses.is_empty() {
            return if self.closed { "closed, no response".into() } else { "no response".into() };
        }
        let parts: Vec<String> = self.responses.iter().map(|(s, b)| format!("{s} {:?}", b.trim_end())).collect();
        format!("{}{}", parts.join(", "), if self.closed { " +close" } else { "" })
    }

    /// The statuses alone.
    pub fn statuses(&self) -> Vec<u16> {
        self.responses.iter().map(|(s, _)| *s).collect()
    }
}

/// Sends `bytes` on a new connection to `addr`; reads responses until the proxy closes, or
/// 400 ms pass without more after a complete response, or 5 s in all.
pub fn send(addr: SocketAddr, bytes: &[u8]) -> Reply {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(3)) else {
        return Reply { responses: Vec::new(), closed: true };
    };
    // The proxy may answer (and close) before taking every byte: a failed write is fine.
    let _ = stream.write_all(bytes);
    let (mut buf, mut closed) = (Vec::new(), false);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let idle = if parse(&buf).0.is_empty() { Duration::from_millis(1000) } else { Duration::from_millis(400) };
        let left = deadline.saturating_duration_since(Instant::now()).min(idle);
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        let mut chunk = [0u8; 16 * 1024];
        match stream.read(&mut chunk) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                if !parse(&buf).0.is_empty() || Instant::now() >= deadline {
                    break;
                }
            }
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    Reply { responses: parse(&buf).0, closed }
}

/// Complete responses at the start of `buf` (Content-Length framed), and the bytes used.
fn parse(buf: &[u8]) -> (Vec<(u16, String)>, usize) {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(end) = find(&buf[at..], b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&buf[at..at + end]).to_string();
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let length = head
            .lines()
            .find_map(|l| l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case("content-length")))
            .and_then(|(_, v)| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let body_start = at + end + 4;
        if buf.len() < body_start + length {
            break;
        }
        out.push((status, String::from_utf8_lossy(&buf[body_start..body_start + length]).to_string()));
        at = body_start + length;
    }
    (out, at)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
