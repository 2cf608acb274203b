//! The HTTP/1.1 side of an upstream connection, driven by the request that holds it: the
//! request head and body are written by the request's own task and the response is read by
//! whoever polls its body (the downstream connection), so an upstream connection costs its
//! socket and a few words — no driver task, no request channel, and no buffer while it is idle.
//! hyper's client connection keeps an 8 KiB read buffer, an 8 KiB write buffer, a task and a
//! request channel of 32 slots per connection for its whole life (~45 KB measured per
//! connection with 1,000 in use); Envoy's and HAProxy's hold buffers only while bytes are in
//! flight, and so does this.
//!
//! Framing follows RFC 9112 as hyper's client did, so upstreams see the same requests: the
//! request's own `Content-Length` or `Transfer-Encoding` is kept, a body of known size gets
//! `Content-Length`, one of unknown size is chunked (GET, HEAD and CONNECT send none). A
//! response has no body after HEAD or with 1xx/204/304; otherwise `Transfer-Encoding` ending in
//! `chunked`, then `Content-Length`, else it runs to the close. Interim 1xx responses other than
//! `101` are skipped (Envoy does not proxy them by default); a `101` hands the socket over.

use super::super::body::UpstreamBody;
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Version, header, response};
use hyper::body::Body;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// Response header fields accepted (Envoy's and hyper's default).
const MAX_HEADERS: usize = 100;
/// A response head larger than this is a protocol error.
const MAX_HEAD_BYTES: usize = 96 * 1024;
/// One read from an upstream socket: at most this much, through a per-thread scratch buffer.
pub(super) const READ_SIZE: usize = 16 * 1024;

thread_local! {
    /// Reads land here first and only the bytes that came are copied to the connection's
    /// buffer: a response in flight holds what it received (a 1 KiB response: ~1.3 KB), not a
    /// read-sized buffer, as HAProxy and Envoy size theirs to the data.
    static SCRATCH: std::cell::RefCell<Box<[u8]>> = std::cell::RefCell::new(vec![0; READ_SIZE].into_boxed_slice());
}

/// Reads up to `want` bytes from `io` onto the end of `buf`; Ok(0) at EOF. (Through
/// `poll_read`, which forgets the socket's readiness after a short read: the idle check
/// [`Connection::is_usable`] then costs no system call.)
pub(super) fn poll_read_some(
    io: &mut TcpStream,
    buf: &mut BytesMut,
    cx: &mut Context<'_>,
    want: usize,
) -> Poll<io::Result<usize>> {
    SCRATCH.with_borrow_mut(|scratch| {
        let mut read = ReadBuf::new(&mut scratch[..want.clamp(1, READ_SIZE)]);
        std::task::ready!(Pin::new(io).poll_read(cx, &mut read))?;
        buf.extend_from_slice(read.filled());
        Poll::Ready(Ok(read.filled().len()))
    })
}

/// An upstream HTTP/1.1 connection.
#[derive(Debug)]
pub(super) struct Connection {
    pub(super) io: TcpStream,
    /// Bytes read but not yet used; empty (and unallocated) between exchanges.
    pub(super) buf: BytesMut,
}

/// The response head and how its body is framed.
#[derive(Debug)]
pub(super) struct Head {
    pub(super) parts: response::Parts,
    pub(super) framing: Framing,
    /// The connection may take another request once the body is read.
    pub(super) keep_alive: bool,
}

/// How a response body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// No body.
    Empty,
    /// `Content-Length`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the upstream closes.
    Close,
    /// `101`: the connection is now the tunnel.
    Upgrade,
}

/// Why an exchange failed.
#[derive(Debug)]
pub(super) enum SendError {
    /// Nothing of the request left: it can go on another connection.
    NotSent(Request<UpstreamBody>),
    /// The exchange failed after the request (or part of it) was written.
    Failed(io::Error),
}

impl From<io::Error> for SendError {
    fn from(e: io::Error) -> Self {
        SendError::Failed(e)
    }
}

