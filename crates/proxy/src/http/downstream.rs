//! Checks on a downstream request before it is routed, with Envoy 1.40's answers: the stand-in
//! for a head [`super::h1_guard`] rejected gets that rejection's local reply (logged as Envoy
//! logs a codec error: `"- - HTTP/1.1" 400 DPE http1.…`, no method, path or request id); an
//! HTTP/1.1 request without `Host` gets 400 `missing_host_header` with an empty body; two `Host`
//! headers are joined with a comma into one, as Envoy does (such an authority matches no
//! virtual host, so it never reaches a service's upstream with two hosts). A request body that
//! broke its chunked framing turns whatever failure followed into Envoy's 400 `DPE`. An HTTP/2
//! request over Envoy's header limits (more than 100 fields, pseudo-headers included, or more
//! than 60 KiB) has its stream reset, logged `"- - HTTP/2" 0 DR http2.too_many_headers` as
//! Envoy logs it (h2 itself answers 431 to header blocks well past the limit).

use super::body::DownstreamBody;
use super::h1_head::{MAX_HEAD_BYTES, MAX_HEADERS, Rejection};
use super::proxy::{Conn, Exchange, reply};
use http::{HeaderValue, Request, Response, Version, header};
use hyper::body::Incoming;
use std::sync::atomic::Ordering;

/// A request answered before routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Early {
    /// The stand-in for a head Envoy's codec would reject.
    Rejected(Rejection),
    /// HTTP/1.1 without `Host` (and no absolute-form target).
    MissingHost,
    /// An HTTP/2 stream to reset, with Envoy's details.
    Reset(&'static str),
}

/// The error that makes hyper reset an HTTP/2 stream (`INTERNAL_ERROR`, as Envoy).
#[derive(Debug)]
pub struct StreamReset(pub &'static str);

impl std::fmt::Display for StreamReset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stream reset: {}", self.0)
    }
}

impl std::error::Error for StreamReset {}

/// Whether a request asks for the connection to become a tunnel (hyper's rule: CONNECT, or
/// `Upgrade` in HTTP/1.1), which the HTTP/1 guard waits to hear the answer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upgrade {
    /// An ordinary request.
    No,
    /// CONNECT: a 2xx makes the tunnel.
    Connect,
    /// `Upgrade`: a 101 switches protocols.
    Switch,
}

impl Upgrade {
    /// What `req` asks for.
    pub fn of(req: &Request<Incoming>) -> Self {
        if req.method() == http::Method::CONNECT {
            Upgrade::Connect
        } else if req.version() == Version::HTTP_11 && req.headers().contains_key(header::UPGRADE) {
            Upgrade::Switch
        } else {
            Upgrade::No
        }
    }

    /// Tells the guard whether `response` turned the connection into a tunnel.
    pub fn answered(self, response: &Response<DownstreamBody>, conn: &Conn) {
        let status = response.status();
        match self {
            Upgrade::No => {}
            Upgrade::Connect => conn.verdicts.upgrade_answered(status.is_success()),
            Upgrade::Switch => conn.verdicts.upgrade_answered(status == http::StatusCode::SWITCHING_PROTOCOLS),
        }
    }
}

/// Counts the request on its connection and checks it; joins repeated `Host` headers.
pub fn screen(req: &mut Request<Incoming>, conn: &Conn) -> Option<Early> {
    let seq = conn.requests.fetch_add(1, Ordering::Relaxed) + 1;
    if let Some(r) = conn.verdicts.rejection(seq) {
        return Some(Early::Rejected(r));
    }
    if req.version() == Version::HTTP_2 {
        return h2_limits(req);
    }
    let hosts = req.headers().get_all(header::HOST).iter().count();
    if hosts > 1 {
        let joined: Vec<&[u8]> = req.headers().get_all(header::HOST).iter().map(HeaderValue::as_bytes).collect();
        if let Ok(v) = HeaderValue::from_bytes(&joined.join(&b","[..])) {
            req.headers_mut().insert(header::HOST, v);
        }
    }
    let http1 = matches!(req.version(), Version::HTTP_10 | Version::HTTP_11);
    (http1 && hosts == 0 && req.uri().authority().is_none()).then_some(Early::MissingHost)
}

/// Envoy's `max_request_headers_count` and `_kb` on an HTTP/2 request, pseudo-headers counted.
fn h2_limits(req: &Request<Incoming>) -> Option<Early> {
    let uri = req.uri();
    let pseudo = [
        Some((":method", req.method().as_str())),
        uri.scheme_str().map(|s| (":scheme", s)),
        uri.authority().map(|a| (":authority", a.as_str())),
        uri.path_and_query().map(|p| (":path", p.as_str())),
    ];
    let pseudo = pseudo.iter().flatten();
    let count = req.headers().len() + pseudo.clone().count();
    let bytes = pseudo.map(|(n, v)| n.len() + v.len()).sum::<usize>()
        + req.headers().iter().map(|(n, v)| n.as_str().len() + v.len()).sum::<usize>();
    if count > MAX_HEADERS {
        Some(Early::Reset("http2.too_many_headers"))
    } else if bytes > MAX_HEAD_BYTES {
        Some(Early::Reset("http2.header_list_size_too_large"))
    } else {
        None
    }
}

/// Envoy's answer to an early request, recorded in the access log.
pub fn answer(early: Early, ex: &mut Exchange) -> Response<DownstreamBody> {
    let r = &mut ex.record;
    let response = match early {
        Early::Rejected(rejection) => {
            // Envoy's codec error line: nothing from the request is known.
            (r.method, r.path, r.authority, r.request_id, r.user_agent, r.x_forwarded_for) =
                (None, None, None, None, None, None);
            r.protocol = Some("HTTP/1.1");
            r.flags = "DPE";
            r.details = rejection.details.to_string();
            r.status = rejection.status;
            reply(rejection.status, bytes::Bytes::from_static(rejection.body().as_bytes()), None)
        }
        Early::Reset(details) => {
            (r.method, r.path, r.authority, r.request_id, r.user_agent, r.x_forwarded_for) =
                (None, None, None, None, None, None);
            (r.flags, r.details, r.status) = ("DR", details.to_string(), 0);
            // Never sent: the stream is reset instead.
            return reply(400, bytes::Bytes::new(), None);
        }
        Early::MissingHost => {
            (r.authority, r.request_id) = (None, None);
            r.details = "missing_host_header".into();
            r.status = 400;
            reply(400, bytes::Bytes::new(), None)
        }
    };
    closing(response)
}

/// Envoy's 400 for a request whose body broke its framing, in place of the failure it caused
/// upstream (the upstream host and cluster stay in the record, as in Envoy's line).
pub fn broken_body(ex: &mut Exchange) -> Response<DownstreamBody> {
    let r = &mut ex.record;
    r.flags = "DPE";
    r.details = "http1.codec_error".into();
    r.transport_failure.clear();
    r.status = 400;
    closing(reply(400, bytes::Bytes::from_static(b"Bad Request"), None))
}

/// The connection closes after this response, as after every Envoy codec error.
fn closing(mut response: Response<DownstreamBody>) -> Response<DownstreamBody> {
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
