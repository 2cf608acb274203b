//! Gateway scenarios: a router (`strait proxy --type router`, same data plane and xDS flavour
//! as the mesh's sidecar) joins the mesh's control plane on its own IP (127.0.0.220 in Envoy's
//! mesh, 127.0.0.221 in Strait's) for the length of one scenario, with the Gateways,
//! VirtualServices and Secrets the scenario writes (removed again at the end, with the router).
//! Upstreams: header-echo servers `gw-a` and `gw-b` on 127.0.0.180/181 (stateless, shared by
//! both meshes); TLS backends for PASSTHROUGH on 127.0.0.182 (Envoy's mesh) and .183 (Strait's).
//!
//! - [`routes_by_host`]: HTTP on 8080 routed by `Host` (with and without its port), 404 `NR`
//!   for an unknown host or path, `httpsRedirect` (301 to https), and the edge headers (`use_remote_address`): XFF appended,
//!   `x-forwarded-proto` overwritten, `x-envoy-external-address`, a client's request id and
//!   `x-envoy-*` steering headers dropped, `server: envoy`.
//! - [`tls`]: HTTPS SIMPLE (files and `credentialName`), MUTUAL, Secret rotation, PASSTHROUGH,
//!   TLS terminated in front of a TCP route.

mod tls;

pub use tls::{https_mutual, https_simple, passthrough, secret_rotation};

use super::*;
use crate::common::gateway::{Router, wait_until};
use std::io::{BufRead, BufReader, Write};

/// The header-echo upstreams (name, address).
const ECHOES: [(&str, &str); 2] = [("gw-a", "127.0.0.180:9080"), ("gw-b", "127.0.0.181:9080")];

/// The services behind the gateway (and the TLS backend of this data plane, for PASSTHROUGH).
fn services(c: &Ctx) -> String {
    let svc = |name: &str, port_name: &str, port: u16, ip: &str| {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default}}\n\
             spec:\n  selector: {{app: {name}}}\n  ports: [{{name: {port_name}, port: {port}}}]\n---\n\
             apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}-1, namespace: default, labels: {{app: {name}}}}}\n\
             spec: {{containers: [{{name: {name}, image: {name}, ports: [{{containerPort: {port}}}]}}]}}\n\
             status: {{podIP: {ip}}}\n"
        )
    };
    let mut out: Vec<String> = ECHOES.iter().map(|(name, addr)| svc(name, "http", 9080, ip_of(addr))).collect();
    out.push(svc("gw-tls", "tls", 8443, tls_backend_ip(c)));
    out.join("---\n")
}

fn ip_of(addr: &str) -> &str {
    addr.split(':').next().unwrap_or(addr)
}

/// The router's IP in this data plane's mesh.
pub fn gateway_ip(c: &Ctx) -> &'static str {
    if c.is_envoy() { "127.0.0.220" } else { "127.0.0.221" }
}

/// The PASSTHROUGH backend's IP in this data plane's mesh.
pub fn tls_backend_ip(c: &Ctx) -> &'static str {
    if c.is_envoy() { "127.0.0.182" } else { "127.0.0.183" }
}

/// A scenario's stage: its config files and its router; dropping it removes both.
pub struct Stage<'a> {
    pub c: &'a Ctx,
    pub router: Router,
    files: Vec<&'static str>,
}

