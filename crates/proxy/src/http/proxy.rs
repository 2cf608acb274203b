//! One HTTP request through the proxy, in the order of Envoy's filter chain: read the request
//! parts routing needs, route them (`crate::route`), refuse an upgrade nobody allows
//! (`upgrade`), apply the route's fault, answer a CORS preflight (`cors`), then answer
//! directly, redirect, tunnel a CONNECT or forward upstream (`forward`, with mirrors and
//! upgrades); failures become Envoy's local replies (`error::Failure`) — in gRPC's
//! trailers-only form for gRPC requests (`grpc`) — and an allowed CORS origin is echoed on
//! whatever the router answered. Every request ends in exactly one access log record, written
//! when the response body ends (or, for an upgrade, when its tunnel closes).

use super::body::{Completion, DownstreamBody};
use super::h1_guard::Verdicts;
use super::{connect, cors, downstream, forward, grpc, headers, upgrade};
use crate::access_log::{Meta, Record};
use crate::config::HttpManager;
use crate::config::policy::{Abort, Fault};
use crate::failure::Failure;
use crate::route::{self, Decision};
use crate::state::Shared;
use http::{HeaderValue, Request, Response, StatusCode, Version, header};
use hyper::body::Incoming;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Instant, SystemTime};

/// What a request knows about its downstream connection.
#[derive(Debug)]
pub struct Conn {
    /// The connection manager of the listener that accepted it.
    pub hcm: Arc<HttpManager>,
    /// Where it arrived.
    pub local: SocketAddr,
    /// Who connected.
    pub remote: SocketAddr,
    /// What the HTTP/1 guard found on the connection.
    pub verdicts: Arc<Verdicts>,
    /// Requests served on the connection so far.
    pub requests: AtomicU64,
    /// Its original destination, when the listener restored it (then `local` is it too).
    pub original_dst: Option<SocketAddr>,
    /// TLS-terminated (`x-forwarded-proto: https`), and the SNI the client sent, if any.
    pub tls: Option<Option<Arc<str>>>,
}

impl Conn {
    /// A new connection.
    pub fn new(hcm: Arc<HttpManager>, local: SocketAddr, remote: SocketAddr) -> Self {
        Conn {
            hcm,
            local,
            remote,
            verdicts: Arc::default(),
            requests: AtomicU64::new(0),
            original_dst: None,
            tls: None,
        }
    }

    /// The same connection, decrypted by this proxy (`sni`: what the client asked for).
    pub fn with_tls(mut self, sni: Option<Arc<str>>) -> Self {
        self.tls = Some(sni);
        self
    }

    /// The same connection, with the original destination its listener restored.
    pub fn with_original_dst(mut self, original_dst: Option<SocketAddr>) -> Self {
        self.original_dst = original_dst;
        self
    }
}

/// A request in flight: its record and counters.
pub(super) struct Exchange {
    pub record: Record,
    pub started: Instant,
    pub received: Arc<AtomicU64>,
    /// Whether the response still has to write the access log (a CONNECT or upgrade tunnel
    /// takes it).
    pub log: bool,
    /// The CORS headers the response gets (an allowed origin's echo).
    pub cors: Option<cors::Echo>,
    /// The connection's restored original destination (ORIGINAL_DST clusters go there).
    pub original_dst: Option<SocketAddr>,
}

/// `HTTP/1.1`, `HTTP/2`, … for the access log.
pub fn protocol(v: Version) -> &'static str {
    match v {
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/1.1",
    }
}

/// The authority routing uses: the absolute-form or HTTP/2 `:authority`, else `Host`.
fn authority_of(req: &Request<Incoming>) -> String {
    if let Some(a) = req.uri().authority() {
        return a.as_str().to_string();
    }
    req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default().to_string()
}

