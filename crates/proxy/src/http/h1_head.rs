//! HTTP/1 request-head validation with Envoy 1.40's rules, run by [`super::h1_guard`] on every
//! head before hyper sees it. hyper silently normalises some heads Envoy rejects (it drops a
//! `Content-Length` sent with `Transfer-Encoding`, keeps one of two equal `Content-Length`s,
//! accepts `Transfer-Encoding: gzip, chunked`), and answers its own parse errors with an empty
//! body and no access log; checking here gives Envoy's exact status, body and
//! `%RESPONSE_CODE_DETAILS%` for each case, and tells the guard how the body is framed so it can
//! find the next head. Measured against Envoy 1.40 (balsa parser, default
//! `max_request_headers_kb` 60 and `max_request_headers_count` 100):
//!
//! - the whole head (request line, header lines, final CRLF) over 60 KiB → 431
//!   `http1.headers_too_large`; more than 100 headers → 431 `http1.too_many_headers`;
//! - `Content-Length` with `Transfer-Encoding` → 400 `http1.content_length_and_chunked_not_allowed`;
//!   a `Transfer-Encoding` other than one `chunked` → 501 `http1.invalid_transfer_encoding`;
//! - two `Content-Length`s (even equal), a list, a sign or any non-digit → 400 `http1.codec_error`;
//! - an HTTP version other than 1.x → 426 `low_version`;
//! - obs-fold is unfolded as Envoy does (the line break goes, the whitespace stays).
//!
//! Deliberate differences: HTTP/1.0 is accepted (Envoy answers 426 unless `accept_http_10` is
//! set, an Istio pain), and a lone CR in a header is rejected with 400 (Envoy drops the CR and
//! forwards the rest; RFC 9112 §2.2 allows rejecting, and a bare CR is a smuggling vector).
//! Known difference: a path with `<`, `>` or a backtick is refused with 400 (hyper's URI parser
//! refuses them; Envoy forwards them as they are).

use bytes::{Bytes, BytesMut};
use std::mem::MaybeUninit;

/// Envoy's default `max_request_headers_kb` (60), applied to the whole head as Envoy does.
pub const MAX_HEAD_BYTES: usize = 60 * 1024;
/// Envoy's default `max_request_headers_count`.
pub const MAX_HEADERS: usize = 100;

/// How the body after a valid head is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body: the next bytes are the next head.
    None,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A head Envoy would reject: its local reply and `%RESPONSE_CODE_DETAILS%`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection {
    /// Status code.
    pub status: u16,
    /// Envoy's response code details.
    pub details: &'static str,
}

impl Rejection {
    const fn new(status: u16, details: &'static str) -> Self {
        Rejection { status, details }
    }

    /// The body Envoy sends: the status's reason phrase.
    pub fn body(&self) -> &'static str {
        match self.status {
            426 => "Upgrade Required",
            431 => "Request Header Fields Too Large",
            501 => "Not Implemented",
            _ => "Bad Request",
        }
    }
}

const CODEC_ERROR: Rejection = Rejection::new(400, "http1.codec_error");
const TOO_LARGE: Rejection = Rejection::new(431, "http1.headers_too_large");
const TOO_MANY: Rejection = Rejection::new(431, "http1.too_many_headers");
const CL_AND_TE: Rejection = Rejection::new(400, "http1.content_length_and_chunked_not_allowed");
const BAD_TE: Rejection = Rejection::new(501, "http1.invalid_transfer_encoding");
const LOW_VERSION: Rejection = Rejection::new(426, "low_version");

/// What parsing the bytes at the start of a message gave.
#[derive(Debug)]
pub enum Head {
    /// More bytes are needed.
    Partial,
    /// A valid head of `consumed` input bytes; hyper gets them as they are, or `unfolded`.
    /// After an `upgrade` request (CONNECT, or `Upgrade` in HTTP/1.1) the bytes may stop being
    /// HTTP/1, depending on the response.
    Valid { consumed: usize, unfolded: Option<Bytes>, framing: Framing, upgrade: bool },
    /// Envoy would reject it.
    Rejected(Rejection),
}

