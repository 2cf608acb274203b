//! The recording upstream: a real HTTP/1.1 server on 127.0.0.70:9080 that keeps every request
//! head it is sent (to prove no smuggled request ever reached it), frames bodies by
//! `Content-Length` or chunked coding as RFC 9112 says, answers `recorder ok`, and takes one
//! second over paths starting with `/slow`.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Where the recorder listens (the `recorder` Service's only endpoint).
pub const ADDR: &str = "127.0.0.70:9080";

/// Every request head the recorder has read, in arrival order.
#[derive(Clone, Default)]
pub struct Recorder {
    heads: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    /// All heads so far.
    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().map(|h| h.clone()).unwrap_or_default()
    }

    /// Request lines so far whose target contains `needle`.
    pub fn lines_with(&self, needle: &str) -> Vec<String> {
        let lines = self.heads().into_iter().filter_map(|h| h.lines().next().map(str::to_string));
        lines.filter(|l| l.split(' ').nth(1).is_some_and(|t| t.contains(needle))).collect()
    }
}

/// Starts the recorder once per test binary.
pub fn recorder() -> Recorder {
    static RECORDER: OnceLock<Recorder> = OnceLock::new();
    RECORDER
        .get_or_init(|| {
            let listener = TcpListener::bind(ADDR).expect("recorder binds 127.0.0.70:9080");
            let recorder = Recorder::default();
            let r = recorder.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    let r = r.clone();
                    std::thread::spawn(move || serve(stream, &r));
                }
            });
            recorder
        })
        .clone()
}

fn serve(stream: TcpStream, recorder: &Recorder) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(mut out) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    while let Some(head) = read_head(&mut reader) {
        if let Ok(mut heads) = recorder.heads.lock() {
            heads.push(head.clone());
        }
        if read_body(&mut reader, &head).is_none() {
            return;
        }
        if head.split(' ').nth(1).is_some_and(|t| t.starts_with("/slow")) {
            std::thread::sleep(Duration::from_secs(1));
        }
        let body = "recorder ok\n";
        let reply = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len());
        if out.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// The head up to the blank line (lines joined with `\n`), None at EOF or on an error.
fn read_head(reader: &mut impl BufRead) -> Option<String> {
    let mut head = String::new();
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line).ok()? == 0 {
            return None;
        }
        let line = String::from_utf8_lossy(&line).trim_end_matches(['\r', '\n']).to_string();
        if line.is_empty() {
            return (!head.is_empty()).then_some(head);
        }
        head.push_str(&line);
        head.push('\n');
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .skip(1)
        .find_map(|l| l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()))
}

/// Reads (and drops) the body `head` announces.
fn read_body(reader: &mut impl BufRead, head: &str) -> Option<()> {
    if header(head, "transfer-encoding").is_some_and(|te| te.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                return Some(());
            }
        }
    }
    let length: usize = header(head, "content-length").map_or(Some(0), |v| v.parse().ok())?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()
}