/// Serves one request.
///
/// hyper keeps room for this future in every connection for the connection's whole life, so
/// it is kept small: what needs no waiting (the request's record) is done here rather than in
/// the future, which then holds the request once, not once per `async fn` level, and the
/// large futures of forwarding and CONNECT tunnels are boxed in [`dispatch`] for the time
/// they run.
pub fn handle(
    mut req: Request<Incoming>,
    conn: Arc<Conn>,
    shared: Arc<Shared>,
) -> impl Future<Output = Result<Response<DownstreamBody>, downstream::StreamReset>> {
    let started = Instant::now();
    let early = downstream::screen(&mut req, &conn);
    let upgrade = downstream::Upgrade::of(&req);
    let authority = authority_of(&req);
    let mut path = req.uri().path_and_query().map_or("/", |p| p.as_str()).to_string();
    if req.method() == http::Method::CONNECT {
        path.clear();
    } else if conn.hcm.normalize_path {
        path = normalize(&path);
    }
    if early.is_none() {
        // The connection manager's XFF, proto and `x-envoy-*` handling (what the log reads).
        super::xff::request(req.headers_mut(), &conn);
    }
    // Envoy answers early requests before it makes up a request id.
    let request_id = if early.is_some() { None } else { headers::ensure_request_id(req.headers_mut()) };
    let h = req.headers();
    let record = Record {
        start: SystemTime::now(),
        method: Some(req.method().to_string()),
        path: Some(path.clone()).filter(|p| !p.is_empty()),
        protocol: Some(protocol(req.version())),
        status: 0,
        flags: "",
        details: String::new(),
        transport_failure: String::new(),
        bytes_received: 0,
        bytes_sent: 0,
        duration_ms: 0,
        upstream_service_time: None,
        x_forwarded_for: headers::text(h, &http::HeaderName::from_static("x-forwarded-for")),
        user_agent: headers::text(h, &header::USER_AGENT),
        request_id,
        authority: Some(authority.clone()),
        upstream_host: None,
        upstream_cluster: None,
        upstream_local: None,
        downstream_local: conn.local,
        downstream_remote: conn.remote,
        route_name: None,
        meta: Meta {
            grpc: crate::metrics::labels::is_grpc(h.get(header::CONTENT_TYPE)),
            requested_server_name: conn.tls.clone().flatten(),
            ..Meta::new(&conn.hcm.stat_prefix, conn.hcm.access_log.then_some(conn.hcm.log_format))
        },
    };
    // Every request completes (metrics); whether it also logs a line is in `meta.log`.
    let mut ex = Exchange {
        record,
        started,
        received: Arc::new(AtomicU64::new(0)),
        log: true,
        cors: None,
        original_dst: conn.original_dst,
    };
    // Lent to `dispatch`, which takes it when it forwards (one copy of the request in the future).
    let mut req = Some(req);
    async move {
        let response = match early {
            Some(e) => downstream::answer(e, &mut ex),
            None => match dispatch(&mut req, &authority, &path, &conn, &shared, &mut ex).await {
                Ok(r) => echo_cors(r, &ex),
                Err(_) if conn.verdicts.body_error() => downstream::broken_body(&mut ex),
                Err(f) => {
                    let r = explained(&f, &mut ex, &conn);
                    echo_cors(r, &ex)
                }
            },
        };
        respond(response, ex, early, upgrade, &conn, &shared)
    }
}

/// The response on its way down: the upgrade's outcome told to the HTTP/1 guard, the
/// connection manager's response headers, and the access log written when its body ends.
fn respond(
    response: Response<DownstreamBody>,
    mut ex: Exchange,
    early: Option<downstream::Early>,
    upgrade: downstream::Upgrade,
    conn: &Conn,
    shared: &Arc<Shared>,
) -> Result<Response<DownstreamBody>, downstream::StreamReset> {
    upgrade.answered(&response, conn);
    let (mut parts, body) = response.into_parts();
    super::xff::response(&mut parts.headers, &conn.hcm.edge);
    ex.record.meta.grpc_status = crate::metrics::labels::grpc_status_header(parts.headers.get("grpc-status"));
    let completion = ex.log.then(|| Completion {
        record: ex.record,
        started: ex.started,
        received: ex.received,
        sent: 0,
        shared: shared.clone(),
    });
    let body = body.with_log(completion);
    if let Some(downstream::Early::Reset(details)) = early {
        // Logged above (the body is empty); hyper resets the HTTP/2 stream on the error.
        return Err(downstream::StreamReset(details));
    }
    Ok(Response::from_parts(parts, body))
}

