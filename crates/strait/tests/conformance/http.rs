//! HTTP features beyond routing, each checked against Envoy's answers: a WebSocket echo
//! round trip through the sidecar (101, the accept key, echoes, the close handshake, the
//! access log line written when the tunnel closes) and a refused `Upgrade: foo` (403
//! `upgrade_failed`); gRPC unary calls through h2 on both sides (OK with its trailers, an
//! application error), a VirtualService `grpcStatus` fault abort (trailers-only 200 with
//! `grpc-status: 14`, `FI`), gRPC timeouts (the route timeout as `grpc-timeout` upstream, a
//! client's `grpc-timeout` honoured, the timeout answered in gRPC form); mirroring (the copy
//! reaches the mirror with the `-shadow` host and Envoy's shadow headers, once, and never
//! slows or fails the main request); CORS (preflight answered locally, allowed and refused
//! origins, the simple request's headers); and two `Host` headers (joined, as Envoy joins
//! them: the request takes the catch-all route).
//!
//! Upstreams: 127.0.0.190–195, started once for both data planes; requests carry the data
//! plane's name so that the shared recording upstreams tell the two meshes' traffic apart.

use super::*;
use strait_testkit::{grpc, recording, websocket};

/// The shared upstreams of these scenarios.
struct Upstreams {
    mirrored: recording::Recording,
    shadow: recording::Recording,
    slow_shadow: recording::Recording,
}

fn upstreams() -> &'static Upstreams {
    static UP: OnceLock<Upstreams> = OnceLock::new();
    UP.get_or_init(|| {
        let rec = |ip: u8, name: &str, delay| {
            recording::spawn(&format!("127.0.0.{ip}:9080"), name, "v1", delay).expect("recording upstream binds")
        };
        let up = Upstreams {
            mirrored: rec(190, "mirrored", Duration::ZERO),
            shadow: rec(191, "shadow", Duration::ZERO),
            slow_shadow: rec(192, "slowshadow", Duration::from_secs(2)),
        };
        websocket::spawn("127.0.0.193:8080").expect("websocket upstream binds");
        grpc::spawn("127.0.0.194:9090", "grpc", "v1").expect("gRPC upstream binds");
        upstream::spawn("127.0.0.195:9080", "cors", "v1", Behaviour::default()).expect("upstream binds");
        up
    })
}

/// (service, port name, port, pod IP's last octet).
const SERVICES: [(&str, &str, u16, u8); 6] = [
    ("mirrored", "http", 9080, 190),
    ("shadow", "http", 9080, 191),
    ("slowshadow", "http", 9080, 192),
    ("ws", "http", 8080, 193),
    ("grpc", "grpc", 9090, 194),
    ("cors", "http", 9080, 195),
];

const ROUTES: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: mirrored}
spec:
  hosts: [mirrored]
  http:
  - match: [{uri: {prefix: /slow}}]
    mirror: {host: slowshadow}
    route: [{destination: {host: mirrored}}]
  - match: [{uri: {prefix: /dead}}]
    mirror: {host: dead}
    route: [{destination: {host: mirrored}}]
  - mirror: {host: shadow}
    mirrorPercentage: {value: 100}
    route: [{destination: {host: mirrored}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: grpc}
spec:
  hosts: [grpc]
  http:
  - match: [{headers: {x-fault: {exact: abort}}}]
    fault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 100}}}
    route: [{destination: {host: grpc}}]
  - match: [{headers: {x-timeout: {exact: short}}}]
    timeout: 0.5s
    route: [{destination: {host: grpc}}]
  - route: [{destination: {host: grpc}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: cors}
spec:
  hosts: [cors]
  http:
  - corsPolicy:
      allowOrigins: [{exact: "https://a.example"}, {regex: "https://.*\\.b\\.example"}]
      allowMethods: [GET, POST]
      allowHeaders: [x-custom, content-type]
      exposeHeaders: [x-exposed]
      maxAge: 24h
      allowCredentials: true
    route: [{destination: {host: cors}}]
"#;

/// Installs this module's services and routes (idempotent).
fn setup(c: &Ctx) -> Result<(), String> {
    upstreams();
    let mut docs = Vec::new();
    for (name, port_name, port, ip) in SERVICES {
        docs.push(format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default}}\n\
             spec:\n  selector: {{app: {name}}}\n  ports: [{{name: {port_name}, port: {port}}}]\n"
        ));
        docs.push(format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}-1, namespace: default, labels: {{app: {name}}}}}\n\
             spec: {{containers: [{{name: {name}, image: {name}, ports: [{{containerPort: {port}}}]}}]}}\n\
             status: {{podIP: 127.0.0.{ip}}}\n"
        ));
    }
    docs.push(ROUTES.to_string());
    let yaml = docs.join("---\n");
    if c.mesh.log("config/http-features.yaml") != yaml {
        c.apply("http-features.yaml", &yaml)?;
    }
    Ok(())
}

