//! An HTTP/1.1 upstream that records every request it gets (request line, headers with
//! lower-case names in arrival order, body) and answers `SERVICE VERSION`, optionally after a
//! delay: for tests that look at what a proxy sent (mirrored copies, forwarded headers).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as the upstream received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// `GET /path HTTP/1.1`.
    pub request_line: String,
    /// Headers, names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body (Content-Length framed; chunked bodies are read and de-chunked).
    pub body: Vec<u8>,
}

impl Seen {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// A running recording upstream.
#[derive(Clone)]
pub struct Recording {
    /// Its address.
    pub addr: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Recording {
    /// The requests received so far whose request line contains `needle`.
    pub fn seen(&self, needle: &str) -> Vec<Seen> {
        let seen = self.seen.lock().map(|s| s.clone()).unwrap_or_default();
        seen.into_iter().filter(|s| s.request_line.contains(needle)).collect()
    }
}

/// Starts a recording upstream on `addr` answering `SERVICE VERSION\n` after `delay`.
pub fn spawn(addr: &str, service: &str, version: &str, delay: Duration) -> std::io::Result<Recording> {
    let listener = TcpListener::bind(addr)?;
    let rec = Recording { addr: addr.to_string(), seen: Arc::default() };
    let (seen, body) = (rec.seen.clone(), format!("{service} {version}\n"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (seen, body) = (seen.clone(), body.clone());
            std::thread::spawn(move || serve(stream, &seen, &body, delay));
        }
    });
    Ok(rec)
}

fn serve(stream: TcpStream, seen: &Mutex<Vec<Seen>>, answer: &str, delay: Duration) {
    let Ok(mut out) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader) {
        if let Ok(mut s) = seen.lock() {
            s.push(request);
        }
        std::thread::sleep(delay);
        let resp =
            format!("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{answer}", answer.len());
        if out.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

fn read_request(reader: &mut impl BufRead) -> Option<Seen> {
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok().filter(|n| *n > 0)?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok().filter(|n| *n > 0)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let mut seen = Seen { request_line: request_line.trim_end().to_string(), headers, body: Vec::new() };
    if seen.header("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim(), 16).ok()?;
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            seen.body.extend_from_slice(&chunk[..n]);
        }
    } else {
        let len: usize = seen.header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        seen.body = vec![0; len];
        reader.read_exact(&mut seen.body).ok()?;
    }
    Some(seen)
}
