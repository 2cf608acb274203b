//! Upstream response bodies: HTTP/2 ones are hyper's, HTTP/1.1 ones are read here straight
//! from the connection by whoever polls the body (the downstream connection's task), with
//! their framing (`Content-Length`, chunked with trailers, or to the close). The moment the
//! last byte is handed out the connection goes back to its pool (or closes), with the
//! request's circuit-breaker permit and least-request count released, as Envoy does when a
//! response completes. A body dropped before its end closes the connection.

use super::h1::{Connection, Framing, READ_SIZE, poll_read_some, protocol_error};
use super::host::{Conn1, HostPool};
use crate::http::body::BoxError;
use crate::lb::ActiveGuard;
use crate::upstream::breakers::Permit;
use bytes::{Buf, Bytes};
use http::HeaderMap;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

/// A chunk-size line (with extensions) longer than this is a protocol error.
const MAX_CHUNK_LINE: usize = 4 * 1024;
/// Trailers larger than this are a protocol error.
const MAX_TRAILERS: usize = 64 * 1024;

/// An upstream response body.
#[derive(Debug)]
pub enum ResponseBody {
    /// Over HTTP/2 (hyper's client).
    H2(Incoming),
    /// Over HTTP/1.1, read from the connection it holds.
    H1(H1Body),
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            ResponseBody::H2(b) => Pin::new(b).poll_frame(cx).map(|f| f.map(|r| r.map_err(Into::into))),
            ResponseBody::H1(b) => b.poll(cx).map(|f| f.map(|r| r.map_err(Into::into))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::H2(b) => b.is_end_stream(),
            ResponseBody::H1(b) => b.state == State::Done,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::H2(b) => b.size_hint(),
            ResponseBody::H1(b) => match b.state {
                State::Done => SizeHint::with_exact(0),
                State::Length(n) => SizeHint::with_exact(n),
                _ => SizeHint::default(),
            },
        }
    }
}

/// What an HTTP/1.1 exchange holds until its response is read.
#[derive(Debug)]
pub(super) struct Lease {
    pub(super) conn: Conn1,
    pub(super) host: Arc<HostPool>,
    pub(super) permit: Permit,
    pub(super) active: Option<ActiveGuard>,
    pub(super) keep_alive: bool,
}

/// An HTTP/1.1 response body.
#[derive(Debug)]
pub struct H1Body {
    lease: Option<Lease>,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    /// This many bytes left.
    Length(u64),
    /// At a chunk-size line.
    ChunkSize,
    /// Inside a chunk: this many bytes left.
    ChunkData(u64),
    /// The CRLF after a chunk's data.
    ChunkEnd,
    /// After the last chunk: trailers, then a blank line.
    Trailers,
    /// Until the upstream closes.
    Close,
    /// Read to the end.
    Done,
}

/// What one step of decoding gave.
enum Step {
    Frame(Frame<Bytes>),
    /// More bytes are needed.
    Read,
    /// Nothing to hand out; go on.
    Again,
    /// The body ended without a frame to hand out.
    End,
}

impl H1Body {
    pub(super) fn new(lease: Lease, framing: Framing) -> Self {
        let state = state_of(framing);
        let mut body = H1Body { lease: Some(lease), state };
        if state == State::Done {
            body.finish();
        }
        body
    }

    /// A body that has already ended (after `101`).
    pub(super) fn ended() -> Self {
        H1Body { lease: None, state: State::Done }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        let Some(lease) = self.lease.as_mut() else { return Poll::Ready(None) };
        let out = ready!(poll_frame(&mut self.state, &mut lease.conn.io, cx));
        match &out {
            Some(Err(e)) => {
                tracing::debug!("upstream response body failed: {e}");
                self.state = State::Done;
                self.lease = None;
            }
            Some(Ok(_)) if self.state != State::Done => {}
            _ => self.finish(),
        }
        Poll::Ready(out)
    }

    /// The connection goes back to its pool (if it may) and the request stops counting.
    fn finish(&mut self) {
        self.state = State::Done;
        if let Some(lease) = self.lease.take() {
            let Lease { mut conn, host, permit, active, keep_alive } = lease;
            drop((permit, active));
            if keep_alive && conn.io.buf.is_empty() {
                // Nothing of this exchange stays allocated while the connection is idle.
                conn.io.buf = bytes::BytesMut::new();
                host.release_h1(conn);
            }
        }
    }
}

/// The next frame of a body in `state` read from `conn`.
fn poll_frame(
    state: &mut State,
    conn: &mut Connection,
    cx: &mut Context<'_>,
) -> Poll<Option<io::Result<Frame<Bytes>>>> {
    loop {
        let step = match decode(state, conn) {
            Ok(step) => step,
            Err(e) => return Poll::Ready(Some(Err(e))),
        };
        match step {
            Step::Frame(frame) => return Poll::Ready(Some(Ok(frame))),
            Step::End => return Poll::Ready(None),
            Step::Again => {}
            Step::Read => {
                let want = match *state {
                    State::Length(n) => (n as usize).min(READ_SIZE),
                    _ => READ_SIZE,
                };
                match ready!(poll_fill(conn, cx, want)) {
                    // Close-delimited: the end (the connection is spent: not kept alive).
                    Ok(0) if *state == State::Close => {
                        *state = State::Done;
                        return Poll::Ready(None);
                    }
                    Ok(0) => return Poll::Ready(Some(Err(io::ErrorKind::UnexpectedEof.into()))),
                    Ok(_) => {}
                    Err(e) => return Poll::Ready(Some(Err(e))),
                }
            }
        }
    }
}