pub(super) fn protocol_error(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

impl Connection {
    pub(super) fn new(io: TcpStream) -> Self {
        Connection { io, buf: BytesMut::new() }
    }

    /// Whether an idle connection can take a request: the upstream has not closed it and sent
    /// nothing unasked (a peek at what the runtime already knows; no system call when nothing
    /// arrived).
    pub(super) fn is_usable(&self) -> bool {
        self.peek().is_pending()
    }

    /// Whether anything arrived or the upstream closed, from what the runtime knows (a
    /// non-blocking peek; no system call while the socket is not readable).
    fn peek(&self) -> Poll<io::Result<usize>> {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut byte = [0u8; 1];
        self.io.poll_peek(&mut cx, &mut ReadBuf::new(&mut byte))
    }

    /// Writes `req` and reads the response head (skipping interim responses).
    /// (The head is framed and encoded before the future is made, which then holds the
    /// request once.)
    pub(super) fn send(&mut self, req: Request<UpstreamBody>) -> impl Future<Output = Result<Head, SendError>> + '_ {
        let (mut parts, body) = req.into_parts();
        let framing = request_framing(&parts.method, &mut parts.headers, &body);
        let mut req = Request::from_parts(parts, body);
        let head = encode_head(&req);
        let head_request = req.method() == Method::HEAD;
        async move {
            let streamed = match framing {
                RequestFraming::None => false,
                RequestFraming::Length(_) => matches!(req.body(), UpstreamBody::Stream(..)),
                RequestFraming::Chunked => true,
            };
            if streamed {
                if let Err(e) = self.io.write_all(&head).await {
                    tracing::debug!("upstream request head not written: {e}");
                    return Err(SendError::NotSent(req));
                }
                drop(head);
                match self.write_body(req.into_body(), framing).await {
                    Ok(()) => {}
                    Err(Cut::Downstream(e)) => return Err(SendError::Failed(e)),
                    // The upstream answered (or closed) before taking the whole body: its answer, if
                    // it sent one, is the response (as Envoy relays an early 413), and the
                    // connection is done.
                    Err(Cut::Upstream(e)) => {
                        let mut head = self.read_head(head_request).await.map_err(|_| SendError::Failed(e))?;
                        head.keep_alive = false;
                        return Ok(head);
                    }
                }
            } else {
                // A body of known bytes goes with the head in one write.
                let body = match req.body_mut() {
                    UpstreamBody::Full(b) if framing != RequestFraming::None => b.take(),
                    _ => None,
                };
                let mut parts = [IoSlice::new(&head), IoSlice::new(body.as_deref().unwrap_or_default())];
                if let Err(e) = write_all_vectored(&mut self.io, &mut parts).await {
                    tracing::debug!("upstream request not written: {e}");
                    if let (UpstreamBody::Full(slot), Some(b)) = (req.body_mut(), body) {
                        *slot = Some(b);
                    }
                    return Err(SendError::NotSent(req));
                }
                // Nothing of the request is needed while the response is awaited.
                drop((head, req));
            }
            self.read_head(head_request).await.map_err(SendError::Failed)
        }
    }

    /// Streams the request body with its framing, until its end or until the upstream answers.
    async fn write_body(&mut self, body: UpstreamBody, framing: RequestFraming) -> Result<(), Cut> {
        let mut body = std::pin::pin!(body);
        let chunked = framing == RequestFraming::Chunked;
        let mut left = match framing {
            RequestFraming::Length(n) => n,
            _ => u64::MAX,
        };
        while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
            let frame = frame.map_err(|e| Cut::Downstream(io::Error::other(format!("request body: {e}"))))?;
            let Ok(data) = frame.into_data() else { continue };
            if data.is_empty() {
                continue;
            }
            if self.answered() {
                return Err(Cut::Upstream(protocol_error("upstream answered before the request body ended")));
            }
            if chunked {
                let size = format!("{:x}\r\n", data.len());
                let mut parts = [IoSlice::new(size.as_bytes()), IoSlice::new(&data), IoSlice::new(b"\r\n")];
                write_all_vectored(&mut self.io, &mut parts).await.map_err(Cut::Upstream)?;
            } else {
                let n = data.len() as u64;
                if n > left {
                    return Err(Cut::Downstream(protocol_error("request body longer than its content-length")));
                }
                left -= n;
                self.io.write_all(&data).await.map_err(Cut::Upstream)?;
            }
        }
        if chunked {
            self.io.write_all(b"0\r\n\r\n").await.map_err(Cut::Upstream)?;
        } else if left != 0 && left != u64::MAX {
            return Err(Cut::Downstream(protocol_error("request body shorter than its content-length")));
        }
        Ok(())
    }

    /// Whether the upstream sent something (an early response) while the body is still going.
    fn answered(&self) -> bool {
        matches!(self.peek(), Poll::Ready(Ok(n)) if n > 0)
    }

    /// Reads until a final response head is parsed.
    async fn read_head(&mut self, head_request: bool) -> io::Result<Head> {
        loop {
            if !self.buf.is_empty()
                && let Some(head) = parse_head(&mut self.buf, head_request)?
            {
                if head.parts.status.is_informational() && head.parts.status != StatusCode::SWITCHING_PROTOCOLS {
                    continue;
                }
                return Ok(head);
            }
            if self.buf.len() >= MAX_HEAD_BYTES {
                return Err(protocol_error("response head too large"));
            }
            let read = std::future::poll_fn(|cx| poll_read_some(&mut self.io, &mut self.buf, cx, READ_SIZE)).await;
            if read? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "upstream closed before the response"));
            }
        }
    }
}

