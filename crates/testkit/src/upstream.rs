//! A small real HTTP/1.1 upstream for end-to-end tests: answers every request with
//! `SERVICE VERSION` (plus the request's `end-user` header when present), supports keep-alive
//! and request bodies, and can be told to be slow or to fail the first N requests.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Behaviour of a test upstream.
#[derive(Clone, Debug, Default)]
pub struct Behaviour {
    /// Delay before answering.
    pub delay: Duration,
    /// Answer 503 to this many requests first.
    pub fail_first: usize,
}

/// A running upstream; it stops with the test process.
#[derive(Clone)]
pub struct Upstream {
    /// Address it listens on.
    pub addr: String,
    /// Requests served so far.
    pub hits: Arc<AtomicUsize>,
    /// When each request arrived (the first 100,000), to measure when traffic shifted.
    pub arrivals: Arc<Mutex<Vec<Instant>>>,
}

impl Upstream {
    /// The first arrival at or after `t`.
    pub fn first_arrival_after(&self, t: Instant) -> Option<Instant> {
        self.arrivals.lock().ok()?.iter().copied().find(|a| *a >= t)
    }
}

/// Starts an upstream on `addr` (e.g. `127.0.0.21:9080`) answering `service version`.
pub fn spawn(addr: &str, service: &str, version: &str, behaviour: Behaviour) -> std::io::Result<Upstream> {
    let listener = TcpListener::bind(addr)?;
    let up = Upstream { addr: addr.to_string(), hits: Arc::default(), arrivals: Arc::default() };
    let body = format!("{service} {version}");
    let shared = up.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (body, up, b) = (body.clone(), shared.clone(), behaviour.clone());
            std::thread::spawn(move || serve(stream, &body, &up, &b));
        }
    });
    Ok(up)
}

fn serve(stream: TcpStream, body: &str, up: &Upstream, b: &Behaviour) {
    let Ok(write_half) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    let mut out = write_half;
    loop {
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line == "\r\n" || line == "\n" => break,
                Ok(_) => headers.push(line.trim_end().to_string()),
            }
        }
        let header = |name: &str| {
            headers.iter().find_map(|h| {
                h.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim().to_string())
            })
        };
        let len: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        let mut sink = vec![0; len];
        if reader.read_exact(&mut sink).is_err() {
            return;
        }
        let n = up.hits.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut a) = up.arrivals.lock()
            && a.len() < 100_000
        {
            a.push(Instant::now());
        }
        std::thread::sleep(b.delay);
        let (status, text) = if n < b.fail_first {
            ("503 Service Unavailable", "failing on purpose".to_string())
        } else {
            match header("end-user") {
                Some(u) => ("200 OK", format!("{body} user={u}\n")),
                None => ("200 OK", format!("{body}\n")),
            }
        };
        let resp =
            format!("HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{text}", text.len());
        if out.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

/// Starts a TCP upstream on `addr` that writes `SERVICE VERSION\n` to every connection, then
/// echoes what it reads (a stand-in for a database or any server-first protocol).
pub fn spawn_tcp(addr: &str, service: &str, version: &str) -> std::io::Result<Upstream> {
    let listener = TcpListener::bind(addr)?;
    let up = Upstream { addr: addr.to_string(), hits: Arc::default(), arrivals: Arc::default() };
    let greeting = format!("{service} {version}\n");
    let shared = up.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            shared.hits.fetch_add(1, Ordering::SeqCst);
            let greeting = greeting.clone();
            std::thread::spawn(move || {
                if stream.write_all(greeting.as_bytes()).is_err() {
                    return;
                }
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 || stream.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(up)
}
