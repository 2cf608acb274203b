//! Body types of the proxy path, as enums rather than boxed trait objects (no allocation per
//! request): [`UpstreamBody`] carries the request to the upstream (empty, buffered so that
//! retries can replay it, or streamed once while counting bytes) and [`DownstreamBody`]
//! carries the response back (streamed from the upstream or a local reply) and, when its last
//! byte is sent (or the client goes away), finishes the request's access log record with the
//! byte counts and the duration.

use super::client::ResponseBody;
use crate::access_log::Record;
use crate::state::Shared;
use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Instant;

/// The error type of our bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request body on its way upstream.
#[derive(Debug)]
pub enum UpstreamBody {
    /// Bytes known up front (empty, or buffered for retries).
    Full(Option<Bytes>),
    /// The downstream body, streamed once.
    Stream(Incoming, Arc<AtomicU64>),
}

impl UpstreamBody {
    /// An empty body.
    pub fn empty() -> Self {
        UpstreamBody::Full(None)
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            UpstreamBody::Full(bytes) => {
                Poll::Ready(bytes.take().filter(|b| !b.is_empty()).map(|b| Ok(Frame::data(b))))
            }
            UpstreamBody::Stream(incoming, received) => {
                let frame = ready!(Pin::new(incoming).poll_frame(cx));
                if let Some(Ok(f)) = &frame
                    && let Some(data) = f.data_ref()
                {
                    received.fetch_add(data.len() as u64, Ordering::Relaxed);
                }
                Poll::Ready(frame.map(|r| r.map_err(Into::into)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            UpstreamBody::Full(b) => b.as_ref().is_none_or(Bytes::is_empty),
            UpstreamBody::Stream(i, _) => i.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            UpstreamBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            UpstreamBody::Stream(i, _) => i.size_hint(),
        }
    }
}

/// A response body on its way downstream.
#[derive(Debug)]
pub struct DownstreamBody {
    inner: Inner,
    log: Option<Completion>,
}

#[derive(Debug)]
enum Inner {
    Full(Option<Bytes>),
    Upstream(ResponseBody),
}

/// The pending access log record of a request, finished when the response ends.
#[derive(Debug)]
pub struct Completion {
    /// The record so far.
    pub record: Record,
    /// When the request started.
    pub started: Instant,
    /// Request body bytes counter.
    pub received: Arc<AtomicU64>,
    /// Response body bytes so far.
    pub sent: u64,
    /// Where to log.
    pub shared: Arc<Shared>,
}

impl Completion {
    fn finish(mut self) {
        self.record.bytes_received = self.received.load(Ordering::Relaxed);
        self.record.bytes_sent = self.sent;
        self.record.duration_ms = self.started.elapsed().as_millis() as u64;
        self.shared.access_log.complete(&self.record);
    }
}

impl DownstreamBody {
    /// A local reply body.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        DownstreamBody { inner: Inner::Full(Some(bytes.into())), log: None }
    }

    /// The upstream's body.
    pub fn upstream(body: ResponseBody) -> Self {
        DownstreamBody { inner: Inner::Upstream(body), log: None }
    }

    /// Logs `completion` when this body ends (None: no access log).
    pub fn with_log(mut self, completion: Option<Completion>) -> Self {
        self.log = completion;
        if self.is_end_stream() {
            self.finish();
        }
        self
    }

    fn finish(&mut self) {
        if let Some(c) = self.log.take() {
            c.finish();
        }
    }
}

impl Drop for DownstreamBody {
    fn drop(&mut self) {
        // The client went away before the end (or the body was never polled): log anyway,
        // with what was sent.
        self.finish();
    }
}

impl Body for DownstreamBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let frame = match &mut this.inner {
            Inner::Full(bytes) => bytes.take().filter(|b| !b.is_empty()).map(|b| Ok(Frame::data(b))),
            Inner::Upstream(upstream) => ready!(Pin::new(upstream).poll_frame(cx)),
        };
        if let (Some(Ok(f)), Some(log)) = (&frame, this.log.as_mut()) {
            if let Some(data) = f.data_ref() {
                log.sent += data.len() as u64;
            } else if let Some(trailers) = f.trailers_ref()
                && let Some(status) = crate::metrics::labels::grpc_status_header(trailers.get("grpc-status"))
            {
                // gRPC's status arrives in the trailers (Istio's `grpc_response_status`).
                log.record.meta.grpc_status = Some(status);
            }
        }
        if frame.is_none() || this.is_end_stream() {
            this.finish();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Full(b) => b.as_ref().is_none_or(Bytes::is_empty),
            Inner::Upstream(i) => i.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Inner::Upstream(i) => i.size_hint(),
        }
    }
}