/// Which side cut a request body short.
#[derive(Debug)]
enum Cut {
    /// The downstream body failed (the client went away, or its framing broke).
    Downstream(io::Error),
    /// Writing to the upstream failed, or it answered first.
    Upstream(io::Error),
}

/// How the request body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RequestFraming {
    None,
    Length(u64),
    Chunked,
}

/// hyper's client rules for the request's length headers (see the module comment).
fn request_framing(method: &Method, headers: &mut HeaderMap, body: &UpstreamBody) -> RequestFraming {
    if body.is_end_stream() {
        headers.remove(header::TRANSFER_ENCODING);
        return RequestFraming::None;
    }
    let length = content_length(headers);
    if headers.contains_key(header::TRANSFER_ENCODING) {
        if !is_chunked(headers) {
            headers.append(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        }
        headers.remove(header::CONTENT_LENGTH);
        return RequestFraming::Chunked;
    }
    if let Ok(Some(n)) = length {
        return RequestFraming::Length(n);
    }
    if let Some(n) = body.size_hint().exact() {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
        return RequestFraming::Length(n);
    }
    if matches!(*method, Method::GET | Method::HEAD | Method::CONNECT) {
        return RequestFraming::None;
    }
    headers.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
    headers.remove(header::CONTENT_LENGTH);
    RequestFraming::Chunked
}

/// `METHOD target HTTP/1.1`, the headers as they are (lower-case names), a blank line.
fn encode_head(req: &Request<UpstreamBody>) -> Vec<u8> {
    let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let method = req.method().as_str();
    let fields: usize = req.headers().iter().map(|(n, v)| n.as_str().len() + v.len() + 4).sum();
    let mut out = Vec::with_capacity(method.len() + target.len() + 13 + fields + 2);
    for part in [method.as_bytes(), b" ", target.as_bytes(), b" HTTP/1.1\r\n"] {
        out.extend_from_slice(part);
    }
    for (name, value) in req.headers() {
        for part in [name.as_str().as_bytes(), b": ", value.as_bytes(), b"\r\n"] {
            out.extend_from_slice(part);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

async fn write_all_vectored(io: &mut TcpStream, mut parts: &mut [IoSlice<'_>]) -> io::Result<()> {
    IoSlice::advance_slices(&mut parts, 0);
    while !parts.is_empty() {
        let n = io.write_vectored(parts).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut parts, n);
    }
    Ok(())
}

/// Parses a response head off the front of `buf` (None: incomplete). Header values share the
/// head's bytes, as hyper's do.
fn parse_head(buf: &mut BytesMut, head_request: bool) -> io::Result<Option<Head>> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut spans = [(0usize, 0usize, 0usize, 0usize); MAX_HEADERS];
    let mut res = httparse::Response::new(&mut fields);
    let base = buf.as_ptr() as usize;
    let len = match res.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => {
            tracing::debug!("invalid upstream response head: {e}");
            return Err(protocol_error("invalid response head"));
        }
    };
    let status = res.code.and_then(|c| StatusCode::from_u16(c).ok()).ok_or_else(|| protocol_error("status"))?;
    let version = if res.version == Some(0) { Version::HTTP_10 } else { Version::HTTP_11 };
    let count = res.headers.len();
    for (span, h) in spans.iter_mut().zip(res.headers.iter()) {
        let name = h.name.as_ptr() as usize - base;
        let value = h.value.as_ptr() as usize - base;
        *span = (name, name + h.name.len(), value, value + h.value.len());
    }
    let head = buf.split_to(len).freeze();
    let mut headers = HeaderMap::with_capacity(count);
    for &(n0, n1, v0, v1) in &spans[..count] {
        let name = HeaderName::from_bytes(&head[n0..n1]).map_err(|_| protocol_error("header name"))?;
        let value = HeaderValue::from_maybe_shared(head.slice(v0..v1)).map_err(|_| protocol_error("header value"))?;
        headers.append(name, value);
    }
    let (framing, keep_alive) = framing(status, version, &mut headers, head_request)?;
    let mut parts = http::Response::new(()).into_parts().0;
    (parts.status, parts.version, parts.headers) = (status, version, headers);
    Ok(Some(Head { parts, framing, keep_alive }))
}

/// The body's framing and whether the connection stays open after it.
fn framing(
    status: StatusCode,
    version: Version,
    headers: &mut HeaderMap,
    head_request: bool,
) -> io::Result<(Framing, bool)> {
    let tokens = |token: &str| {
        headers
            .get_all(header::CONNECTION)
            .iter()
            .any(|v| v.to_str().is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token))))
    };
    let keep_alive = match version {
        Version::HTTP_10 => tokens("keep-alive"),
        _ => !tokens("close"),
    };
    if status == StatusCode::SWITCHING_PROTOCOLS {
        return Ok((Framing::Upgrade, false));
    }
    if head_request || status.is_informational() || matches!(status.as_u16(), 204 | 304) {
        return Ok((Framing::Empty, keep_alive));
    }
    if headers.contains_key(header::TRANSFER_ENCODING) {
        if version == Version::HTTP_10 {
            return Err(protocol_error("transfer-encoding in an HTTP/1.0 response"));
        }
        headers.remove(header::CONTENT_LENGTH);
        return Ok(if is_chunked(headers) { (Framing::Chunked, keep_alive) } else { (Framing::Close, false) });
    }
    match content_length(headers) {
        Ok(Some(n)) => Ok((if n == 0 { Framing::Empty } else { Framing::Length(n) }, keep_alive)),
        Ok(None) => Ok((Framing::Close, false)),
        Err(()) => Err(protocol_error("invalid content-length")),
    }
}