/// Parses and checks the head at the start of `buf`.
pub fn parse(buf: &BytesMut) -> Head {
    // Uninitialised slots: zeroing 100 headers would cost more than the parse itself.
    let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    match req.parse_with_uninit_headers(buf, &mut headers) {
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD_BYTES => Head::Rejected(TOO_LARGE),
        Ok(httparse::Status::Partial) => Head::Partial,
        Ok(httparse::Status::Complete(n)) if n > MAX_HEAD_BYTES => Head::Rejected(TOO_LARGE),
        Ok(httparse::Status::Complete(n)) => match check(&req) {
            Ok((framing, upgrade)) => Head::Valid { consumed: n, unfolded: None, framing, upgrade },
            Err(r) => Head::Rejected(r),
        },
        Err(httparse::Error::TooManyHeaders) => Head::Rejected(TOO_MANY),
        Err(httparse::Error::Version) => version_error(buf),
        Err(_) => unfolded(buf),
    }
}

/// A head httparse refused: valid after unfolding obs-fold (Envoy accepts it), still
/// incomplete, or rejected.
fn unfolded(buf: &BytesMut) -> Head {
    let (consumed, bytes) = match unfold(buf) {
        Unfold::Incomplete if buf.len() > MAX_HEAD_BYTES => return Head::Rejected(TOO_LARGE),
        Unfold::Incomplete => return Head::Partial,
        Unfold::Invalid => return Head::Rejected(CODEC_ERROR),
        Unfold::Folded(consumed, bytes) => (consumed, bytes),
    };
    if consumed > MAX_HEAD_BYTES {
        return Head::Rejected(TOO_LARGE);
    }
    let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    match req.parse_with_uninit_headers(&bytes, &mut headers) {
        Ok(httparse::Status::Complete(n)) if n == bytes.len() => match check(&req) {
            Ok((framing, upgrade)) => Head::Valid { consumed, unfolded: Some(Bytes::from(bytes)), framing, upgrade },
            Err(r) => Head::Rejected(r),
        },
        Err(httparse::Error::TooManyHeaders) => Head::Rejected(TOO_MANY),
        _ => Head::Rejected(CODEC_ERROR),
    }
}

/// What unfolding a head gave.
enum Unfold {
    /// No blank line yet, and a fold seen.
    Incomplete,
    /// No fold, or a fold right after the request line (there is no field to continue).
    Invalid,
    /// The input bytes the head took, and the head unfolded.
    Folded(usize, Vec<u8>),
}

/// Removes each line break followed by SP or HT inside the header section (obs-fold, RFC 9112
/// §5.2), keeping the whitespace, as Envoy does.
fn unfold(buf: &[u8]) -> Unfold {
    let Some(first) = buf.iter().position(|&b| b == b'\n').map(|p| p + 1) else { return Unfold::Invalid };
    let mut out = buf[..first].to_vec();
    let mut i = first;
    let mut folded = false;
    loop {
        let Some(end) = buf[i..].iter().position(|&b| b == b'\n').map(|p| i + p) else {
            // Wait for the rest only if a fold may be what httparse stumbled on.
            let folding = folded || buf.get(i).is_some_and(|b| matches!(b, b' ' | b'\t'));
            return if folding && i > first { Unfold::Incomplete } else { Unfold::Invalid };
        };
        let line = &buf[i..end];
        if line.is_empty() || line == b"\r" {
            out.extend_from_slice(&buf[i..=end]);
            return if folded { Unfold::Folded(end + 1, out) } else { Unfold::Invalid };
        }
        if matches!(line[0], b' ' | b'\t') {
            if i == first {
                return Unfold::Invalid;
            }
            // Drop the previous line's break (CRLF or LF) and keep this line's whitespace.
            out.pop();
            if out.last() == Some(&b'\r') {
                out.pop();
            }
            folded = true;
        }
        out.extend_from_slice(&buf[i..=end]);
        i = end + 1;
    }
}

/// Envoy answers 426 to any `HTTP/d.d` version it does not speak, 400 to garbage; a request
/// line still arriving is waited for.
fn version_error(buf: &[u8]) -> Head {
    let Some(line_end) = buf.iter().position(|&b| b == b'\n') else {
        return if buf.len() > MAX_HEAD_BYTES { Head::Rejected(TOO_LARGE) } else { Head::Partial };
    };
    let line = buf[..line_end].strip_suffix(b"\r").unwrap_or(&buf[..line_end]);
    let version = line.rsplit(|&b| b == b' ').next().unwrap_or_default();
    Head::Rejected(match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor] if major.is_ascii_digit() && minor.is_ascii_digit() => {
            LOW_VERSION
        }
        _ => CODEC_ERROR,
    })
}