impl<'a> Stage<'a> {
    /// Writes `files` (name, YAML) plus the gateway services, starts the router and waits
    /// until it is ready.
    pub fn start(c: &'a Ctx, files: &[(&'static str, String)]) -> Result<Stage<'a>, String> {
        echoes();
        let mut names = vec!["gateway-services.yaml"];
        crate::common::gateway::write_config(&c.mesh.dir, "gateway-services.yaml", &services(c));
        for (name, yaml) in files {
            crate::common::gateway::write_config(&c.mesh.dir, name, yaml);
            names.push(name);
        }
        let router = Router::start(&c.mesh.dir, "router.log", &c.mesh.xds, gateway_ip(c), c.dp);
        let stage = Stage { c, router, files: names };
        if !stage.router.ready(30) {
            return Err(stage.fail("the router never became ready"));
        }
        Ok(stage)
    }

    /// An error carrying the router's last lines.
    pub fn fail(&self, what: &str) -> String {
        format!("{what}\n--- router (last 25 lines) ---\n{}", tail(&self.router.output(), 25))
    }

    /// Err(`what` + the router's log) unless `cond`.
    pub fn ensure(&self, cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
        if cond { Ok(()) } else { Err(self.fail(&what())) }
    }

    /// The access log line with every needle: `STATUS FLAGS DETAILS "TRANSPORT"`, then the
    /// authority and the requested server name.
    pub fn access(&self, needles: &[&str]) -> Result<String, String> {
        let line =
            self.router.logged(needles).ok_or_else(|| self.fail(&format!("no access log line with {needles:?}")))?;
        let quoted: Vec<&str> = line.split('"').collect();
        let authority = quoted.get(11).copied().unwrap_or_default();
        let sni = line.split_whitespace().rev().nth(1).unwrap_or_default();
        Ok(format!("{} authority={authority} sni={sni}", access_fields(&line)))
    }

    /// `curl` against the router: (status, body) of `url` with `args`.
    pub fn curl(&self, args: &[&str], url: &str) -> (String, String) {
        let mut all: Vec<&str> = vec!["-w", "\n%{http_code}"];
        all.extend_from_slice(args);
        all.push(url);
        let out = curl(&all);
        let (body, status) = out.rsplit_once('\n').unwrap_or(("", &out));
        (status.to_string(), body.trim_end().to_string())
    }
}

impl Drop for Stage<'_> {
    fn drop(&mut self) {
        for f in &self.files {
            crate::common::gateway::write_config(&self.c.mesh.dir, f, "");
        }
        // Let the sidecar settle on the mesh without them before the next scenario.
        let _ = self.c.apply("gateway-services.yaml", "");
    }
}

/// Starts the header-echo upstreams once: each answers `NAME` then the request's headers, one
/// `name: value` line each, sorted.
fn echoes() {
    static STARTED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    STARTED.get_or_init(|| {
        for (name, addr) in ECHOES {
            let listener = std::net::TcpListener::bind(addr).expect("echo upstream binds");
            std::thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    std::thread::spawn(move || echo(stream, name));
                }
            });
        }
    });
}

fn echo(stream: std::net::TcpStream, name: &str) {
    let Ok(clone) = stream.try_clone() else { return };
    let (mut reader, mut out) = (BufReader::new(clone), stream);
    loop {
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line == "\r\n" => break,
                Ok(_) if headers.is_empty() && !line.contains(':') => {} // the request line
                Ok(_) => {
                    let (k, v) = line.trim_end().split_once(':').unwrap_or((&line, ""));
                    headers.push(format!("{}: {}", k.to_ascii_lowercase(), v.trim()));
                }
            }
        }
        headers.sort();
        let body = format!("{name}\n{}\n", headers.join("\n"));
        let resp = format!(
            "HTTP/1.1 200 OK\r\nserver: echo\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if out.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

/// The value of `name` in an echoed body (`-` when the upstream did not get it).
pub fn echoed(body: &str, name: &str) -> String {
    let prefix = format!("{name}: ");
    body.lines().find_map(|l| l.strip_prefix(&prefix)).unwrap_or("-").to_string()
}

const HTTP_GATEWAY: &str = r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: ingress, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8080, name: http, protocol: HTTP}
    hosts: ["*"]
  - port: {number: 8080, name: http-redirect, protocol: HTTP}
    hosts: [secure.example.com]
    tls: {httpsRedirect: true}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: gw-a, namespace: default}