/// The outbound listener's `IP:PORT`.
fn proxy(c: &Ctx) -> String {
    c.mesh.outbound.trim_start_matches("http://").to_string()
}

/// `BYTES_RECEIVED BYTES_SENT` of an Istio TEXT access log line.
fn byte_counts(line: &str) -> String {
    let after = line.split('"').nth(4).unwrap_or_default();
    after.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

pub fn websocket(c: &Ctx) -> Outcome {
    setup(c)?;
    let path = format!("/chat?dp={}", c.dp.name());
    let s = websocket::session(&proxy(c), "ws:8080", &path, "websocket", &["hello", "strait"])
        .map_err(|e| format!("websocket session: {e}{}", c.tail()))?;
    let ok = s.status_line.starts_with("HTTP/1.1 101 ") && s.accept_ok && s.closed_cleanly;
    ensure(ok && s.echoes == ["hello", "strait"], c, || format!("websocket: {s:?}"))?;
    let upgrade = s.headers.iter().find(|(k, _)| k == "upgrade").map(|(_, v)| v.clone()).unwrap_or_default();
    let line = c.logged(&[&format!(" {path} HTTP/1.1\" 101 ")])?;
    let (fields, bytes) = (access_fields(&line), byte_counts(&line));
    let want = "101 UC upstream_reset_after_response_started{connection_termination} \"-\"";
    ensure(fields == want && bytes == "31 19", c, || format!("websocket access log: {fields} / {bytes}: {line}"))?;
    let refused_path = format!("/chat-foo?dp={}", c.dp.name());
    let r = websocket::session(&proxy(c), "ws:8080", &refused_path, "foo", &[])
        .map_err(|e| format!("Upgrade: foo: {e}{}", c.tail()))?;
    let refused = c.fields(&refused_path)?;
    let ok = r.status_line.starts_with("HTTP/1.1 403 ") && refused.starts_with("403 - upgrade_failed ");
    ensure(ok, c, || format!("Upgrade: foo: {} / {refused}", r.status_line))?;
    Ok(format!(
        "101 (upgrade: {upgrade}, accept ok), echoes {:?}, close echoed; log {fields} bytes {bytes}; \
         Upgrade: foo → 403, {refused}",
        s.echoes
    ))
}

/// One gRPC call tagged with a unique request id; returns the reply and its access log fields.
fn grpc_call(
    c: &Ctx,
    tag: &str,
    path: &str,
    headers: &[(&'static str, &str)],
) -> Result<(grpc::Reply, String), String> {
    let id = format!("{tag}-{}", c.dp.name());
    let mut all = vec![("x-request-id", id.as_str())];
    all.extend_from_slice(headers);
    let reply = grpc::call(&proxy(c), "grpc:9090", path, &all, None).map_err(|e| format!("{tag}: {e}{}", c.tail()))?;
    let line = c.logged(&[&format!("\"{id}\"")])?;
    ensure(line.contains("\"POST /envoy.service.auth.v3.Authorization/Check HTTP/2\""), c, || line.clone())?;
    Ok((reply, access_fields(&line)))
}

/// On the Strait proxy, Istio's `grpc_response_status` label counts the call.
fn grpc_metric(c: &Ctx, status: &str) -> Result<(), String> {
    if c.is_envoy() {
        return Ok(());
    }
    let text = curl(&[&format!("http://{}/stats/prometheus", c.mesh.metrics)]);
    let label = format!("grpc_response_status=\"{status}\"");
    let found = text.lines().any(|l| l.starts_with("istio_requests_total{") && l.contains(&label));
    ensure(found, c, || format!("no istio_requests_total with {label}"))
}

pub fn grpc_unary(c: &Ctx) -> Outcome {
    setup(c)?;
    let (ok, ok_fields) = grpc_call(c, "grpc-ok", "ok", &[])?;
    ensure(ok.code == 0 && ok.message == "grpc v1", c, || format!("unary OK: {ok:?}"))?;
    ensure(ok_fields.starts_with("200 - via_upstream "), c, || format!("OK access log: {ok_fields}"))?;
    let (fail, fail_fields) = grpc_call(c, "grpc-fail", "fail", &[])?;
    ensure(fail.code == 5 && fail.message == "no such thing", c, || format!("NOT_FOUND: {fail:?}"))?;
    ensure(fail_fields.starts_with("200 - via_upstream "), c, || format!("NOT_FOUND access log: {fail_fields}"))?;
    grpc_metric(c, "0")?;
    grpc_metric(c, "5")?;
    Ok(format!("OK {:?} ({ok_fields}); NOT_FOUND {:?} ({fail_fields})", ok.message, fail.message))
}

pub fn grpc_fault(c: &Ctx) -> Outcome {
    setup(c)?;
    let (r, fields) = grpc_call(c, "grpc-abort", "ok", &[("x-fault", "abort")])?;
    ensure(r.code == 14 && r.message == "fault filter abort", c, || format!("gRPC abort: {r:?}"))?;
    ensure(fields.starts_with("200 FI fault_filter_abort "), c, || format!("gRPC abort access log: {fields}"))?;
    grpc_metric(c, "14")?;
    Ok(format!("UNAVAILABLE {:?}, trailers-only; {fields}", r.message))
}

pub fn grpc_timeout(c: &Ctx) -> Outcome {
    setup(c)?;
    let short = [("x-timeout", "short")];
    let (told, _) = grpc_call(c, "grpc-told", "timeout", &short)?;
    ensure(told.code == 0, c, || format!("timeout echo: {told:?}"))?;
    let started = std::time::Instant::now();
    let (slow, slow_fields) = grpc_call(c, "grpc-route-timeout", "slow:2000", &short)?;
    let took = started.elapsed();
    let ok = slow.code == 14 && slow.message == "upstream request timeout" && took < Duration::from_millis(1800);
    ensure(ok && slow_fields.starts_with("200 UT response_timeout "), c, || {
        format!("route timeout: {slow:?} after {took:?}; {slow_fields}")
    })?;
    let (header, header_fields) = curl_grpc_timeout(c)?;
    ensure(
        header == "14 upstream request timeout" && header_fields.starts_with("200 UT response_timeout "),
        c,
        || format!("grpc-timeout 300m: {header}; {header_fields}"),
    )?;
    Ok(format!(
        "upstream got grpc-timeout {:?} under a 0.5 s route; slow call → {} {:?} ({slow_fields}); \
         grpc-timeout: 300m → {header} ({header_fields})",
        told.message, slow.code, slow.message
    ))
}

/// A gRPC call with `grpc-timeout: 300m` from a client that does not enforce it (curl), to a
/// method that answers after 2 s on a route without a timeout: the proxy must time it out.
/// Returns `grpc-status grpc-message` and the access log fields.
fn curl_grpc_timeout(c: &Ctx) -> Result<(String, String), String> {
    let body = c.mesh.dir.join("grpc-slow.bin");
    std::fs::write(&body, grpc::request_body("slow:2000")).map_err(|e| format!("write: {e}"))?;
    let id = format!("x-request-id: grpc-curl-timeout-{}", c.dp.name());
    let url = format!("{}/envoy.service.auth.v3.Authorization/Check", c.mesh.outbound);
    let data = format!("@{}", body.display());
    let out = curl(&[
        "-s",
        "-i",
        "--http2-prior-knowledge",
        "-H",
        "host: grpc:9090",
        "-H",
        "content-type: application/grpc",
        "-H",
        "te: trailers",
        "-H",
        "grpc-timeout: 300m",
        "-H",
        &id,
        "--data-binary",
        &data,
        &url,
    ]);
    let header = |name: &str| {
        out.lines()
            .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()))
            .unwrap_or_default()
            .to_string()
    };
    let line = c.logged(&[&format!("\"grpc-curl-timeout-{}\"", c.dp.name())])?;
    Ok((format!("{} {}", header("grpc-status"), header("grpc-message")), access_fields(&line)))
}

/// Waits (up to 3 s) for `rec` to have seen `n` requests matching `needle`.
fn wait_seen(rec: &recording::Recording, needle: &str, n: usize) -> Vec<recording::Seen> {
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    loop {
        let seen = rec.seen(needle);
        if seen.len() >= n || std::time::Instant::now() > deadline {
            return seen;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn header_names(s: &recording::Seen) -> String {
    let mut names: Vec<&str> = s.headers.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    names.join(",")
}

pub fn mirror(c: &Ctx) -> Outcome {
    setup(c)?;
    let up = upstreams();
    let dp = c.dp.name();
    let path = format!("/m?dp={dp}");
    let out = curl(&[
        "-x",
        &c.mesh.outbound,
        "-w",
        "\n%{http_code}",
        "-d",
        "payload",
        &format!("http://mirrored:9080{path}"),
    ]);
    ensure(out == "mirrored v1\n\n200", c, || format!("main response: {out:?}"))?;
    wait_seen(&up.mirrored, &path, 1);
    wait_seen(&up.shadow, &path, 1);
    // Time for a duplicate (a second copy, a retried main request) to show up.
    std::thread::sleep(Duration::from_millis(300));
    let (main, copies) = (up.mirrored.seen(&path).len(), up.shadow.seen(&path));
    ensure(main == 1 && copies.len() == 1, c, || format!("main saw {main}, mirror saw {}", copies.len()))?;
    let copy = &copies[0];
    let xff = copy.header("x-forwarded-for").unwrap_or_default().to_string();
    let ok = copy.header("host") == Some("mirrored-shadow:9080")
        && copy.body == b"payload"
        && copy.header("x-envoy-internal") == Some("true")
        && !xff.is_empty();
    ensure(ok, c, || format!("the mirrored copy: {copy:?}"))?;
    let main_req = &up.mirrored.seen(&path)[0];
    let lines = c.mesh.log("sidecar.log").lines().filter(|l| l.contains(&format!(" {path} HTTP/"))).count();
    let fields = c.fields(&path)?;
    ensure(lines == 1 && fields.starts_with("200 - via_upstream "), c, || format!("{lines} log lines: {fields}"))?;
    // A slow mirror does not slow the main request; a dead one does not fail it.
    let start = std::time::Instant::now();
    let (slow_status, _) = c.get(&format!("http://mirrored:9080/slow?dp={dp}"), &[]);
    let took = start.elapsed();
    let (dead_status, dead_body) = c.get(&format!("http://mirrored:9080/dead?dp={dp}"), &[]);
    let ok = slow_status == "200" && took < Duration::from_millis(1500) && dead_status == "200";
    ensure(ok && dead_body == "mirrored v1", c, || {
        format!("slow mirror {slow_status} after {took:?}; dead {dead_status}")
    })?;
    let slow_copy = wait_seen(&up.slow_shadow, &format!("/slow?dp={dp}"), 1);
    ensure(slow_copy.len() == 1, c, || "the slow mirror got its copy".into())?;
    Ok(format!(
        "main 200 once ({fields}); copy once: {} {:?} host {:?}, x-forwarded-for {xff:?}; \
         main headers [{}], copy headers [{}]; slow mirror: main in < 1.5 s; dead mirror: 200",
        copy.request_line.replace(dp, "DP"),
        String::from_utf8_lossy(&copy.body),
        copy.header("host").unwrap_or_default(),
        header_names(main_req),
        header_names(copy)
    ))
}

/// `-i` output of curl: the status code and the `access-control-*` headers, in order.
fn cors_headers(c: &Ctx, method: &str, path: &str, origin: &str, preflight: bool) -> (String, Vec<String>, String) {
    let mut args = vec!["-s", "-i", "-x", c.mesh.outbound.as_str(), "-X", method, "-H"];
    let origin = format!("origin: {origin}");
    args.push(&origin);
    if preflight {
        args.extend(["-H", "access-control-request-method: POST", "-H", "access-control-request-headers: x-custom"]);
    }
    let url = format!("http://cors:9080{path}");
    args.push(&url);
    let out = curl(&args);
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let status = head.split_whitespace().nth(1).unwrap_or_default().to_string();
    let cors = head.lines().filter(|l| l.to_ascii_lowercase().starts_with("access-control-")).map(str::to_string);
    (status, cors.collect(), body.trim_end().to_string())
}

pub fn cors(c: &Ctx) -> Outcome {
    setup(c)?;
    let dp = c.dp.name();
    let pre = format!("/pre?dp={dp}");
    let (status, allowed, body) = cors_headers(c, "OPTIONS", &pre, "https://x.b.example", true);
    ensure(status == "200" && body.is_empty() && allowed.len() == 6, c, || format!("preflight: {status} {allowed:?}"))?;
    let fields = c.fields(&pre)?;
    ensure(fields.starts_with("200 - cors_response "), c, || format!("preflight access log: {fields}"))?;
    let (status, refused, body) =
        cors_headers(c, "OPTIONS", &format!("/pre-evil?dp={dp}"), "https://evil.example", true);
    ensure(status == "200" && refused.is_empty() && body == "cors v1", c, || {
        format!("a refused origin's preflight goes upstream: {status} {refused:?} {body:?}")
    })?;
    let (status, simple, body) = cors_headers(c, "GET", &format!("/simple?dp={dp}"), "https://a.example", false);
    ensure(status == "200" && body == "cors v1" && simple.len() == 3, c, || format!("simple: {simple:?}"))?;
    let (_, other, _) = cors_headers(c, "GET", &format!("/other?dp={dp}"), "https://evil.example", false);
    ensure(other.is_empty(), c, || format!("no CORS headers for a refused origin: {other:?}"))?;
    Ok(format!("preflight {allowed:?} ({fields}); refused preflight forwarded; simple {simple:?}"))
}

pub fn two_hosts(c: &Ctx) -> Outcome {
    use std::io::{Read, Write};
    setup(c)?;
    let path = format!("/two-hosts?dp={}", c.dp.name());
    let mut s = std::net::TcpStream::connect(proxy(c)).map_err(|e| format!("connect: {e}"))?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let req =
        format!("GET {path} HTTP/1.1\r\nHost: cors:9080\r\nHost: other.example:9080\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).map_err(|e| format!("write: {e}"))?;
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out.split_whitespace().nth(1).unwrap_or_default().to_string();
    let line = c.logged(&[&format!(" {path} HTTP/1.1\"")])?;
    let fields = access_fields(&line);
    let joined = line.contains("\"cors:9080,other.example:9080\"");
    ensure(status == "503" && fields.starts_with("503 UH no_healthy_upstream ") && joined, c, || {
        format!("two Host headers: {status}; {line}")
    })?;
    Ok(format!("{status}, authority \"cors:9080,other.example:9080\" (catch-all route); {fields}"))
}