/// Envoy's framing rules on a parsed head; the body framing, and whether it asks for an
/// upgrade, when it passes.
fn check(req: &httparse::Request<'_, '_>) -> Result<(Framing, bool), Rejection> {
    let path = req.path.unwrap_or_default();
    // hyper parses the target with `http::Uri`; one it cannot parse is a codec error too (in
    // origin form only `<`, `>` and a backtick pass httparse and fail there: checked cheaply).
    let uri_ok = match path.as_bytes().first() {
        Some(b'/') => !path.bytes().any(|b| matches!(b, b'<' | b'>' | b'`')),
        _ => http::Uri::try_from(path).is_ok(),
    };
    if !uri_ok || http::Method::from_bytes(req.method.unwrap_or_default().as_bytes()).is_err() {
        return Err(CODEC_ERROR);
    }
    let (mut te, mut te_count, mut cl, mut cl_count, mut upgrade) = (None, 0, None, 0, false);
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            te = Some(h.value);
            te_count += 1;
        } else if h.name.eq_ignore_ascii_case("content-length") {
            cl = Some(h.value);
            cl_count += 1;
        } else if h.name.eq_ignore_ascii_case("upgrade") {
            upgrade = true;
        }
    }
    let http11 = req.version == Some(1);
    if te.is_some() && !http11 {
        // HTTP/1.0 has no chunked coding (hyper refuses it too).
        return Err(CODEC_ERROR);
    }
    if te.is_some() && cl.is_some() {
        return Err(CL_AND_TE);
    }
    let upgrade = req.method == Some("CONNECT") || (upgrade && http11);
    if let Some(te) = te {
        let chunked = te_count == 1 && trim(te).eq_ignore_ascii_case(b"chunked");
        return if chunked { Ok((Framing::Chunked, upgrade)) } else { Err(BAD_TE) };
    }
    let length = match cl {
        Some(_) if cl_count > 1 => return Err(CODEC_ERROR),
        Some(v) => content_length(v).ok_or(CODEC_ERROR)?,
        None => 0,
    };
    Ok((if length == 0 { Framing::None } else { Framing::Length(length) }, upgrade))
}

/// Optional whitespace around a field value removed.
fn trim(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|b| !matches!(b, b' ' | b'\t')).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !matches!(b, b' ' | b'\t')).map_or(start, |e| e + 1);
    &v[start..end]
}