fn state_of(framing: Framing) -> State {
    match framing {
        Framing::Empty | Framing::Upgrade => State::Done,
        Framing::Length(n) => State::Length(n),
        Framing::Chunked => State::ChunkSize,
        Framing::Close => State::Close,
    }
}

#[cfg(test)]
pub(super) fn test_state(framing: Framing) -> State {
    state_of(framing)
}

#[cfg(test)]
pub(super) fn test_poll(
    state: &mut State,
    conn: &mut Connection,
    cx: &mut Context<'_>,
) -> Poll<Option<io::Result<Frame<Bytes>>>> {
    poll_frame(state, conn, cx)
}

/// Reads into the connection's buffer (up to `want` more bytes).
fn poll_fill(conn: &mut Connection, cx: &mut Context<'_>, want: usize) -> Poll<io::Result<usize>> {
    poll_read_some(&mut conn.io, &mut conn.buf, cx, want)
}

/// One step of the body's framing over the bytes buffered so far.
fn decode(state: &mut State, conn: &mut Connection) -> io::Result<Step> {
    let buf = &mut conn.buf;
    match *state {
        State::Done => Ok(Step::End),
        State::Length(_) | State::ChunkData(_) | State::Close if buf.is_empty() => Ok(Step::Read),
        State::Length(n) => {
            let take = (n as usize).min(buf.len());
            let data = buf.split_to(take).freeze();
            *state = if n == take as u64 { State::Done } else { State::Length(n - take as u64) };
            Ok(Step::Frame(Frame::data(data)))
        }
        State::Close => Ok(Step::Frame(Frame::data(buf.split().freeze()))),
        State::ChunkData(n) => {
            let take = (n as usize).min(buf.len());
            let data = buf.split_to(take).freeze();
            *state = if n == take as u64 { State::ChunkEnd } else { State::ChunkData(n - take as u64) };
            Ok(Step::Frame(Frame::data(data)))
        }
        State::ChunkSize => {
            let Some(end) = find_crlf(buf) else {
                return if buf.len() > MAX_CHUNK_LINE {
                    Err(protocol_error("chunk size line"))
                } else {
                    Ok(Step::Read)
                };
            };
            let size = chunk_size(&buf[..end])?;
            buf.advance(end + 2);
            *state = if size == 0 { State::Trailers } else { State::ChunkData(size) };
            Ok(Step::Again)
        }
        State::ChunkEnd => {
            if buf.len() < 2 {
                return Ok(Step::Read);
            }
            if &buf[..2] != b"\r\n" {
                return Err(protocol_error("chunk data not followed by CRLF"));
            }
            buf.advance(2);
            *state = State::ChunkSize;
            Ok(Step::Again)
        }
        State::Trailers => trailers(state, conn),
    }
}

/// The trailer section after the last chunk (a frame only when there are trailers).
fn trailers(state: &mut State, conn: &mut Connection) -> io::Result<Step> {
    let buf = &mut conn.buf;
    if buf.starts_with(b"\r\n") {
        buf.advance(2);
        *state = State::Done;
        return Ok(Step::End);
    }
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() > MAX_TRAILERS { Err(protocol_error("trailers too large")) } else { Ok(Step::Read) };
    };
    let mut fields = [httparse::EMPTY_HEADER; 100];
    let parsed = httparse::parse_headers(&buf[..end + 4], &mut fields).map_err(|_| protocol_error("trailers"))?;
    let httparse::Status::Complete((_, fields)) = parsed else { return Err(protocol_error("trailers")) };
    let mut map = HeaderMap::with_capacity(fields.len());
    for f in fields {
        if let (Ok(n), Ok(v)) =
            (http::HeaderName::from_bytes(f.name.as_bytes()), http::HeaderValue::from_bytes(f.value))
        {
            map.append(n, v);
        }
    }
    buf.advance(end + 4);
    *state = State::Done;
    Ok(Step::Frame(Frame::trailers(map)))
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

/// The hex size of a chunk-size line (extensions after `;` ignored).
fn chunk_size(line: &[u8]) -> io::Result<u64> {
    let digits = line.split(|&b| b == b';').next().unwrap_or_default();
    let digits = digits.trim_ascii();
    if digits.is_empty() || digits.len() > 16 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return Err(protocol_error("chunk size"));
    }
    let text = std::str::from_utf8(digits).map_err(|_| protocol_error("chunk size"))?;
    u64::from_str_radix(text, 16).map_err(|_| protocol_error("chunk size"))
}