spec:
  hosts: [a.example.com, secure.example.com]
  gateways: [ingress]
  http:
  - match: [{uri: {prefix: /a}}]
    route: [{destination: {host: gw-a, port: {number: 9080}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: gw-b, namespace: default}
spec:
  hosts: [b.example.com]
  gateways: [ingress]
  http:
  - route: [{destination: {host: gw-b, port: {number: 9080}}}]
"#;

pub fn routes_by_host(c: &Ctx) -> Outcome {
    let s = Stage::start(c, &[("gateway.yaml", HTTP_GATEWAY.to_string())])?;
    let url = |path: &str| format!("http://{}:8080{path}", s.router.ip);
    let get = |host: &str, path: &str| s.curl(&["-H", &format!("Host: {host}")], &url(path));
    let first = |b: &str| b.lines().next().unwrap_or_default().to_string();
    let served = wait_until(10, || get("a.example.com", "/a").0 == "200");
    s.ensure(served.is_some(), || format!("HTTP through the gateway: {:?}", get("a.example.com", "/a")))?;
    let mut seen = Vec::new();
    for (host, path) in [("a.example.com", "/a?c=1"), ("b.example.com", "/any"), ("a.example.com:8080", "/a?c=port")] {
        let (status, body) = get(host, path);
        s.ensure(status == "200", || format!("{host}{path}: {status} {body}"))?;
        seen.push(format!("{host}{path} → {status} {}", first(&body)));
    }
    for (host, path) in [("c.example.com", "/a?c=unknown-host"), ("a.example.com", "/other?c=unknown-path")] {
        let (status, body) = get(host, path);
        s.ensure(status == "404" && body.is_empty(), || format!("{host}{path}: {status} {body:?}"))?;
        seen.push(format!("{host}{path} → {}", s.access(&[&format!(" {path} HTTP/1.1")])?));
    }
    // httpsRedirect: any path, 301 to https with the Host as sent.
    for path in ["/a?c=redirect", "/unrouted?c=redirect"] {
        let (status, loc) =
            s.curl(&["-H", "Host: secure.example.com:8080", "-w", "\n%{http_code} %{redirect_url}"], &url(path));
        s.ensure(status.starts_with("301 https://"), || format!("httpsRedirect {path}: {status} {loc}"))?;
        seen.push(format!("secure.example.com:8080{path} → {status} ({})", s.access(&[&format!(" {path} HTTP/1.1")])?));
    }
    let edge = edge_headers(&s, &url("/a?c=edge"))?;
    Ok(format!("{}; {edge}", seen.join("; ")))
}

/// What the upstream and the access log see of a request that carries a client's XFF, proto,
/// request id and `x-envoy-*` headers.
fn edge_headers(s: &Stage<'_>, url: &str) -> Result<String, String> {
    let args = [
        "-i",
        "-H",
        "Host: a.example.com",
        "-H",
        "x-forwarded-for: 10.1.1.1",
        "-H",
        "x-forwarded-proto: https",
        "-H",
        "x-request-id: client-id",
        "-H",
        "x-envoy-retry-on: 5xx",
        "-H",
        "x-envoy-original-path: /x",
        "-H",
        "x-envoy-internal: true",
        "-H",
        "x-envoy-external-address: 1.2.3.4",
    ];
    let (status, out) = s.curl(&args, url);
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let server = head.lines().find_map(|l| l.strip_prefix("server: ")).unwrap_or("-");
    // A loopback client: both data planes append the host's own address (Envoy's local address).
    let xff = echoed(body, "x-forwarded-for");
    let rid = echoed(body, "x-request-id");
    let line = s.router.logged(&["/a?c=edge"]).ok_or_else(|| s.fail("no access log line for the edge request"))?;
    let logged_xff = line.split('"').nth(5).unwrap_or_default();
    s.ensure(status == "200" && line.contains(&rid), || format!("edge request: {status} {out}\n{line}"))?;
    Ok(format!(
        "edge: server={server} xff={xff} (logged {logged_xff}) proto={} external={} request-id {} \
         retry-on={} original-path={} internal={}",
        echoed(body, "x-forwarded-proto"),
        echoed(body, "x-envoy-external-address"),
        if rid == "client-id" { "kept" } else { "replaced" },
        echoed(body, "x-envoy-retry-on"),
        echoed(body, "x-envoy-original-path"),
        echoed(body, "x-envoy-internal"),
    ))
}
