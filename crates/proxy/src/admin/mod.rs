//! The admin interface on `127.0.0.1:ADMIN_PORT`, Envoy-compatible so runbooks work:
//! `/ready` (`LIVE` once the initial config is applied), `/server_info`, `/quitquitquit`
//! (POST: stop), `/config_dump` (the resources held, with the fields tools read, and any
//! NACK), `/clusters` and `/listeners` (text, or `?format=json`), `/stats`
//! (text, `?format=json`, `?filter=`), `/stats/prometheus`, `/logging` (POST, run-time log
//! levels) and `/help`. Readiness is also served on `IP:HEALTH_PORT` as Istio's
//! `/healthz/ready`, and Prometheus metrics on `IP:METRICS_PORT/stats/prometheus` (Istio's
//! 15090). `/drain_listeners` and `/healthcheck/fail` belong with graceful drain (listeners).

pub mod clusters;
pub mod config_dump;
pub mod logging;
pub mod stats;

use crate::state::State;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// What the admin handlers need.
pub struct Admin {
    /// The proxy state.
    pub state: Arc<State>,
    /// Notified by `/quitquitquit`.
    pub quit: Arc<Notify>,
    /// Node id, for `/server_info`.
    pub node_id: String,
    /// Process start.
    pub started: Instant,
    /// Log levels.
    pub logging: logging::Logging,
}

/// The Prometheus text format's content type (what Envoy's `/stats/prometheus` sends).
const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";

const HELP: &str = "admin commands are:\n  /: this page\n  /clusters: upstream cluster status\n  \
/config_dump: dump current config\n  /help: print out list of admin commands\n  \
/listeners: print listener info\n  /logging: query/change logging levels\n  \
/quitquitquit: exit the server\n  /ready: print server state, return 200 if LIVE, otherwise return 503\n  \
/server_info: print server version/status information\n  /stats: print server stats\n  \
/stats/prometheus: print server stats in prometheus format\n";

fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, http::HeaderValue::from_static(content_type));
    r
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    respond(status, "text/plain; charset=UTF-8", body)
}

fn json(value: &serde_json::Value) -> Response<Full<Bytes>> {
    respond(StatusCode::OK, "application/json", serde_json::to_vec_pretty(value).unwrap_or_default())
}

fn readiness(state: &State) -> Response<Full<Bytes>> {
    if state.shared.drain.health_failed() {
        text(StatusCode::SERVICE_UNAVAILABLE, "DRAINING\n")
    } else if state.is_ready() {
        text(StatusCode::OK, "LIVE\n")
    } else {
        text(StatusCode::SERVICE_UNAVAILABLE, "PRE_INITIALIZING\n")
    }
}

/// A query parameter, percent-decoded.
fn param(query: &str, name: &str) -> Option<String> {
    query.split('&').filter_map(|p| p.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| decode(v))
}

fn decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn route(admin: &Admin, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let query = req.uri().query().unwrap_or_default();
    let as_json = param(query, "format").as_deref() == Some("json");
    let telemetry = admin.state.shared.access_log.telemetry();
    match (req.method(), req.uri().path()) {
        (_, "/ready") => readiness(&admin.state),
        (_, "/server_info") => json(&json!({
            "version": format!("strait-proxy/{}", env!("CARGO_PKG_VERSION")),
            "state": if admin.state.is_ready() { "LIVE" } else { "PRE_INITIALIZING" },
            "node": {"id": admin.node_id},
            "uptime_current_epoch": format!("{}s", admin.started.elapsed().as_secs()),
            "xds_connected": admin.state.is_connected(),
        })),
        (&Method::POST, "/quitquitquit") => {
            admin.quit.notify_one();
            text(StatusCode::OK, "OK\n")
        }
        (&Method::POST, path @ ("/drain_listeners" | "/healthcheck/fail" | "/healthcheck/ok")) => {
            let (status, body) = crate::listeners::drain::admin(&admin.state.shared.drain, path, query);
            text(status, body)
        }
        (_, "/config_dump") => json(&config_dump::render(&admin.state)),
        (_, "/clusters") if as_json => json(&clusters::json(telemetry)),
        (_, "/clusters") => text(StatusCode::OK, clusters::text(telemetry)),
        (_, "/listeners") if as_json => json(&clusters::listeners_json(&admin.state.shared.config.load())),
        (_, "/listeners") => text(StatusCode::OK, clusters::listeners_text(&admin.state.shared.config.load())),
        (_, "/stats/prometheus") => respond(StatusCode::OK, PROMETHEUS, stats::prometheus(admin)),
        (_, "/stats") => match stats::all(admin, param(query, "filter").as_deref()) {
            Ok(all) if as_json => json(&stats::json(&all)),
            Ok(all) => text(StatusCode::OK, stats::text(&all)),
            Err(e) => text(StatusCode::BAD_REQUEST, format!("{e}\n")),
        },
        (method, "/logging") => {
            let (status, body) = admin.logging.handle(method == Method::POST, query);
            text(StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body)
        }
        (_, "/" | "/help") => text(StatusCode::OK, HELP),
        _ => text(StatusCode::NOT_FOUND, format!("invalid path\n{HELP}")),
    }
}

/// Serves `handler` over HTTP/1 on `address`.
async fn serve_with<F>(address: SocketAddr, handler: F) -> std::io::Result<()>
where
    F: Fn(&Request<Incoming>) -> Response<Full<Bytes>> + Send + Sync + 'static,
{
    let listener = TcpListener::bind(address).await?;
    let handler = Arc::new(handler);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let handler = handler.clone();
            let service = service_fn(move |req: Request<Incoming>| {
                let r = handler(&req);
                async move { Ok::<_, Infallible>(r) }
            });
            tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    Ok(())
}

/// Serves the admin interface on `address`.
pub async fn serve(address: SocketAddr, admin: Arc<Admin>) -> std::io::Result<()> {
    serve_with(address, move |req| {
        let response = route(&admin, req);
        // Envoy's admin says the same at debug level (runbooks tail it after `/logging`).
        tracing::debug!("request complete: path: {}", req.uri());
        response
    })
    .await
}

/// Serves `/healthz/ready` on `address` (Istio's readiness port).
pub async fn serve_health(address: SocketAddr, state: Arc<State>) -> std::io::Result<()> {
    serve_with(address, move |req| match req.uri().path() {
        "/healthz/ready" => readiness(&state),
        _ => text(StatusCode::NOT_FOUND, ""),
    })
    .await
}

/// Serves `/stats/prometheus` on `address` (Istio's 15090, where sidecars are scraped).
pub async fn serve_metrics(address: SocketAddr, admin: Arc<Admin>) -> std::io::Result<()> {
    serve_with(address, move |req| match req.uri().path() {
        "/stats/prometheus" => respond(StatusCode::OK, PROMETHEUS, stats::prometheus(&admin)),
        _ => text(StatusCode::NOT_FOUND, ""),
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_decoded() {
        assert_eq!(param("format=json&filter=cluster%5C.c", "filter").as_deref(), Some("cluster\\.c"));
        assert_eq!(param("format=json", "format").as_deref(), Some("json"));
        assert_eq!(param("a=b", "format"), None);
        assert_eq!(decode("a+b%zz"), "a b%zz");
    }
}
