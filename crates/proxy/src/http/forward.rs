//! Forwarding one request to its cluster (Envoy's router filter): prepare the upstream
//! request once (hop-by-hop headers dropped, `Host` set or rewritten, path rewritten, header
//! mutations, `x-forwarded-proto`, `x-envoy-attempt-count`), then attempt it under the route
//! timeout with the retry policy: each attempt picks a host (avoiding previous ones when the
//! policy says so, never an ejected one), goes through the cluster's pool (circuit breakers:
//! `UO`), has its per-try timeout, reports its outcome to outlier detection, and is retried on
//! the policy's conditions with jittered exponential back-off while the cluster's
//! `max_retries` allows. How the policy ended shows as Envoy shows it: `URX` when retries ran
//! out, `UO` when the circuit breaker refused one, "retried and the latest reset reason" in
//! the body. Bodies are buffered for replay only when a retry is possible and the body is
//! small; a streamed body is sent once. The route's request mirrors get their copies before the
//! first attempt ([`super::mirror`]); a gRPC request's timeout comes from `grpc-timeout` under
//! `max_grpc_timeout` ([`super::grpc`]); `x-envoy-expected-rq-timeout-ms` tells the upstream how
//! long is left, as Envoy's router does; an allowed upgrade ([`super::upgrade`]) goes over
//! HTTP/1.1 and a `101` turns the exchange into a tunnel.

