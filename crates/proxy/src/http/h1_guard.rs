//! The HTTP/1 guard: an IO wrapper between the downstream socket and hyper that checks every
//! request head with Envoy's rules ([`super::h1_head`]) before hyper reads it, and follows
//! each body's framing (length or [`super::chunked`]) to know where the next head starts.
//!
//! A head Envoy would reject never reaches hyper: the guard hands hyper a stand-in request
//! (`GET / HTTP/1.1`, `connection: close`) and records the [`Rejection`] for it in the
//! connection's [`Verdicts`]; the request handler answers that request with Envoy's local reply
//! and access log line, in order after any pipelined requests before it, and hyper closes the
//! connection. Nothing after a rejected head is read, so no smuggled request can follow it. A
//! chunked body that breaks its framing becomes a read error (hyper fails the body, so the
//! upstream request is reset) and is noted for the handler, which answers 400 as Envoy does.
//! After CONNECT or an upgrade request the guard reads nothing more until the handler says
//! whether the upgrade happened ([`Verdicts::upgrade_answered`]): if it did, the bytes are not
//! HTTP/1 any more and pass untouched; if not, checking goes on with the next head. An HTTP/2
//! prior-knowledge connection (detected by its preface) on an auto-codec listener passes
//! untouched too.

use super::chunked::{Chunked, Scan};
use super::h1_head::{self, Framing, Head, Rejection};
use bytes::{Buf, Bytes, BytesMut};
use std::io;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker, ready};
use tokio::io::{AsyncRead, ReadBuf};

/// The HTTP/2 connection preface.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// What hyper reads in place of a rejected head.
const STAND_IN: &[u8] = b"GET / HTTP/1.1\r\nhost: -\r\nconnection: close\r\n\r\n";

/// What the guard tells the request handler about its connection.
#[derive(Debug, Default)]
pub struct Verdicts {
    rejected: Mutex<Option<(u64, Rejection)>>,
    body_error: AtomicBool,
    /// The answer to the last upgrade request, and the guard waiting for it.
    upgrade: Mutex<(Option<bool>, Option<Waker>)>,
}

impl Verdicts {
    /// The rejection request number `seq` (from 1) of the connection stands in for.
    pub fn rejection(&self, seq: u64) -> Option<Rejection> {
        let rejected = self.rejected.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        rejected.filter(|(s, _)| *s == seq).map(|(_, r)| r)
    }

    /// Whether a request body on the connection broke its chunked framing.
    pub fn body_error(&self) -> bool {
        self.body_error.load(Ordering::Relaxed)
    }

    /// Tells the guard how an upgrade request (CONNECT, or `Upgrade` in HTTP/1.1) was answered:
    /// `upgraded` when the connection is now a tunnel (101, or 2xx to CONNECT).
    pub fn upgrade_answered(&self, upgraded: bool) {
        let mut u = self.upgrade.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        u.0 = Some(upgraded);
        if let Some(waker) = u.1.take() {
            waker.wake();
        }
    }

    /// The answer to the pending upgrade request, or None (and `waker` woken on the answer).
    fn upgrade_outcome(&self, waker: &Waker) -> Option<bool> {
        let mut u = self.upgrade.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let answer = u.0.take();
        if answer.is_none() {
            u.1 = Some(waker.clone());
        }
        answer
    }
}

#[derive(Debug)]
enum State {
    /// At the start of a request head.
    Head,
    /// Inside a body of this many more bytes.
    Length(u64),
    /// Inside a chunked body.
    Chunked(Chunked),
    /// After an upgrade request, until the handler answers it.
    AwaitUpgrade,
    /// Not HTTP/1 any more: bytes pass untouched.
    Opaque,
    /// A head was rejected (or a body broken): nothing more is read.
    Stopped,
    /// The client closed.
    Eof,
}

/// A downstream connection with its HTTP/1 input checked.
#[derive(Debug)]
pub struct Guard<T> {
    io: T,
    state: State,
    /// Read from the socket, not yet checked.
    pending: BytesMut,
    /// How far `pending` was searched for the end of a head.
    searched: usize,
    /// Checked, not yet handed to hyper.
    out: Bytes,
    /// Heads handed to hyper so far (stand-ins included).
    heads: u64,
    /// Whether the current message asked for an upgrade.
    upgrade: bool,
    /// Whether an HTTP/2 preface may open the connection.
    h2_allowed: bool,
    verdicts: std::sync::Arc<Verdicts>,
}

impl<T> Guard<T> {
    /// Guards `io`; `h2_allowed` when the listener also speaks HTTP/2 prior knowledge.
    pub fn new(io: T, verdicts: std::sync::Arc<Verdicts>, h2_allowed: bool) -> Self {
        Guard {
            io,
            state: State::Head,
            pending: BytesMut::new(),
            searched: 0,
            out: Bytes::new(),
            heads: 0,
            upgrade: false,
            h2_allowed,
            verdicts,
        }
    }

