//! A real gRPC upstream and client for end-to-end tests, on tonic. The service is Envoy's
//! `envoy.service.auth.v3.Authorization` (`/envoy.service.auth.v3.Authorization/Check`, a unary
//! call) only because envoy-types already carries its generated server and client, so no
//! protoc or hand-written codec is needed; the request's `attributes.request.http.path` tells
//! the server what to do:
//!
//! - `ok` (or anything else): OK, `status.message` = `SERVICE VERSION` (the response ends with
//!   `grpc-status: 0` in the HTTP/2 trailers);
//! - `fail`: `NOT_FOUND` with message `no such thing` (a trailers-only response);
//! - `slow:MS`: OK after MS milliseconds;
//! - `timeout`: OK, `status.message` = the `grpc-timeout` header the server received.
//!
//! [`call`] dials through a proxy (HTTP/2 prior knowledge to the proxy's address with the
//! service's `:authority`, as a capture-free client of the outbound listener does);
//! [`request_body`] is the same call's request as bytes on the wire, for clients such as curl
//! that must not enforce a deadline of their own.

use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use envoy_types::pb::envoy::service::auth::v3::authorization_server::{Authorization, AuthorizationServer};
use envoy_types::pb::envoy::service::auth::v3::{AttributeContext, CheckRequest, CheckResponse, attribute_context};
use envoy_types::pb::google::rpc::Status as RpcStatus;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tonic::{Request, Response, Status};

/// A running gRPC upstream.
#[derive(Clone)]
pub struct Server {
    /// Its address.
    pub addr: String,
    /// Calls it answered.
    pub calls: Arc<AtomicUsize>,
}

struct Service {
    name: String,
    calls: Arc<AtomicUsize>,
}

#[tonic::async_trait]
impl Authorization for Service {
    async fn check(&self, request: Request<CheckRequest>) -> Result<Response<CheckResponse>, Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let timeout = request.metadata().get("grpc-timeout").and_then(|v| v.to_str().ok()).map(str::to_string);
        let path = request
            .into_inner()
            .attributes
            .and_then(|a| a.request)
            .and_then(|r| r.http)
            .map(|h| h.path)
            .unwrap_or_default();
        let message = match path.as_str() {
            "fail" => return Err(Status::not_found("no such thing")),
            "timeout" => timeout.unwrap_or_else(|| "none".into()),
            p => {
                if let Some(ms) = p.strip_prefix("slow:").and_then(|ms| ms.parse().ok()) {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
                self.name.clone()
            }
        };
        let status = RpcStatus { code: 0, message, details: Vec::new() };
        Ok(Response::new(CheckResponse { status: Some(status), ..Default::default() }))
    }
}

/// Starts the gRPC upstream on `addr`, answering `SERVICE VERSION` (its own runtime thread).
pub fn spawn(addr: &str, service: &str, version: &str) -> std::io::Result<Server> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let server = Server { addr: addr.to_string(), calls: Arc::default() };
    let svc = Service { name: format!("{service} {version}"), calls: server.calls.clone() };
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build();
        let Ok(runtime) = runtime else { return };
        runtime.block_on(async move {
            let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
            let incoming = tonic::transport::server::TcpIncoming::from(listener);
            let _ = tonic::transport::Server::builder()
                .add_service(AuthorizationServer::new(svc))
                .serve_with_incoming(incoming)
                .await;
        });
    });
    Ok(server)
}

/// The length-prefixed gRPC message of a `Check` call with `path` (what a gRPC client sends as
/// the HTTP/2 request body).
pub fn request_body(path: &str) -> Vec<u8> {
    use prost::Message;
    let http = attribute_context::HttpRequest { path: path.into(), ..Default::default() };
    let attributes = AttributeContext {
        request: Some(attribute_context::Request { http: Some(http), ..Default::default() }),
        ..Default::default()
    };
    let message = CheckRequest { attributes: Some(attributes) }.encode_to_vec();
    let mut out = vec![0u8];
    out.extend_from_slice(&u32::try_from(message.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(&message);
    out
}

/// What a call got back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The gRPC status code (0 = OK).
    pub code: i32,
    /// The status message (`grpc-message`), or on OK the response's `status.message`.
    pub message: String,
    /// Response headers (and trailers-only metadata) the client saw, lower-case names.
    pub headers: Vec<(String, String)>,
}

/// Calls `Check` with `path` on `authority` through the proxy at `proxy` (`IP:PORT`), with
/// `headers` as request metadata and `timeout` sent as `grpc-timeout` (and enforced by the
/// client) when given. Err: the call could not be made at all.
pub fn call(
    proxy: &str,
    authority: &str,
    path: &str,
    headers: &[(&'static str, &str)],
    timeout: Option<Duration>,
) -> Result<Reply, String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let origin: http::Uri = format!("http://{authority}").parse().map_err(|e| format!("{e}"))?;
        let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{proxy}"))
            .map_err(|e| e.to_string())?
            .origin(origin)
            .connect_timeout(Duration::from_secs(5));
        let channel = endpoint.connect().await.map_err(|e| format!("connect {proxy}: {e}"))?;
        let http = attribute_context::HttpRequest { path: path.into(), ..Default::default() };
        let attributes = AttributeContext {
            request: Some(attribute_context::Request { http: Some(http), ..Default::default() }),
            ..Default::default()
        };
        let mut request = Request::new(CheckRequest { attributes: Some(attributes) });
        for (name, value) in headers {
            let value = value.parse().map_err(|_| format!("bad metadata value {value:?}"))?;
            request.metadata_mut().insert(*name, value);
        }
        if let Some(t) = timeout {
            request.set_timeout(t);
        }
        let result = tokio::time::timeout(Duration::from_secs(10), AuthorizationClient::new(channel).check(request))
            .await
            .map_err(|_| "the call took over 10 s".to_string())?;
        let headers = |m: &tonic::metadata::MetadataMap| {
            m.clone()
                .into_headers()
                .iter()
                .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect()
        };
        Ok(match result {
            Ok(r) => {
                let headers = headers(r.metadata());
                let message = r.into_inner().status.map(|s| s.message).unwrap_or_default();
                Reply { code: 0, message, headers }
            }
            Err(s) => Reply { code: s.code() as i32, message: s.message().to_string(), headers: headers(s.metadata()) },
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_reach_the_server_directly() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        drop(listener);
        let server = spawn(&addr, "grpc", "v1").expect("spawn");
        let ok = call(&addr, "grpc:9090", "ok", &[], None).expect("call");
        assert_eq!((ok.code, ok.message.as_str()), (0, "grpc v1"));
        let fail = call(&addr, "grpc:9090", "fail", &[], None).expect("call");
        assert_eq!((fail.code, fail.message.as_str()), (5, "no such thing"));
        let timeout =
            call(&addr, "grpc:9090", "timeout", &[("x-test", "1")], Some(Duration::from_secs(3))).expect("call");
        assert!(timeout.message.ends_with('m') || timeout.message.ends_with('u'), "{timeout:?}");
        assert_eq!(server.calls.load(Ordering::SeqCst), 3);
    }
}