use super::body::{DownstreamBody, UpstreamBody};
use super::client::Sent;
use super::headers::{
    self, X_ENVOY_ATTEMPT_COUNT, X_ENVOY_EXPECTED_RQ_TIMEOUT_MS, X_ENVOY_ORIGINAL_PATH, X_ENVOY_UPSTREAM_SERVICE_TIME,
    X_FORWARDED_PROTO,
};
use super::proxy::Exchange;
use super::upgrade::Requested;
use super::{grpc, mirror, upgrade};
use crate::config::Config;
use crate::config::action::Forward;
use crate::config::policy::RetryPolicy;
use crate::failure::{Failure, status_retryable};
use crate::route::Plan;
use crate::state::Shared;
use crate::upstream::breakers::Permit;
use crate::upstream::outlier::Outcome;
use http::{HeaderMap, HeaderValue, Method, Request, Response, Uri, Version, header};
use http_body_util::BodyExt;
use hyper::body::{Body, Incoming};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Bodies up to this size are buffered so that retries can replay them (Envoy buffers up to
/// the connection's buffer limit for the same reason).
const REPLAY_LIMIT: u64 = 64 * 1024;

/// The upstream request, minus its body, reusable across attempts (and mirrors).
#[derive(Debug, Clone)]
pub(super) struct Prepared {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    /// The downstream spoke HTTP/2 (for clusters that follow the downstream protocol).
    pub h2: bool,
}

/// How long the exchange may take: the route (or gRPC) timeout and the per-try timeout.
#[derive(Debug, Clone, Copy)]
struct Timeouts {
    route: Option<Duration>,
    per_try: Option<Duration>,
    /// Rewrite `grpc-timeout` to what is left (gRPC under `max_grpc_timeout`).
    grpc: bool,
}

/// Forwards `req` to `cluster_name` per `forward`; Ok is the upstream's response.
///
/// Not an `async fn`: the request is taken apart before the future is made, so the future
/// (boxed per request in flight) holds its parts once rather than the whole request as an
/// argument and again as parts.
#[allow(clippy::too_many_arguments)]
pub(super) fn forward<'a>(
    mut req: Request<Incoming>,
    plan: &'a Plan<'a>,
    forward: &'a Forward,
    cluster_name: &'a str,
    authority: &'a str,
    path: &'a str,
    config: &'a Config,
    shared: &'a Arc<Shared>,
    ex: &'a mut Exchange,
    upgrade: Option<Requested>,
) -> impl Future<Output = Result<Response<DownstreamBody>, Failure>> + 'a {
    let mut downstream_upgrade = upgrade.as_ref().map(|_| hyper::upgrade::on(&mut req));
    let (parts, body) = req.into_parts();
    async move {
        let cluster = config.clusters.get(cluster_name).ok_or(Failure::ClusterNotFound)?;
        let retry = forward.retry.as_ref().filter(|r| r.num_retries > 0);
        let mirrors = if upgrade.is_none() { mirror::drawn(&forward.mirrors) } else { Vec::new() };
        let mut body = Some(prepare_body(body, retry.is_some() || !mirrors.is_empty(), ex).await?);
        // Envoy's `x-envoy-upstream-service-time` runs from the end of the downstream request,
        // across retries.
        let complete = Instant::now();
        let timeouts = timeouts(forward, &parts.headers, ex.record.meta.grpc);
        let mut prepared = prepare(parts, plan, authority, path, upgrade.as_ref(), &ex.record);
        timeout_headers(&mut prepared.headers, timeouts, Duration::ZERO);
        if !mirrors.is_empty()
            && let Some(UpstreamBody::Full(copy)) = &body
        {
            let count = plan.vhost.attempt_count;
            mirror::shadow(&mirrors, &prepared, copy.as_ref(), timeouts.route, count, shared);
        }
        let pool = shared.pools.get(cluster);
        let h2 = pool.speaks_h2(prepared.h2) && upgrade.is_none();
        let deadline = timeouts.route.map(|t| ex.started + t);
        let attempts = retry.map_or(1, |r| r.num_retries.saturating_add(1));
        let (key, set_cookie) = hash_key(forward, cluster, &prepared, path, ex);
        let mut tried: Vec<SocketAddr> = Vec::new();
        // Held from the moment a retry is decided until its outcome is known (Envoy's retry
        // resource).
        let mut _retrying: Option<Permit> = None;
        for attempt in 1..=attempts {
            let header = |name: &str| prepared.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
            let target = crate::upstream::Target {
                authority,
                header,
                local: Some(ex.record.downstream_local),
                original_dst: ex.original_dst,
            };
            let avoid = retry.filter(|r| r.avoid_previous_hosts).map(|r| (tried.as_slice(), r.host_selection_attempts));
            let (addr, active) = crate::upstream::pick_keyed(cluster, config, &target, avoid, key)?;
            tried.push(addr);
            ex.record.upstream_host = Some(addr);
            let upstream_body = match &body {
                Some(UpstreamBody::Full(b)) => UpstreamBody::Full(b.clone()),
                _ => body.take().unwrap_or_else(UpstreamBody::empty),
            };
            if attempt > 1 {
                timeout_headers(&mut prepared.headers, timeouts, ex.started.elapsed());
            }
            // The last attempt takes the prepared headers; earlier ones copy them.
            let headers =
                if attempt == attempts { std::mem::take(&mut prepared.headers) } else { prepared.headers.clone() };
            let request = build(
                &prepared,
                headers,
                addr,
                authority,
                h2,
                plan.vhost.attempt_count.then_some(attempt),
                upstream_body,
            )?;
            let sent = Instant::now();
            let limit = earliest(deadline, timeouts.per_try.map(|t| sent + t));
            let call = pool.send(addr, request, h2, active);
            let result = match limit {
                Some(at) => tokio::time::timeout_at(at.into(), call).await.map_err(|_| ()),
                None => Ok(call.await),
            };
            _retrying = None;
            let outcome = Attempt { retried: attempt > 1, more: attempt < attempts, replayable: body.is_some() };
            let last = match result {
                Ok(Ok(upstream)) => {
                    let status = upstream.response.status().as_u16();
                    crate::upstream::report(cluster, addr, Outcome::Status(status));
                    let wanted = retry.is_some_and(|r| status_retryable(status, &r.on, &r.status_codes));
                    let flag = match outcome.next(wanted, cluster) {
                        Next::Retry(permit) => {
                            _retrying = Some(permit);
                            back_off(retry, attempt, deadline).await;
                            continue;
                        }
                        Next::Stop(flag) => flag,
                    };
                    let mut upstream = upstream;
                    if upstream.response.status() == http::StatusCode::SWITCHING_PROTOCOLS
                        && let Some(downstream) = downstream_upgrade.take()
                        && let Some(upstream_upgrade) = upstream.upgraded.take()
                    {
                        let response = switched(upstream, addr, ex);
                        upgrade::splice(downstream, upstream_upgrade, ex, shared);
                        return Ok(response);
                    }
                    let mut response = respond(upstream, complete, addr, flag, ex);
                    if let Some(cookie) = set_cookie {
                        response.headers_mut().append(header::SET_COOKIE, cookie);
                    }
                    return Ok(response);
                }
                Ok(Err(Failure::Overflow)) => Failure::Overflow,
                Ok(Err(f)) => {
                    crate::upstream::report(cluster, addr, Outcome::ConnectFailed);
                    f
                }
                Err(()) => {
                    crate::upstream::report(cluster, addr, Outcome::Timeout);
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Err(Failure::Timeout);
                    }
                    // A per-try timeout: retried like a 5xx.
                    Failure::Timeout
                }
            };
            let wanted = retry.is_some_and(|r| match &last {
                Failure::Timeout => r.on.five_xx || r.on.gateway_error,
                f => f.retryable(&r.on),
            });
            match outcome.next(wanted, cluster) {
                Next::Retry(permit) => {
                    _retrying = Some(permit);
                    back_off(retry, attempt, deadline).await;
                }
                Next::Stop(flag) if flag.is_empty() && !outcome.retried => return Err(last),
                Next::Stop(flag) => {
                    return Err(Failure::AfterRetries { last: Box::new(last), retried: outcome.retried, flag });
                }
            }
        }
        Err(Failure::NoHealthyUpstream)
    }
}

