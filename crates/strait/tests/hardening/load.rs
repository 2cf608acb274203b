//! Load for the descriptor-limit and drain tests: many concurrent clients, each one HTTP/1.1
//! request on its own connection, classified by what came back.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// What one client got.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// A response with this status (and whether it said `connection: close`).
    Status(u16, bool),
    /// Connection refused, or closed or reset without a response.
    Refused,
    /// Nothing within the timeout.
    Timeout,
}

/// Sends `GET path` with `Host: recorder:9080` on a new connection to `addr`.
pub fn one(addr: SocketAddr, path: &str, timeout: Duration) -> Outcome {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else { return Outcome::Refused };
    let _ = s.set_read_timeout(Some(timeout));
    if s.write_all(format!("GET {path} HTTP/1.1\r\nHost: recorder:9080\r\n\r\n").as_bytes()).is_err() {
        return Outcome::Refused;
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return Outcome::Timeout;
            }
            Err(_) => break,
        }
    }
    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    match head.split(' ').nth(1).and_then(|s| s.parse().ok()) {
        Some(status) => Outcome::Status(status, head.contains("\r\nconnection: close\r\n")),
        None => Outcome::Refused,
    }
}

/// `n` clients at once, `GET {prefix}-{i}`; every outcome.
pub fn burst(addr: SocketAddr, prefix: &str, n: usize, timeout: Duration) -> Vec<Outcome> {
    let clients: Vec<_> = (0..n)
        .map(|i| {
            let path = format!("{prefix}-{i}");
            std::thread::spawn(move || one(addr, &path, timeout))
        })
        .collect();
    clients.into_iter().map(|c| c.join().unwrap_or(Outcome::Timeout)).collect()
}

/// How many outcomes match `f`.
pub fn count(outcomes: &[Outcome], f: impl Fn(&Outcome) -> bool) -> usize {
    outcomes.iter().filter(|o| f(o)).count()
}