    /// Tries to take a head off `pending`; false when more bytes are needed.
    fn next_head(&mut self) -> bool {
        if self.heads == 0 && self.h2_allowed {
            let n = self.pending.len().min(PREFACE.len());
            if self.pending[..n] == PREFACE[..n] {
                if n == PREFACE.len() {
                    self.state = State::Opaque;
                }
                return n == PREFACE.len();
            }
        }
        // Parse only once a blank line may have arrived (or the size limit is passed), so a
        // head trickling in is not parsed again for every byte.
        let from = self.searched.saturating_sub(2);
        self.searched = self.pending.len();
        if !has_blank_line(&self.pending, from) && self.pending.len() <= h1_head::MAX_HEAD_BYTES {
            return false;
        }
        match h1_head::parse(&self.pending) {
            Head::Partial => false,
            Head::Valid { consumed, unfolded, framing, upgrade } => {
                let head = self.pending.split_to(consumed).freeze();
                self.out = unfolded.unwrap_or(head);
                self.searched = 0;
                self.heads += 1;
                self.upgrade = upgrade;
                self.state = match framing {
                    Framing::None => self.after_message(),
                    Framing::Length(n) => State::Length(n),
                    Framing::Chunked => State::Chunked(Chunked::default()),
                };
                true
            }
            Head::Rejected(r) => {
                self.heads += 1;
                *self.verdicts.rejected.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                    Some((self.heads, r));
                self.out = Bytes::from_static(STAND_IN);
                self.stop();
                true
            }
        }
    }

    /// What follows a complete request.
    fn after_message(&self) -> State {
        if self.upgrade { State::AwaitUpgrade } else { State::Head }
    }

    fn stop(&mut self) {
        self.state = State::Stopped;
        self.pending = BytesMut::new();
    }

    /// How many of `input`'s bytes belong to the current body; moves on to the next head
    /// when the body ends.
    fn body_part(&mut self, input: &[u8]) -> io::Result<usize> {
        let used = match &mut self.state {
            State::Length(left) => {
                let n = (*left).min(input.len() as u64);
                *left -= n;
                if *left == 0 {
                    self.state = self.after_message();
                }
                n as usize
            }
            State::Chunked(c) => match c.scan(input) {
                Ok(Scan::More) => input.len(),
                Ok(Scan::Done(n)) => {
                    self.state = self.after_message();
                    n
                }
                Err(_) => {
                    self.verdicts.body_error.store(true, Ordering::Relaxed);
                    self.stop();
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "invalid chunked request body"));
                }
            },
            _ => input.len(),
        };
        Ok(used)
    }
}

/// Whether `buf` has an empty line (`\n\n` or `\n\r\n`) starting at or after `from`.
fn has_blank_line(buf: &[u8], from: usize) -> bool {
    let mut i = from;
    while let Some(p) = buf.get(i..).and_then(|rest| rest.iter().position(|&b| b == b'\n')) {
        let next = i + p + 1;
        match buf.get(next) {
            Some(b'\n') => return true,
            Some(b'\r') if buf.get(next + 1) == Some(&b'\n') => return true,
            _ => i = next,
        }
    }
    false
}

impl<T: AsyncRead + Unpin> Guard<T> {
    /// Reads from the socket into `pending` (through `buf`'s free space); false at EOF.
    fn fill(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<bool>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.io).poll_read(cx, buf))?;
        let got = &buf.filled()[before..];
        if got.is_empty() {
            return Poll::Ready(Ok(false));
        }
        self.pending.extend_from_slice(got);
        buf.set_filled(before);
        Poll::Ready(Ok(true))
    }

    /// Reads body bytes straight into hyper's buffer, keeping back any that follow the body.
    fn read_body(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.io).poll_read(cx, buf))?;
        let got = buf.filled().len() - before;
        if got == 0 {
            // EOF inside a body: hyper sees it and fails the request.
            self.state = State::Eof;
            return Poll::Ready(Ok(()));
        }
        let used = match self.body_part(&buf.filled()[before..]) {
            Ok(n) => n,
            Err(e) => {
                buf.set_filled(before);
                return Poll::Ready(Err(e));
            }
        };
        if used < got {
            self.pending.extend_from_slice(&buf.filled()[before + used..]);
            buf.set_filled(before + used);
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Guard<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            if !this.out.is_empty() {
                let n = this.out.len().min(buf.remaining());
                buf.put_slice(&this.out[..n]);
                this.out.advance(n);
                return Poll::Ready(Ok(()));
            }
            match this.state {
                State::Eof => return Poll::Ready(Ok(())),
                // hyper answers the stand-in and closes; it is never woken to read again.
                State::Stopped => return Poll::Pending,
                State::AwaitUpgrade => match this.verdicts.upgrade_outcome(cx.waker()) {
                    Some(true) => this.state = State::Opaque,
                    Some(false) => (this.upgrade, this.state) = (false, State::Head),
                    None => return Poll::Pending,
                },
                State::Opaque if this.pending.is_empty() => return Pin::new(&mut this.io).poll_read(cx, buf),
                State::Opaque => this.out = this.pending.split().freeze(),
                State::Head => {
                    if !this.pending.is_empty() && this.next_head() {
                        continue;
                    }
                    if !ready!(this.fill(cx, buf))? {
                        // A head cut short by EOF is dropped, as Envoy does.
                        this.state = State::Eof;
                        this.pending = BytesMut::new();
                    }
                }
                State::Length(_) | State::Chunked(_) if this.pending.is_empty() => return this.read_body(cx, buf),
                State::Length(_) | State::Chunked(_) => {
                    let mut input = std::mem::take(&mut this.pending);
                    let used = this.body_part(&input)?;
                    this.out = input.split_to(used).freeze();
                    this.pending = input;
                }
            }
        }
    }
}

write_through!(Guard<T>, io, T);

#[cfg(test)]
#[path = "h1_guard_tests.rs"]
mod tests;
