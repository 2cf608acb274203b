//! What the inspecting listener filters conclude from a connection's first bytes (pure
//! functions over peeked data, so they never consume anything).
//!
//! - [`http`], Envoy's `http_inspector`: the HTTP/2 connection preface is `h2c`; otherwise the
//!   first line, once complete (up to `\n`), must be an HTTP/1 request line —
//!   `TOKEN SP TARGET SP HTTP/1.x` — and gives `http/1.1` or `http/1.0` (Envoy reports any
//!   other version as `http/1.0` too). An empty first line or bytes no request line can start
//!   with are "not HTTP" at once. One difference, on purpose: Envoy's parser waits for the
//!   end of the line before rejecting, so a binary client-first protocol that never sends
//!   `\n` waits for the timeout there; here it is told apart as soon as a byte rules HTTP out
//!   (either way it takes the TCP chain). Past 8 KiB without a decision Envoy closes the
//!   connection; so does this.
//! - [`tls`], Envoy's `tls_inspector`: a complete ClientHello (parsed by rustls' `Acceptor`)
//!   gives transport protocol `tls`, the SNI and the ALPN list; anything that is not a TLS
//!   handshake record is "not TLS" at once.

/// The HTTP inspector's largest look (Envoy's `MAX_INSPECT_SIZE`).
pub const HTTP_MAX_INSPECT: usize = 8 * 1024;
/// The TLS inspector's largest ClientHello (Envoy's default `max_client_hello_size`).
pub const TLS_MAX_HELLO: usize = 64 * 1024;

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// An inspector's verdict on the bytes seen so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict<T> {
    /// More bytes are needed.
    NeedMore,
    /// Not this protocol.
    No,
    /// Found.
    Found(T),
    /// The limit was reached without a decision: Envoy closes the connection.
    TooLong,
}

/// The HTTP inspector: the ALPN it reports (`h2c`, `http/1.1`, `http/1.0`).
pub fn http(data: &[u8]) -> Verdict<&'static str> {
    let n = data.len().min(H2_PREFACE.len());
    if data[..n] == H2_PREFACE[..n] {
        return if data.len() < H2_PREFACE.len() { Verdict::NeedMore } else { Verdict::Found("h2c") };
    }
    if matches!(data.first(), Some(b'\r' | b'\n')) {
        return Verdict::No;
    }
    let (line, complete) = match data.iter().position(|b| *b == b'\n') {
        Some(end) => (&data[..end], true),
        None => (data, false),
    };
    if !complete {
        return match request_line_prefix_ok(line) {
            false => Verdict::No,
            true if data.len() >= HTTP_MAX_INSPECT => Verdict::TooLong,
            true => Verdict::NeedMore,
        };
    }
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut parts = line.split(|b| *b == b' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Verdict::No;
    };
    if method.is_empty() || !method.iter().all(|b| is_tchar(*b)) || target.is_empty() || !target.iter().all(is_vchar) {
        return Verdict::No;
    }
    match version {
        b"HTTP/1.1" => Verdict::Found("http/1.1"),
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', d] if d.is_ascii_digit() => Verdict::Found("http/1.0"),
        _ => Verdict::No,
    }
}

/// Whether `line` (no `\n` yet) can still begin `METHOD SP TARGET SP HTTP/1.x`.
fn request_line_prefix_ok(line: &[u8]) -> bool {
    let mut fields = line.split(|b| *b == b' ');
    let method = fields.next().unwrap_or_default();
    if !method.iter().all(|b| is_tchar(*b)) {
        return false;
    }
    let Some(target) = fields.next() else { return true };
    if method.is_empty() || !target.iter().all(is_vchar) {
        return false;
    }
    let Some(version) = fields.next() else { return true };
    if target.is_empty() || fields.next().is_some() {
        return false;
    }
    let version = version.strip_suffix(b"\r").unwrap_or(version);
    let want = b"HTTP/1.";
    let n = version.len().min(want.len());
    version[..n] == want[..n] && version.len() <= want.len() + 1
}

/// RFC 9110 `tchar` (method names).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_vchar(b: &u8) -> bool {
    (0x21..0x7f).contains(b)
}

/// What the TLS inspector found in a ClientHello.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientHello {
    /// SNI, lower-cased.
    pub server_name: Option<String>,
    /// ALPN protocols offered, in order.
    pub alpn: Vec<String>,
}

/// The TLS inspector.
pub fn tls(data: &[u8]) -> Verdict<ClientHello> {
    // A TLS handshake record (content type 22, major version 3) or nothing TLS.
    match data {
        [] => return Verdict::NeedMore,
        [0x16] | [0x16, 0x03, ..] => {}
        _ => return Verdict::No,
    }
    let mut acceptor = rustls::server::Acceptor::default();
    let mut rest = data;
    while !rest.is_empty() {
        match acceptor.read_tls(&mut rest) {
            Ok(0) => break,
            Ok(_) => {}
            Err(_) => return Verdict::No,
        }
    }
    match acceptor.accept() {
        Ok(None) if data.len() >= TLS_MAX_HELLO => Verdict::TooLong,
        Ok(None) => Verdict::NeedMore,
        Ok(Some(accepted)) => {
            let hello = accepted.client_hello();
            let alpn = hello.alpn().map(|a| a.map(|p| String::from_utf8_lossy(p).into_owned()).collect());
            Verdict::Found(ClientHello {
                server_name: hello.server_name().map(str::to_ascii_lowercase),
                alpn: alpn.unwrap_or_default(),
            })
        }
        Err(_) => Verdict::No,
    }
}

#[cfg(test)]
#[path = "sniff_tests.rs"]
mod tests;
