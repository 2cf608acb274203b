//! The admin interface on `127.0.0.1:ADMIN_PORT`, Envoy-compatible where it exists:
//! `/ready` (`LIVE` once the initial config is applied), `/server_info`, `/quitquitquit`
//! (POST: stop), and `/config_dump` (partial, and says so: names and versions of the
//! resources held, plus any NACK). Readiness is also served on `IP:HEALTH_PORT` as Istio's
//! `/healthz/ready`.

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
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain; charset=UTF-8"));
    r
}

fn json(value: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(serde_json::to_vec_pretty(value).unwrap_or_default())));
    r.headers_mut().insert(header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    r
}

fn readiness(state: &State) -> Response<Full<Bytes>> {
    if state.is_ready() {
        text(StatusCode::OK, "LIVE\n")
    } else {
        text(StatusCode::SERVICE_UNAVAILABLE, "PRE_INITIALIZING\n")
    }
}

fn route(admin: &Admin, req: &Request<Incoming>) -> Response<Full<Bytes>> {
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
        (_, "/config_dump") => json(&admin.state.config_dump()),
        _ => text(StatusCode::NOT_FOUND, "invalid path\n"),
    }
}

/// Serves the admin interface on `address`.
pub async fn serve(address: SocketAddr, admin: Arc<Admin>) -> std::io::Result<()> {
    let listener = TcpListener::bind(address).await?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let admin = admin.clone();
            let service = service_fn(move |req: Request<Incoming>| {
                let r = route(&admin, &req);
                async move { Ok::<_, Infallible>(r) }
            });
            tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    Ok(())
}

/// Serves `/healthz/ready` on `address` (Istio's readiness port).
pub async fn serve_health(address: SocketAddr, state: Arc<State>) -> std::io::Result<()> {
    let listener = TcpListener::bind(address).await?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let state = state.clone();
            let service = service_fn(move |req: Request<Incoming>| {
                let r = match req.uri().path() {
                    "/healthz/ready" => readiness(&state),
                    _ => text(StatusCode::NOT_FOUND, ""),
                };
                async move { Ok::<_, Infallible>(r) }
            });
            tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    Ok(())
}