/// Digits only (leading zeros allowed, as Envoy does), no sign, no list, within u64.
fn content_length(v: &[u8]) -> Option<u64> {
    let digits = trim(v);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |n, d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> Head {
        parse(&BytesMut::from(text.as_bytes()))
    }

    fn rejected(text: &str) -> Option<&'static str> {
        match run(text) {
            Head::Rejected(r) => Some(r.details),
            _ => None,
        }
    }

    fn framing(text: &str) -> Option<Framing> {
        match run(text) {
            Head::Valid { framing, .. } => Some(framing),
            _ => None,
        }
    }

    fn upgrade(text: &str) -> bool {
        matches!(run(text), Head::Valid { upgrade: true, .. })
    }

    const H: &str = "Host: a\r\n";

    #[test]
    fn envoy_framing_rules() {
        let cl_te = format!("POST / HTTP/1.1\r\n{H}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(rejected(&cl_te), Some("http1.content_length_and_chunked_not_allowed"));
        let te_cl = format!("POST / HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n");
        assert_eq!(rejected(&te_cl), Some("http1.content_length_and_chunked_not_allowed"));
        for te in ["gzip, chunked", "identity", "chunked, chunked"] {
            let req = format!("POST / HTTP/1.1\r\n{H}Transfer-Encoding: {te}\r\n\r\n");
            assert_eq!(rejected(&req), Some("http1.invalid_transfer_encoding"), "{te}");
        }
        let two_te = format!("POST / HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(rejected(&two_te), Some("http1.invalid_transfer_encoding"));
        for cl in ["3\r\nContent-Length: 3", "3, 3", "+3", "-1", "0x3", "", "99999999999999999999999"] {
            let req = format!("POST / HTTP/1.1\r\n{H}Content-Length: {cl}\r\n\r\n");
            assert_eq!(rejected(&req), Some("http1.codec_error"), "{cl:?}");
        }
        let chunked = format!("POST / HTTP/1.1\r\n{H}Transfer-Encoding: CHUNKED\r\n\r\n");
        assert_eq!(framing(&chunked), Some(Framing::Chunked));
        assert_eq!(framing(&format!("POST / HTTP/1.1\r\n{H}Content-Length: 003\r\n\r\n")), Some(Framing::Length(3)));
        assert_eq!(framing(&format!("GET / HTTP/1.1\r\n{H}\r\n")), Some(Framing::None));
        assert!(upgrade("CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\n\r\n"));
        assert!(upgrade(&format!("GET / HTTP/1.1\r\n{H}Upgrade: websocket\r\n\r\n")));
        assert!(!upgrade(&format!("GET / HTTP/1.0\r\n{H}Upgrade: websocket\r\n\r\n")), "not in HTTP/1.0");
        assert!(!upgrade(&format!("GET / HTTP/1.1\r\n{H}\r\n")));
    }

    #[test]
    fn limits_and_versions() {
        let big = format!("GET / HTTP/1.1\r\n{H}x-big: {}\r\n\r\n", "a".repeat(70 * 1024));
        assert_eq!(rejected(&big), Some("http1.headers_too_large"));
        assert_eq!(rejected(&big[..65 * 1024]), Some("http1.headers_too_large"), "partial heads are bounded too");
        // Exactly 60 KiB passes, one byte more does not (Envoy's boundary, measured).
        let fixed = "GET / HTTP/1.1\r\nHost: recorder:9080\r\nx-big: \r\n\r\n".len();
        let edge = |n: usize| format!("GET / HTTP/1.1\r\nHost: recorder:9080\r\nx-big: {}\r\n\r\n", "a".repeat(n));
        assert!(framing(&edge(MAX_HEAD_BYTES - fixed)).is_some());
        assert_eq!(rejected(&edge(MAX_HEAD_BYTES - fixed + 1)), Some("http1.headers_too_large"));
        let many = |n: usize| format!("GET / HTTP/1.1\r\n{H}{}\r\n", "x-h: v\r\n".repeat(n));
        assert!(framing(&many(99)).is_some(), "Host + 99 = 100 headers pass");
        assert_eq!(rejected(&many(100)), Some("http1.too_many_headers"));
        assert_eq!(rejected(&format!("GET / HTTP/2.0\r\n{H}\r\n")), Some("low_version"));
        assert_eq!(rejected(&format!("GET / HTTP/9.9\r\n{H}\r\n")), Some("low_version"));
        assert_eq!(rejected(&format!("GET / HTTX/1.1\r\n{H}\r\n")), Some("http1.codec_error"));
        assert_eq!(framing(&format!("GET / HTTP/1.0\r\n{H}\r\n")), Some(Framing::None), "HTTP/1.0 is accepted");
        assert_eq!(
            rejected(&format!("POST / HTTP/1.0\r\n{H}Transfer-Encoding: chunked\r\n\r\n")),
            Some("http1.codec_error")
        );
    }

    #[test]
    fn bad_bytes_and_obs_fold() {
        for bad in ["X-A: a\0b", "X-A: a\rb", "X-A: a\x01b", "X-A: a\x7fb", "X A: b", "X-A : b"] {
            assert_eq!(rejected(&format!("GET / HTTP/1.1\r\n{H}{bad}\r\n\r\n")), Some("http1.codec_error"), "{bad:?}");
        }
        assert!(framing(&format!("GET / HTTP/1.1\r\n{H}X-A: a\tbé\r\n\r\n")).is_some());
        let folded = format!("GET / HTTP/1.1\r\n{H}X-A: a\r\n    b\r\n\tc\r\nX-B: d\r\n\r\nBODY");
        match run(&folded) {
            Head::Valid { consumed, unfolded: Some(bytes), .. } => {
                assert_eq!(consumed, folded.len() - 4);
                assert_eq!(&bytes[..], format!("GET / HTTP/1.1\r\n{H}X-A: a    b\tc\r\nX-B: d\r\n\r\n").as_bytes());
            }
            other => panic!("obs-fold is unfolded, not {other:?}"),
        }
        assert_eq!(rejected("GET / HTTP/1.1\r\n folded: x\r\n\r\n"), Some("http1.codec_error"));
        assert!(matches!(run("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\r\n b"), Head::Partial));
        assert_eq!(framing("GET / HTTP/1.1\nHost: a\n\n"), Some(Framing::None), "bare LF lines, as Envoy");
    }
}