/// The request's consistent-hash key, for ring-hash and Maglev clusters only (as Envoy, which
/// evaluates the route's hash policy only when such a balancer asks), and the cookie to set
/// when the policy made one up.
fn hash_key(
    forward: &Forward,
    cluster: &crate::config::Cluster,
    prepared: &Prepared,
    path: &str,
    ex: &Exchange,
) -> (Option<u64>, Option<HeaderValue>) {
    if forward.hash_policy.is_empty() || !cluster.lb.is_hashing() {
        return (None, None);
    }
    let request = crate::lb::hash::Request {
        headers: &prepared.headers,
        path,
        remote: ex.record.downstream_remote,
        local: ex.record.downstream_local,
    };
    crate::lb::hash::key(&forward.hash_policy, &request)
}

/// Where an attempt stands in its retry policy.
struct Attempt {
    /// It was itself a retry.
    retried: bool,
    /// The policy allows another attempt.
    more: bool,
    /// The request body can be sent again (a streamed body cannot: no retry, as in Envoy
    /// when the body overflowed its retry buffer).
    replayable: bool,
}

/// What follows an attempt.
enum Next {
    /// Retry, holding the circuit breaker's retry permit.
    Retry(Permit),
    /// Stop, with the retry flag to log (`URX`, `UO`, or none).
    Stop(&'static str),
}

impl Attempt {
    /// Envoy's `shouldRetry`: the retry limit first, then the `max_retries` circuit breaker.
    fn next(&self, wanted: bool, cluster: &crate::config::Cluster) -> Next {
        if !wanted || !self.replayable {
            return Next::Stop("");
        }
        if !self.more {
            return Next::Stop("URX");
        }
        match cluster.breakers.retry() {
            Some(permit) => Next::Retry(permit),
            None => Next::Stop("UO"),
        }
    }
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

/// The route timeout (for gRPC under `max_grpc_timeout`, from `grpc-timeout`) and the
/// per-try timeout (ignored when not shorter than the route's, as in Envoy).
fn timeouts(forward: &Forward, h: &HeaderMap, is_grpc: bool) -> Timeouts {
    let (route, grpc) = match forward.max_grpc_timeout {
        Some(max) if is_grpc => (grpc::route_timeout(grpc::timeout(h), max), true),
        _ => (forward.timeout, false),
    };
    let per_try = forward.retry.as_ref().and_then(|r| r.per_try_timeout);
    Timeouts { route, per_try: per_try.filter(|p| route.is_none_or(|r| *p < r)), grpc }
}

/// Envoy's `setTimeoutHeaders`: the time the upstream has for this attempt (the per-try
/// timeout, else the route's, never past the route's deadline) in
/// `x-envoy-expected-rq-timeout-ms`, and in `grpc-timeout` for gRPC under `max_grpc_timeout`.
fn timeout_headers(h: &mut HeaderMap, t: Timeouts, elapsed: Duration) {
    let Some(expected) = t.per_try.or(t.route) else { return };
    let expected = match t.route {
        Some(route) => expected.min(route.saturating_sub(elapsed)).max(Duration::from_millis(1)),
        None => expected,
    };
    h.insert(X_ENVOY_EXPECTED_RQ_TIMEOUT_MS.clone(), HeaderValue::from(crate::upstream::millis(expected)));
    if t.grpc {
        h.insert(grpc::GRPC_TIMEOUT.clone(), grpc::timeout_value(expected));
    }
}

/// Headers and path of the upstream request; an upgrade keeps its `Connection` and `Upgrade`.
fn prepare(
    parts: http::request::Parts,
    plan: &Plan<'_>,
    authority: &str,
    path: &str,
    upgrade: Option<&Requested>,
    record: &crate::access_log::Record,
) -> Prepared {
    let mut h = parts.headers;
    // `te: trailers` is the one TE value that crosses a proxy (gRPC needs it).
    let trailers = h.get_all(header::TE).iter().any(|v| v.to_str().is_ok_and(|t| t.contains("trailers")));
    headers::strip_hop_by_hop(&mut h);
    if trailers {
        h.insert(header::TE, HeaderValue::from_static("trailers"));
    }
    if let Some(u) = upgrade {
        h.insert(header::CONNECTION, u.connection.clone());
        h.insert(header::UPGRADE, u.upgrade.clone());
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
        let cx = crate::format::Context { record, request: None };
        headers::mutate_request(&mut h, m, cx);
    }
    Prepared {
        method: parts.method,
        path: upstream_path.into_owned(),
        headers: h,
        h2: parts.version == Version::HTTP_2,
    }
}

/// One attempt's request (with `headers`, `p`'s or a copy of them): origin-form over HTTP/1.1;
/// over HTTP/2 the `Host` becomes `:authority` (the host's address when the `Host` is not a
/// valid authority); `x-envoy-attempt-count` when `attempt_count` is given.
pub(super) fn build(
    p: &Prepared,
    mut headers: HeaderMap,
    addr: SocketAddr,
    authority: &str,
    h2: bool,
    attempt_count: Option<u32>,
    body: UpstreamBody,
) -> Result<Request<UpstreamBody>, Failure> {
    let path = if p.path.is_empty() { "/" } else { &p.path };
    let uri: Uri = if h2 {
        let host = headers.remove(header::HOST);
        let host = host.as_ref().and_then(|h| h.to_str().ok()).unwrap_or(authority);
        format!("http://{host}{path}").parse().or_else(|_| format!("http://{addr}{path}").parse())
    } else {
        path.parse()
    }
    .map_err(|_| Failure::NoRoute)?;
    let mut req = Request::new(body);
    *req.method_mut() = p.method.clone();
    *req.uri_mut() = uri;
    *req.version_mut() = if h2 { Version::HTTP_2 } else { Version::HTTP_11 };
    *req.headers_mut() = headers;
    if let Some(attempt) = attempt_count {
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

/// A `101` on its way downstream: the upstream's `Connection` and `Upgrade` stay, and there is
/// no `x-envoy-upstream-service-time` (Envoy sets it only once the request is complete, which
/// an upgraded request never is).
fn switched(upstream: Sent, addr: SocketAddr, ex: &mut Exchange) -> Response<DownstreamBody> {
    let (mut parts, _) = upstream.response.into_parts();
    ex.record.upstream_local = upstream.local;
    ex.record.upstream_host = Some(addr);
    ex.record.status = parts.status.as_u16();
    ex.record.details = "via_upstream".into();
    let kept = [header::CONNECTION, header::UPGRADE].map(|n| parts.headers.remove(&n).map(|v| (n, v)));
    headers::strip_hop_by_hop(&mut parts.headers);
    for (name, value) in kept.into_iter().flatten() {
        parts.headers.insert(name, value);
    }
    parts.version = Version::HTTP_11;
    Response::from_parts(parts, DownstreamBody::full(bytes::Bytes::new()))
}

/// The upstream response on its way downstream; `flag` is the retry outcome to log.
fn respond(
    upstream: Sent,
    complete: Instant,
    addr: SocketAddr,
    flag: &'static str,
    ex: &mut Exchange,
) -> Response<DownstreamBody> {
    let service_time = complete.elapsed().as_millis() as u64;
    let (mut parts, body) = upstream.response.into_parts();
    ex.record.upstream_local = upstream.local;
    ex.record.flags = crate::upstream::retry::flags(ex.record.flags, flag);
    ex.record.upstream_host = Some(addr);
    ex.record.status = parts.status.as_u16();
    ex.record.details = "via_upstream".into();
    ex.record.upstream_service_time = Some(service_time);
    headers::strip_hop_by_hop(&mut parts.headers);
    parts.headers.insert(X_ENVOY_UPSTREAM_SERVICE_TIME.clone(), HeaderValue::from(service_time));
    parts.version = Version::HTTP_11;
    Response::from_parts(parts, DownstreamBody::upstream(body))
}