/// Routes the request in `slot` and carries out the decision (taking the request when it goes
/// upstream).
async fn dispatch(
    slot: &mut Option<Request<Incoming>>,
    authority: &str,
    path: &str,
    conn: &Conn,
    shared: &Arc<Shared>,
    ex: &mut Exchange,
) -> Result<Response<DownstreamBody>, Failure> {
    let Some(req) = slot.as_mut() else { return Err(Failure::NoRoute) };
    let upgrade = upgrade::requested(req.version(), req.headers_mut());
    let config = shared.config.load_full();
    let table = config.route_table(&conn.hcm).ok_or(Failure::NoRoute)?;
    let view = route::Request {
        method: req.method(),
        authority,
        path,
        scheme: req.uri().scheme_str().unwrap_or("http"),
        headers: req.headers(),
    };
    let plan = route::plan(table, &view);
    if let Some(plan) = &plan {
        ex.record.route_name = Some(plan.route.name.clone()).filter(|n| !n.is_empty());
        if let Decision::Forward { cluster, .. } = &plan.decision {
            ex.record.upstream_cluster = Some((*cluster).to_string());
        }
    }
    if let Some(u) = &upgrade {
        let by_route = match plan.as_ref().map(|p| &p.decision) {
            Some(Decision::Forward { forward, .. }) => forward.upgrades.as_slice(),
            _ => &[],
        };
        if !upgrade::allowed(&u.kind, by_route, &conn.hcm.upgrades) {
            return Err(Failure::UpgradeFailed);
        }
    }
    let plan = plan.ok_or(Failure::NoRoute)?;
    if conn.hcm.faults
        && let Some(fault) = &plan.route.fault
    {
        // Boxed, as the rare waits below: their state would otherwise be part of every request's.
        Box::pin(inject(fault, ex)).await?;
    }
    let roll = |per_million: u32| crate::rng::below(1_000_000) < u64::from(per_million);
    match cors::Policies::new(plan.route.cors.as_ref(), plan.vhost.cors.as_ref()).decide(
        req.method(),
        req.headers(),
        roll,
    ) {
        cors::Verdict::Preflight(headers) => return Ok(preflight(headers, ex)),
        cors::Verdict::Respond(echo) => ex.cors = Some(echo),
        cors::Verdict::Pass => {}
    }
    let mut response = match &plan.decision {
        Decision::Direct(d) => {
            ex.record.details = "direct_response".into();
            let body = d.body.clone().unwrap_or_default();
            local(d.status, body, None, ex)
        }
        Decision::Redirect { location, status } => {
            ex.record.details = "direct_response".into();
            ex.record.status = *status;
            let mut r = reply(*status, bytes::Bytes::new(), None);
            if let Ok(v) = HeaderValue::from_str(location) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        Decision::Forward { forward, cluster, .. } if forward.connect => {
            let config = warmed(shared, cluster, &config).await;
            let Some(req) = slot.take() else { return Err(Failure::NoRoute) };
            match Box::pin(connect::tunnel(req, &config, cluster, authority, shared, ex)).await {
                Ok(tunnel) => return Ok(tunnel),
                Err(f) => explained(&f, ex, conn),
            }
        }
        Decision::Forward { .. } if req.method() == http::Method::CONNECT => return Err(Failure::NoRoute),
        Decision::Forward { forward, cluster, .. } => {
            // Routing keeps the config it started with; a warming cluster's hosts come from
            // the first config that has its endpoints.
            let config = warmed(shared, cluster, &config).await;
            let Some(req) = slot.take() else { return Err(Failure::NoRoute) };
            // Boxed (as the tunnel above): the forward future (retries, the pool's send) is the
            // bulk of a request's state and exists only while it runs, not in the room hyper
            // keeps for this future in every connection.
            let forwarding =
                forward::forward(req, &plan, forward, cluster, authority, path, &config, shared, ex, upgrade);
            match Box::pin(forwarding).await {
                Ok(r) => r,
                Err(f) if conn.verdicts.body_error() => return Err(f),
                // The router's local replies get the route's response headers, as Envoy's do.
                Err(f) => explained(&f, ex, conn),
            }
        }
    };
    for m in plan.mutations() {
        let cx = crate::format::Context { record: &ex.record, request: None };
        headers::mutate_response(response.headers_mut(), m, cx);
    }
    Ok(response)
}

/// The config to pick `cluster`'s host from ([`crate::upstream::warming::warmed`]): a warming
/// cluster's wait is rare, so it is boxed.
async fn warmed(shared: &Shared, cluster: &str, config: &Arc<crate::config::Config>) -> Arc<crate::config::Config> {
    let warming = config.clusters.get(cluster).is_some_and(|c| crate::upstream::warming::is_warming(c, config));
    if !warming {
        return config.clone();
    }
    Box::pin(crate::upstream::warming::warmed(shared, cluster, config.clone())).await
}

/// Applies a route's fault: the delay first, then the abort (each with its probability).
async fn inject(fault: &Fault, ex: &mut Exchange) -> Result<(), Failure> {
    let roll = |per_million: u32| crate::rng::below(1_000_000) < u64::from(per_million);
    if let Some((delay, p)) = fault.delay
        && roll(p)
    {
        ex.record.flags = "DI";
        tokio::time::sleep(delay).await;
    }
    if let Some((abort, p)) = fault.abort
        && roll(p)
    {
        return Err(match abort {
            Abort::Http(status) => Failure::FaultAbort(status),
            Abort::Grpc(code) => Failure::FaultAbortGrpc(code),
        });
    }
    Ok(())
}

/// A response the proxy writes itself.
pub fn reply(status: u16, body: bytes::Bytes, content_type: Option<&'static str>) -> Response<DownstreamBody> {
    let mut r = Response::new(DownstreamBody::full(body.clone()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if !body.is_empty() {
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type.unwrap_or("text/plain")));
    }
    r.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    r
}

/// The local reply for `f` with the connection manager's local-reply mappers applied (the
/// `x-strait-reason` header, when the control plane asks for it).
fn explained(f: &Failure, ex: &mut Exchange, conn: &Conn) -> Response<DownstreamBody> {
    let mut r = local_reply(f, ex);
    conn.hcm.local_replies.apply(crate::format::Context { record: &ex.record, request: None }, r.headers_mut());
    r
}

/// Envoy's local reply for `f`, recorded in the access log.
fn local_reply(f: &Failure, ex: &mut Exchange) -> Response<DownstreamBody> {
    ex.record.flags = f.flag();
    ex.record.details = f.details();
    ex.record.transport_failure = f.transport_failure();
    let mut r = local(f.status(), bytes::Bytes::from(f.body()), f.grpc_status(), ex);
    if f.closes_connection() {
        r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    r
}

/// A local reply (Envoy's `sendLocalReply`): to a gRPC request, trailers-only with the
/// `grpc-status` given or mapped from `status`; to others, `status` with `body`.
fn local(status: u16, body: bytes::Bytes, grpc_status: Option<u32>, ex: &mut Exchange) -> Response<DownstreamBody> {
    if !ex.record.meta.grpc {
        ex.record.status = status;
        return reply(status, body, None);
    }
    ex.record.status = 200;
    let mut r = Response::new(DownstreamBody::full(bytes::Bytes::new()));
    let code = grpc_status.unwrap_or_else(|| grpc::status_for_http(status));
    grpc::local_reply_headers(r.headers_mut(), code, &String::from_utf8_lossy(&body));
    r
}

/// The CORS filter's own answer to a preflight (no router, so no route response headers).
fn preflight(headers: http::HeaderMap, ex: &mut Exchange) -> Response<DownstreamBody> {
    ex.record.details = "cors_response".into();
    ex.record.status = 200;
    let mut r = reply(200, bytes::Bytes::new(), None);
    let length = r.headers_mut().remove(header::CONTENT_LENGTH);
    r.headers_mut().extend(headers);
    if let Some(length) = length {
        r.headers_mut().insert(header::CONTENT_LENGTH, length);
    }
    r
}

/// Adds an allowed origin's CORS headers to whatever the router answered.
fn echo_cors(mut r: Response<DownstreamBody>, ex: &Exchange) -> Response<DownstreamBody> {
    if let Some(echo) = &ex.cors {
        echo.apply(r.headers_mut());
    }
    r
}

/// RFC 3986 §5.2.4 dot-segment removal on the path (the query is kept as is), as Envoy's
/// `normalize_path`.
pub fn normalize(path: &str) -> String {
    let (p, query) = route::split_query(path);
    if !p.contains("/.") {
        return path.to_string();
    }
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = p.split('/').skip(1).collect();
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *seg {
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                out.pop();
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    format!("/{}{query}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn dot_segments_are_removed() {
        let table = [
            ("/a/b/../c", "/a/c"),
            ("/a/./b", "/a/b"),
            ("/../a", "/a"),
            ("/a/b/..", "/a/"),
            ("/a/.?x=/..", "/a/?x=/.."),
            ("/plain?x", "/plain?x"),
        ];
        for (input, want) in table {
            assert_eq!(normalize(input), want, "{input}");
        }
    }
}
