//! The demo apps' HTTP client. It calls other services by name (`http://reviews:9080/…`)
//! through the pod's sidecar when `HTTP_PROXY` is set (absolute-form requests to the proxy,
//! as curl and every HTTP library do), and reaches opaque destinations with `CONNECT` through
//! `HTTPS_PROXY`; without those variables (a captured pod) it connects directly. Connections
//! are kept alive and reused, one idle pool per proxy or destination.

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::net::TcpStream;

type Sender = SendRequest<Empty<Bytes>>;

/// How long a call may take before the app gives up on it.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A pooled, proxy-aware HTTP/1.1 client.
pub struct Client {
    http_proxy: Option<String>,
    https_proxy: Option<String>,
    idle: Mutex<HashMap<String, Vec<Sender>>>,
}

/// A finished call: status and body.
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Body.
    pub body: Bytes,
}

impl Client {
    /// A client reading `HTTP_PROXY`/`http_proxy` and `HTTPS_PROXY`/`https_proxy`.
    pub fn from_env() -> Client {
        let var = |a: &str, b: &str| std::env::var(a).or_else(|_| std::env::var(b)).ok().filter(|v| !v.is_empty());
        Client {
            http_proxy: var("HTTP_PROXY", "http_proxy").and_then(|p| authority(&p)),
            https_proxy: var("HTTPS_PROXY", "https_proxy").and_then(|p| authority(&p)),
            idle: Mutex::new(HashMap::new()),
        }
    }

    /// A client that connects directly, whatever the environment says (the demo's driver,
    /// which plays a client outside the mesh).
    pub fn direct() -> Client {
        Client { http_proxy: None, https_proxy: None, idle: Mutex::new(HashMap::new()) }
    }

    /// GET `url` (`http://host:port/path`) with `headers`.
    pub async fn get(&self, url: &str, headers: &HeaderMap) -> Result<Reply, String> {
        let uri: Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
        let target = uri.authority().map(ToString::to_string).ok_or_else(|| format!("{url}: no host"))?;
        let (connect_to, request_uri) = match &self.http_proxy {
            Some(proxy) => (proxy.clone(), uri.clone()),
            None => (target.clone(), uri.path_and_query().map_or("/", |p| p.as_str()).parse().unwrap_or_default()),
        };
        let mut req =
            Request::builder().method(Method::GET).uri(request_uri).body(Empty::new()).map_err(|e| e.to_string())?;
        *req.headers_mut() = headers.clone();
        req.headers_mut().insert(http::header::HOST, target.parse().map_err(|_| format!("bad host {target:?}"))?);
        let call = async {
            let mut sender = self.sender(&connect_to).await?;
            let resp = sender.send_request(req).await.map_err(|e| format!("{url}: {e}"))?;
            let status = resp.status();
            let body = resp.into_body().collect().await.map_err(|e| format!("{url}: {e}"))?.to_bytes();
            self.put_back(&connect_to, sender);
            Ok(Reply { status, body })
        };
        tokio::time::timeout(CALL_TIMEOUT, call).await.map_err(|_| format!("{url}: timed out"))?
    }

    /// GET `path` from `target` (`host:port`) through a `CONNECT` tunnel (the sidecar's
    /// `HTTPS_PROXY`), as an app reaches an opaque (say, TLS) destination. `Err` carries the
    /// proxy's status when it refuses the tunnel.
    pub async fn get_tunnelled(&self, target: &str, path: &str, headers: &HeaderMap) -> Result<Reply, String> {
        let call = async {
            let stream = match &self.https_proxy {
                Some(proxy) => self.tunnel(proxy, target, headers).await?,
                None => TcpStream::connect(target).await.map_err(|e| format!("{target}: {e}"))?,
            };
            let (mut sender, conn) = http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            let mut req = Request::get(path).body(Empty::<Bytes>::new()).map_err(|e| e.to_string())?;
            *req.headers_mut() = headers.clone();
            req.headers_mut().insert(http::header::HOST, target.parse().map_err(|_| format!("bad host {target:?}"))?);
            let resp = sender.send_request(req).await.map_err(|e| format!("{target}{path}: {e}"))?;
            let status = resp.status();
            let body = resp.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
            Ok(Reply { status, body })
        };
        tokio::time::timeout(CALL_TIMEOUT, call).await.map_err(|_| format!("{target}: timed out"))?
    }

    /// A raw stream to `target` through `proxy` with `CONNECT`.
    async fn tunnel(&self, proxy: &str, target: &str, headers: &HeaderMap) -> Result<TcpStream, String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = TcpStream::connect(proxy).await.map_err(|e| format!("proxy {proxy}: {e}"))?;
        let mut head = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
        if let Some(id) = headers.get("x-request-id").and_then(|v| v.to_str().ok()) {
            head.push_str(&format!("x-request-id: {id}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await.map_err(|e| e.to_string())?;
        // Read the proxy's answer byte by byte up to the blank line, so no tunnelled byte is lost.
        let mut answer = Vec::new();
        while !answer.ends_with(b"\r\n\r\n") {
            let byte = stream.read_u8().await.map_err(|e| format!("proxy {proxy} closed the tunnel: {e}"))?;
            answer.push(byte);
            if answer.len() > 16 * 1024 {
                return Err(format!("proxy {proxy}: answer too long"));
            }
        }
        let text = String::from_utf8_lossy(&answer);
        let status = text.split_whitespace().nth(1).unwrap_or("?");
        if status == "200" { Ok(stream) } else { Err(format!("CONNECT {target} refused with {status}")) }
    }

    async fn sender(&self, addr: &str) -> Result<Sender, String> {
        loop {
            let pooled =
                self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get_mut(addr).and_then(Vec::pop);
            match pooled {
                Some(mut s) => {
                    if s.ready().await.is_ok() {
                        return Ok(s);
                    }
                }
                None => break,
            }
        }
        let stream = TcpStream::connect(addr).await.map_err(|e| format!("{addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        Ok(sender)
    }

    fn put_back(&self, addr: &str, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let list = idle.entry(addr.to_string()).or_default();
        if list.len() < 16 {
            list.push(sender);
        }
    }
}

/// `host:port` of a proxy URL (`http://127.10.1.2:15001` → `127.10.1.2:15001`).
fn authority(url: &str) -> Option<String> {
    let uri: Uri = url.parse().ok()?;
    let host = uri.host()?;
    Some(format!("{host}:{}", uri.port_u16().unwrap_or(80)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn proxy_authority() {
        assert_eq!(super::authority("http://127.10.1.2:15001").as_deref(), Some("127.10.1.2:15001"));
        assert_eq!(super::authority("http://proxy/").as_deref(), Some("proxy:80"));
        assert_eq!(super::authority("not a url"), None);
    }
}
