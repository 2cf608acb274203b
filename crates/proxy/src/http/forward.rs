//! Forwarding one request to its cluster (Envoy's router filter): prepare the upstream
//! request once (hop-by-hop headers dropped, `Host` set or rewritten, path rewritten, header
//! mutations, `x-forwarded-proto`, `x-envoy-attempt-count`), then attempt it under the route
//! timeout with the retry policy: each attempt picks a host (avoiding previous ones when the
//! policy says so), has its per-try timeout, and is retried on the policy's conditions with
//! jittered exponential back-off. Bodies are buffered for replay only when a retry is possible
//! and the body is small; a streamed body is sent once.

use super::body::{DownstreamBody, UpstreamBody};
use super::headers::{
    self, X_ENVOY_ATTEMPT_COUNT, X_ENVOY_ORIGINAL_PATH, X_ENVOY_UPSTREAM_SERVICE_TIME, X_FORWARDED_PROTO,
};
use super::proxy::Exchange;
use crate::config::Config;
use crate::config::action::Forward;
use crate::config::policy::RetryPolicy;
use crate::failure::{Failure, status_retryable};
use crate::route::Plan;
use crate::state::Shared;
use http::{HeaderMap, HeaderValue, Method, Request, Response, Uri, Version, header};
use http_body_util::BodyExt;
use hyper::body::{Body, Incoming};
use hyper_util::client::legacy::connect::HttpInfo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Bodies up to this size are buffered so that retries can replay them (Envoy buffers up to
/// the connection's buffer limit for the same reason).
const REPLAY_LIMIT: u64 = 64 * 1024;

/// The upstream request, minus its body, reusable across attempts.
struct Prepared {
    method: Method,
    path: String,
    headers: HeaderMap,
    /// The downstream spoke HTTP/2 (for clusters that follow the downstream protocol).
    h2: bool,
}

/// Forwards `req` to `cluster_name` per `forward`; Ok is the upstream's response.
#[allow(clippy::too_many_arguments)]
pub(super) async fn forward(
    req: Request<Incoming>,
    plan: &Plan<'_>,
    forward: &Forward,
    cluster_name: &str,
    authority: &str,
    path: &str,
    config: &Config,
    shared: &Arc<Shared>,
    ex: &mut Exchange,
) -> Result<Response<DownstreamBody>, Failure> {
    let cluster = config.clusters.get(cluster_name).ok_or(Failure::ClusterNotFound)?;
    let (parts, body) = req.into_parts();
    let retry = forward.retry.as_ref().filter(|r| r.num_retries > 0);
    let mut body = Some(prepare_body(body, retry.is_some(), ex).await?);
    let prepared = prepare(parts, plan, authority, path);
    let pool = shared.pools.get(cluster);
    let deadline = forward.timeout.map(|t| ex.started + t);
    let attempts = retry.map_or(1, |r| r.num_retries.saturating_add(1));
    let mut tried: Vec<SocketAddr> = Vec::new();
    let mut last = Failure::NoHealthyUpstream;
    for attempt in 1..=attempts {
        let header = |name: &str| prepared.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let target = crate::upstream::Target { authority, header, local: Some(ex.record.downstream_local) };
        let avoid = retry.filter(|r| r.avoid_previous_hosts).map(|r| (tried.as_slice(), r.host_selection_attempts));
        let (addr, _active) = crate::upstream::pick(cluster, config, &target, avoid)?;
        tried.push(addr);
        ex.record.upstream_host = Some(addr);
        let upstream_body = match &body {
            Some(UpstreamBody::Full(b)) => UpstreamBody::Full(b.clone()),
            _ => body.take().unwrap_or_else(UpstreamBody::empty),
        };
        let (client, h2) = pool.client(prepared.h2);
        let request = build(&prepared, addr, h2, attempt, plan.vhost.attempt_count, upstream_body)?;
        let sent = Instant::now();
        let per_try = retry.and_then(|r| r.per_try_timeout);
        let limit = earliest(deadline, per_try.map(|t| sent + t));
        let can_retry = attempt < attempts && body.is_some();
        let call = client.request(request);
        let result = match limit {
            Some(at) => tokio::time::timeout_at(at.into(), call).await,
            None => Ok(call.await),
        };
        match result {
            Ok(Ok(resp)) => {
                let status = resp.status().as_u16();
                if can_retry && retry.is_some_and(|r| status_retryable(status, &r.on, &r.status_codes)) {
                    back_off(retry, attempt, deadline).await;
                    continue;
                }
                return Ok(respond(resp, sent, addr, ex));
            }
            Ok(Err(e)) => last = super::client::classify(&e),
            Err(_) if deadline.is_some_and(|d| Instant::now() >= d) => return Err(Failure::Timeout),
            // A per-try timeout: retried like a 5xx.
            Err(_) => last = Failure::Timeout,
        }
        let retryable = retry.is_some_and(|r| match &last {
            Failure::Timeout => r.on.five_xx || r.on.gateway_error,
            f => f.retryable(&r.on),
        });
        if !(can_retry && retryable) {
            break;
        }
        back_off(retry, attempt, deadline).await;
    }
    Err(last)
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The request body: empty, buffered (when retries are possible and it is small), or streamed.
async fn prepare_body(body: Incoming, replay: bool, ex: &Exchange) -> Result<UpstreamBody, Failure> {
    if body.is_end_stream() {
        return Ok(UpstreamBody::empty());
    }
    let small = body.size_hint().upper().is_some_and(|n| n <= REPLAY_LIMIT);
    if replay && small {
        let bytes = body.collect().await.map_err(|_| Failure::UpstreamReset)?.to_bytes();
        ex.received.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        return Ok(UpstreamBody::Full(Some(bytes)));
    }
    Ok(UpstreamBody::Stream(body, ex.received.clone()))
}

/// Headers and path of the upstream request.
fn prepare(parts: http::request::Parts, plan: &Plan<'_>, authority: &str, path: &str) -> Prepared {
    let mut h = parts.headers;
    // `te: trailers` is the one TE value that crosses a proxy (gRPC needs it).
    let trailers = h.get_all(header::TE).iter().any(|v| v.to_str().is_ok_and(|t| t.contains("trailers")));
    headers::strip_hop_by_hop(&mut h);
    if trailers {
        h.insert(header::TE, HeaderValue::from_static("trailers"));
    }
    let host = plan.host_rewrite().cloned().or_else(|| HeaderValue::from_str(authority).ok());
    if let Some(host) = host {
        h.insert(header::HOST, host);
    }
    let upstream_path = plan.upstream_path(path);
    if upstream_path != path
        && let Ok(v) = HeaderValue::from_str(path)
    {
        h.insert(X_ENVOY_ORIGINAL_PATH.clone(), v);
    }
    if !h.contains_key(&X_FORWARDED_PROTO) {
        h.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static("http"));
    }
    for m in plan.mutations() {
        headers::mutate_request(&mut h, m);
    }
    Prepared {
        method: parts.method,
        path: upstream_path.into_owned(),
        headers: h,
        h2: parts.version == Version::HTTP_2,
    }
}

/// One attempt's request.
fn build(
    p: &Prepared,
    addr: SocketAddr,
    h2: bool,
    attempt: u32,
    count: bool,
    body: UpstreamBody,
) -> Result<Request<UpstreamBody>, Failure> {
    let uri: Uri = format!("http://{addr}{}", if p.path.is_empty() { "/" } else { &p.path })
        .parse()
        .map_err(|_| Failure::NoRoute)?;
    let mut req = Request::new(body);
    *req.method_mut() = p.method.clone();
    *req.uri_mut() = uri;
    *req.version_mut() = if h2 { Version::HTTP_2 } else { Version::HTTP_11 };
    *req.headers_mut() = p.headers.clone();
    if count {
        req.headers_mut().insert(X_ENVOY_ATTEMPT_COUNT.clone(), HeaderValue::from(attempt));
    }
    Ok(req)
}

/// Jittered exponential back-off before retry `attempt + 1` (never past the deadline).
async fn back_off(retry: Option<&RetryPolicy>, attempt: u32, deadline: Option<Instant>) {
    let Some(r) = retry else { return };
    let ceiling = r.base_interval.saturating_mul(1 << (attempt - 1).min(16)).min(r.max_interval);
    let wait = Duration::from_nanos(crate::rng::below(ceiling.as_nanos() as u64 + 1));
    let until = earliest(Some(Instant::now() + wait), deadline).unwrap_or_else(Instant::now);
    tokio::time::sleep_until(until.into()).await;
}

/// The upstream response on its way downstream.
fn respond(resp: Response<Incoming>, sent: Instant, addr: SocketAddr, ex: &mut Exchange) -> Response<DownstreamBody> {
    let service_time = sent.elapsed().as_millis() as u64;
    let (mut parts, body) = resp.into_parts();
    ex.record.upstream_local = parts.extensions.get::<HttpInfo>().map(HttpInfo::local_addr);
    ex.record.upstream_host = Some(addr);
    ex.record.status = parts.status.as_u16();
    ex.record.details = "via_upstream".into();
    ex.record.upstream_service_time = Some(service_time);
    headers::strip_hop_by_hop(&mut parts.headers);
    parts.headers.insert(X_ENVOY_UPSTREAM_SERVICE_TIME.clone(), HeaderValue::from(service_time));
    parts.version = Version::HTTP_11;
    Response::from_parts(parts, DownstreamBody::upstream(body))
}
