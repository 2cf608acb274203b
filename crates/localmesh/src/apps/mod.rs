//! The demo's apps, built into the binary (`strait demo-app SERVICE --version V`): a
//! Bookinfo-like set where productpage calls details and reviews, reviews v2 and v3 call
//! ratings (v1 does not), and details may call an external books API. Each is a small hyper 1
//! server on `$POD_IP:$PORT` answering JSON that names its service, version and pod (so tests
//! and the demo can count), with `/ready` for readiness probes. Calls go to services by name
//! through the sidecar ([`client`]) and carry the request's trace and user headers on, as an
//! instrumented app must for the mesh to join its spans and route by `end-user`.

mod bookinfo;
pub mod client;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;

/// The headers an app copies from its request onto the calls it makes: Envoy's request id,
/// B3, W3C Trace Context, OpenTracing, Google Cloud Trace, SkyWalking, Datadog, and the
/// user identity Bookinfo routes on (and the user agent, as Bookinfo's productpage does).
pub const PROPAGATED: [&str; 17] = [
    "x-request-id",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
    "b3",
    "traceparent",
    "tracestate",
    "x-ot-span-context",
    "x-cloud-trace-context",
    "sw8",
    "x-datadog-trace-id",
    "x-datadog-parent-id",
    "x-datadog-sampling-priority",
    "end-user",
    "user-agent",
];

/// The demo services.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// Calls details and reviews.
    Productpage,
    /// Book details; calls `BOOKS_API` through a tunnel when set.
    Details,
    /// Reviews; v2 and v3 call ratings.
    Reviews,
    /// Star ratings.
    Ratings,
    /// The "external" books API (runs outside the mesh).
    BooksApi,
}

impl Service {
    /// Parses a service name.
    pub fn parse(s: &str) -> Result<Service, String> {
        Ok(match s {
            "productpage" => Service::Productpage,
            "details" => Service::Details,
            "reviews" => Service::Reviews,
            "ratings" => Service::Ratings,
            "books-api" => Service::BooksApi,
            other => {
                return Err(format!("unknown demo app {other:?} (productpage, details, reviews, ratings, books-api)"));
            }
        })
    }

    /// The name.
    pub fn name(self) -> &'static str {
        match self {
            Service::Productpage => "productpage",
            Service::Details => "details",
            Service::Reviews => "reviews",
            Service::Ratings => "ratings",
            Service::BooksApi => "books-api",
        }
    }
}

/// One running app.
pub struct App {
    /// Which service.
    pub service: Service,
    /// Its version label (`v1`, …).
    pub version: String,
    /// `POD_NAME`.
    pub pod: String,
    /// Outbound client.
    pub client: client::Client,
}

/// Runs app `service` until the process is stopped. Listens on `listen`, else
/// `$POD_IP:$PORT` (defaults 127.0.0.1 and 9080).
pub fn run(service: Service, version: &str, listen: Option<SocketAddr>) -> Result<(), String> {
    let addr = match listen {
        Some(a) => a,
        None => {
            let ip = std::env::var("POD_IP").unwrap_or_else(|_| "127.0.0.1".into());
            let port = std::env::var("PORT").unwrap_or_else(|_| "9080".into());
            format!("{ip}:{port}").parse().map_err(|e| format!("POD_IP/PORT {ip}:{port}: {e}"))?
        }
    };
    let app = Arc::new(App {
        service,
        version: version.to_string(),
        pod: std::env::var("POD_NAME").unwrap_or_else(|_| format!("{}-{version}", service.name())),
        client: client::Client::from_env(),
    });
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(serve(app, addr))
}

async fn serve(app: Arc<App>, addr: SocketAddr) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    println!("{} {} listening on {addr}", app.service.name(), app.version);
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(|e| e.to_string())?;
    loop {
        let (stream, _) = tokio::select! {
            r = listener.accept() => match r { Ok(s) => s, Err(_) => continue },
            _ = term.recv() => return Ok(()),
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let app = app.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(&app, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
        });
    }
}

async fn handle(app: &App, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let (status, body) = if path == "/ready" || path == "/healthz" {
        (StatusCode::OK, "ready\n".to_string())
    } else {
        let headers = propagated(req.headers());
        match bookinfo::answer(app, &path, &headers).await {
            Some(v) => (StatusCode::OK, format!("{v}\n")),
            None => (StatusCode::NOT_FOUND, format!("{} {}: no such path {path}\n", app.service.name(), app.version)),
        }
    };
    if path != "/ready" && path != "/healthz" {
        let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
        println!("{} {path} {} x-request-id={id}", req.method(), status.as_u16());
    }
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    let ct = if status == StatusCode::OK && path != "/ready" && path != "/healthz" {
        "application/json"
    } else {
        "text/plain"
    };
    resp.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(ct));
    resp
}

/// The request's headers that travel on with the app's own calls.
pub fn propagated(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for name in PROPAGATED {
        if let Some(v) = headers.get(name) {
            out.insert(name, v.clone());
        }
    }
    out
}
