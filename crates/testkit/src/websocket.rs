//! A real WebSocket echo upstream and client for end-to-end tests (RFC 6455 over HTTP/1.1):
//! the server checks the handshake (`Upgrade: websocket`, `Connection: Upgrade`,
//! `Sec-WebSocket-Version: 13`, a key) and answers 101 with the computed
//! `Sec-WebSocket-Accept`, then echoes every text or binary message, answers pings, and on a
//! close frame echoes it and closes the TCP connection (the server closes first, as RFC 6455
//! §7.1.1 asks). The client does the opening handshake through a proxy (absolute-form target,
//! as `curl -x` sends), verifies the accept key, masks its frames, and reports what it saw.
//! SHA-1 and base64 are written out here (a few lines each) so the testkit needs no crypto
//! dependency; they are checked against RFC 6455's own example.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// A running echo server.
#[derive(Clone)]
pub struct Echo {
    /// Its address.
    pub addr: String,
    /// Handshakes it completed.
    pub upgrades: Arc<AtomicUsize>,
}

/// Starts a WebSocket echo server on `addr`. A request without a valid handshake gets
/// `426 Upgrade Required` (body `websocket only`).
pub fn spawn(addr: &str) -> std::io::Result<Echo> {
    let listener = TcpListener::bind(addr)?;
    let echo = Echo { addr: addr.to_string(), upgrades: Arc::default() };
    let upgrades = echo.upgrades.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let upgrades = upgrades.clone();
            std::thread::spawn(move || serve(stream, &upgrades));
        }
    });
    Ok(echo)
}

/// The request head's lines (after the request line), lower-cased names.
fn read_head(reader: &mut impl BufRead) -> Option<(String, Vec<(String, String)>)> {
    let mut first = String::new();
    reader.read_line(&mut first).ok().filter(|n| *n > 0)?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok().filter(|n| *n > 0)?;
        let line = line.trim_end();
        if line.is_empty() {
            return Some((first.trim_end().to_string(), headers));
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
}

fn find<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn serve(stream: TcpStream, upgrades: &AtomicUsize) {
    let Ok(mut out) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    let Some((_, headers)) = read_head(&mut reader) else { return };
    let token = |name: &str, want: &str| {
        find(&headers, name).is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(want)))
    };
    let key = find(&headers, "sec-websocket-key");
    let ok = token("upgrade", "websocket") && token("connection", "upgrade") && token("sec-websocket-version", "13");
    let Some(key) = key.filter(|_| ok) else {
        let _ = out.write_all(b"HTTP/1.1 426 Upgrade Required\r\ncontent-length: 14\r\n\r\nwebsocket only");
        return;
    };
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        accept(key)
    );
    if out.write_all(head.as_bytes()).is_err() {
        return;
    }
    upgrades.fetch_add(1, Ordering::SeqCst);
    while let Some((opcode, payload)) = read_frame(&mut reader) {
        let reply = match opcode {
            0x1 | 0x2 => opcode,
            0x9 => 0xA,
            0x8 => {
                let _ = out.write_all(&frame(0x8, &payload, None));
                let _ = out.shutdown(std::net::Shutdown::Both);
                return;
            }
            _ => continue,
        };
        if out.write_all(&frame(reply, &payload, None)).is_err() {
            return;
        }
    }
}

/// `Sec-WebSocket-Accept` for a key.
pub fn accept(key: &str) -> String {
    base64(&sha1(format!("{key}{GUID}").as_bytes()))
}