/// Whether the last transfer coding is `chunked`.
fn is_chunked(headers: &HeaderMap) -> bool {
    let last = headers.get_all(header::TRANSFER_ENCODING).iter().next_back();
    last.and_then(|v| v.to_str().ok())
        .and_then(|s| s.rsplit(',').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("chunked"))
}

/// Every `Content-Length` value (comma lists included) must be the same number.
fn content_length(headers: &HeaderMap) -> Result<Option<u64>, ()> {
    let mut found = None;
    for value in headers.get_all(header::CONTENT_LENGTH) {
        for part in value.to_str().map_err(|_| ())?.split(',') {
            let part = part.trim();
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(());
            }
            let n: u64 = part.parse().map_err(|_| ())?;
            if found.is_some_and(|f| f != n) {
                return Err(());
            }
            found = Some(n);
        }
    }
    Ok(found)
}

/// The upstream side of a tunnel after `101`: bytes that came with the response first, then the
/// socket. It holds what the exchange held (the connection's circuit-breaker permit, the
/// request's) until the tunnel ends.
#[derive(Debug)]
pub struct Upgraded {
    pub(super) io: TcpStream,
    pub(super) leftover: Bytes,
    pub(super) _held: Box<dyn std::any::Any + Send + Sync>,
}

impl AsyncRead for Upgraded {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.leftover.is_empty() {
            let n = this.leftover.len().min(buf.remaining());
            buf.put_slice(&this.leftover.split_to(n));
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

write_through!(Upgraded, io);

#[cfg(test)]
#[path = "h1_tests.rs"]
mod tests;
