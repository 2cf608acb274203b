//! Debug and metrics HTTP endpoints (istiod's 15014/8080 equivalents): `/debug/syncz` (per-proxy
//! sync state, what `strait proxy-status` prints), `/debug/configz` (config in force),
//! `/debug/registryz` (services and endpoints), `/metrics` (Prometheus), `/ready`. Secret values
//! are key material: both config views show a Secret's keys, never its values.

use crate::source::SourceState;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use strait_xds_server::{Published, Shared};
use tokio::sync::watch;

struct Ctx {
    shared: Arc<Shared>,
    registry: watch::Receiver<Arc<Published>>,
    source: Arc<Mutex<SourceState>>,
}

/// Serves the debug endpoints on `addr` until the process ends.
pub async fn serve(
    addr: SocketAddr,
    shared: Arc<Shared>,
    registry: watch::Receiver<Arc<Published>>,
    source: Arc<Mutex<SourceState>>,
) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("debug server on {addr}: {e}"))?;
    let ctx = Arc::new(Ctx { shared, registry, source });
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let svc = service_fn(move |req| {
                let ctx = ctx.clone();
                async move { Ok::<_, Infallible>(route(&ctx, &req)) }
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, svc).await;
        });
    }
}

fn reply(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

fn json_reply(v: &Value) -> Response<Full<Bytes>> {
    reply(StatusCode::OK, "application/json", serde_json::to_string_pretty(v).unwrap_or_default())
}

fn route(ctx: &Ctx, req: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    match req.uri().path() {
        "/debug/syncz" => json_reply(&serde_json::to_value(ctx.shared.status.rows()).unwrap_or_default()),
        "/debug/configz" => {
            let state = ctx.source.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let items: Vec<Value> = state.resources.iter().map(|r| redact(r.to_json())).collect();
            json_reply(&json!({"items": items, "problems": state.problems}))
        }
        "/debug/registryz" => json_reply(&registryz(&ctx.registry.borrow())),
        "/metrics" => reply(StatusCode::OK, "text/plain; version=0.0.4", ctx.shared.status.metrics()),
        "/ready" => reply(StatusCode::OK, "text/plain", "ready\n".into()),
        _ => reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found; try /debug/syncz, /debug/configz, /debug/registryz, /metrics\n".into(),
        ),
    }
}

fn registryz(p: &Published) -> Value {
    let services: Vec<Value> = p
        .registry
        .services
        .iter()
        .map(|s| {
            json!({
                "hostname": s.hostname,
                "namespace": s.namespace,
                "addresses": s.addresses,
                "resolution": format!("{:?}", s.resolution),
                "ports": s.ports.iter().map(|port| json!({"port": port.number, "name": port.name, "protocol": port.protocol.to_string()})).collect::<Vec<_>>(),
                "endpoints": s.endpoints.iter().map(|e| json!({"address": e.address, "ports": e.ports, "labels": e.labels, "ready": e.ready})).collect::<Vec<_>>(),
            })
        })
        .collect();
    let names = |v: &[strait_registry::store::Credential]| -> Vec<Value> {
        v.iter()
            .map(|c| json!({"namespace": c.namespace, "name": c.name, "keys": c.data.keys().collect::<Vec<_>>()}))
            .collect()
    };
    let config = &p.registry.config;
    json!({"version": p.version, "services": services, "secrets": names(&config.secrets), "configMaps": names(&config.config_maps)})
}

/// A Secret's `data` and `stringData` values replaced by `<redacted>`; other objects as they are.
fn redact(mut item: Value) -> Value {
    if item["kind"] == "Secret" {
        for field in ["data", "stringData"] {
            if let Some(Value::Object(map)) = item.get_mut(field) {
                map.values_mut().for_each(|v| *v = Value::from("<redacted>"));
            }
        }
    }
    item
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted() {
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "data": {"tls.key": "c2VjcmV0"}, "stringData": {"tls.crt": "-----BEGIN"}});
        let out = redact(secret).to_string();
        assert!(!out.contains("c2VjcmV0") && !out.contains("BEGIN"), "{out}");
        assert!(out.contains("\"tls.key\":\"<redacted>\"") && out.contains("tls.crt"), "{out}");
        let cm = json!({"kind": "ConfigMap", "data": {"mesh": "x"}});
        assert_eq!(redact(cm.clone()), cm);
    }
}