/// One frame: FIN set, the payload masked with `mask` when given (clients must mask).
fn frame(opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![0x80 | opcode];
    let bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(bit | n as u8),
        n if n <= 0xFFFF => {
            out.push(bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(m) => {
            out.extend_from_slice(&m);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ m[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// Reads one frame (unmasking it); None at EOF or on a malformed frame.
fn read_frame(r: &mut impl Read) -> Option<(u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    r.read_exact(&mut head).ok()?;
    let len = match head[1] & 0x7F {
        126 => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b).ok()?;
            u64::from(u16::from_be_bytes(b))
        }
        127 => {
            let mut b = [0u8; 8];
            r.read_exact(&mut b).ok()?;
            u64::from_be_bytes(b)
        }
        n => u64::from(n),
    };
    let mut mask = [0u8; 4];
    if head[1] & 0x80 != 0 {
        r.read_exact(&mut mask).ok()?;
    }
    let mut payload = vec![0u8; usize::try_from(len).ok().filter(|n| *n <= 1 << 20)?];
    r.read_exact(&mut payload).ok()?;
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= mask[i % 4];
    }
    Some((head[0] & 0x0F, payload))
}

/// What a client session saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The proxy's status line (`HTTP/1.1 101 Switching Protocols`).
    pub status_line: String,
    /// Response headers (lower-case names), in order.
    pub headers: Vec<(String, String)>,
    /// The accept key matched the one sent.
    pub accept_ok: bool,
    /// The echoed messages, in order.
    pub echoes: Vec<String>,
    /// The server answered the close frame.
    pub closed_cleanly: bool,
}

/// Through the HTTP proxy at `proxy` (`IP:PORT`), opens `ws://{authority}{path}`, sends each
/// message as a text frame and reads its echo, then closes. `upgrade` is the `Upgrade` value
/// to ask for (`websocket` for a real session). A non-101 answer ends the session there.
pub fn session(proxy: &str, authority: &str, path: &str, upgrade: &str, messages: &[&str]) -> std::io::Result<Session> {
    let stream = TcpStream::connect(proxy)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut out = stream.try_clone()?;
    let key = base64(&sha1(format!("{authority}{path}").as_bytes())[..16]);
    let head = format!(
        "GET http://{authority}{path} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: {upgrade}\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    out.write_all(head.as_bytes())?;
    let mut reader = BufReader::new(stream);
    let (status_line, headers) =
        read_head(&mut reader).ok_or_else(|| std::io::Error::other("no response head from the proxy"))?;
    let accept_ok = find(&headers, "sec-websocket-accept") == Some(accept(&key).as_str());
    let mut s = Session { status_line, headers, accept_ok, echoes: Vec::new(), closed_cleanly: false };
    if !s.status_line.contains(" 101 ") {
        return Ok(s);
    }
    for (i, m) in messages.iter().enumerate() {
        out.write_all(&frame(0x1, m.as_bytes(), Some([7, i as u8, 42, 9])))?;
        match read_frame(&mut reader) {
            Some((0x1, payload)) => s.echoes.push(String::from_utf8_lossy(&payload).into_owned()),
            other => return Err(std::io::Error::other(format!("expected a text echo, got {other:?}"))),
        }
    }
    out.write_all(&frame(0x8, &1000u16.to_be_bytes(), Some([1, 2, 3, 4])))?;
    s.closed_cleanly = matches!(read_frame(&mut reader), Some((0x8, _)));
    Ok(s)
}

/// SHA-1 (FIPS 180-4), for the handshake only.
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a.rotate_left(5).wrapping_add(f).wrapping_add(e).wrapping_add(k).wrapping_add(*wi);
            (e, d, c, b, a) = (d, c, b.rotate_left(30), a, t);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, x) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

/// Standard base64 with padding.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_matches_rfc_6455() {
        assert_eq!(accept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(base64(b"ab"), "YWI=");
    }

    #[test]
    fn echo_round_trip_without_a_proxy() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let upgrades = Arc::new(AtomicUsize::new(0));
        let counter = upgrades.clone();
        std::thread::spawn(move || {
            if let Some(s) = listener.incoming().flatten().next() {
                serve(s, &counter);
            }
        });
        // Straight to the server: the absolute-form target is fine for it too.
        let s = session(&addr, "echo:80", "/chat", "websocket", &["hello", &"x".repeat(300)]).expect("session");
        assert!(s.status_line.contains(" 101 ") && s.accept_ok && s.closed_cleanly, "{s:?}");
        assert_eq!(s.echoes, ["hello".to_string(), "x".repeat(300)]);
        assert_eq!(upgrades.load(Ordering::SeqCst), 1);
    }
}
