//! Egress, TCP and config-delivery scenarios: ALLOW_ANY (PassthroughCluster, for HTTP and
//! CONNECT), REGISTRY_ONLY (Istio's `block_all` 502 for HTTP, BlackHoleCluster for CONNECT) and
//! ServiceEntries that unblock an HTTP and a TCP host, a weighted TCP route, and a NACK that
//! shows the proxy's own message while the last good config keeps serving. Each leaves the
//! mesh as it found it.

use super::*;

const REGISTRY_ONLY: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |-
    outboundTrafficPolicy:
      mode: REGISTRY_ONLY
"#;

const SERVICE_ENTRY: &str = r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: external-api}
spec:
  hosts: [api.external.test]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP}]
  endpoints: [{address: 127.0.0.163}]
"#;

const TCP_SERVICE_ENTRY: &str = r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: external-tcp}
spec:
  hosts: [tcp.external.test]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 9443, name: tcp, protocol: TCP}]
  endpoints: [{address: 127.0.0.164}]
"#;

/// `curl -p`: CONNECT first, then HTTP inside the tunnel; "BODY\nCONNECT-STATUS HTTP-STATUS".
fn tunnel(c: &Ctx, url: &str) -> String {
    curl(&["-p", "-x", &c.mesh.outbound, "-w", "\n%{http_connect} %{http_code}", url])
}

pub fn allow_any(c: &Ctx) -> Outcome {
    let (status, body) = c.get("http://127.0.0.162:8080/?c=passthrough", &[]);
    ensure(status == "200" && body == "unregistered v1", c, || format!("ALLOW_ANY: {status} {body:?}"))?;
    c.logged(&["/?c=passthrough", " PassthroughCluster "])?;
    let out = tunnel(c, "http://127.0.0.162:8080/?c=passthrough-tunnel");
    ensure(out == "unregistered v1\n\n200 200", c, || format!("ALLOW_ANY tunnel: {out:?}"))?;
    c.logged(&["\"CONNECT ", " PassthroughCluster "])?;
    Ok("HTTP and CONNECT through PassthroughCluster".into())
}

pub fn registry_only(c: &Ctx) -> Outcome {
    c.apply("mesh.yaml", REGISTRY_ONLY)?;
    let result = blocked(c);
    c.apply("mesh.yaml", "")?;
    result
}

fn blocked(c: &Ctx) -> Outcome {
    let (status, body, reason) = c.get_explained("http://127.0.0.162:8080/?c=blocked", &[]);
    ensure(status == "502" && body.is_empty(), c, || format!("REGISTRY_ONLY HTTP: {status} {body:?}"))?;
    let why = c.explained(&reason, "blocked by outboundTrafficPolicy REGISTRY_ONLY", &["\"127.0.0.162:8080\""])?;
    let http = c.fields("/?c=blocked")?;
    ensure(http.starts_with("502 - direct_response "), c, || format!("block_all access log: {http}"))?;
    c.logged(&["/?c=blocked", " block_all"])?;
    // `-D -`: the CONNECT's response head goes to stdout too (where its reason is).
    let args = ["-p", "-D", "-", "-x", &c.mesh.outbound, "-w", "\n%{http_connect} %{http_code}"];
    let out = curl(&[&args[..], &["http://127.0.0.162:8080/?c=blackhole"]].concat());
    let tunnel_reason = out
        .lines()
        .find_map(|l| l.strip_prefix("x-strait-reason: ").or_else(|| l.strip_prefix("X-Strait-Reason: ")))
        .unwrap_or_default()
        .trim_end();
    ensure(out.ends_with("\n503 000") && !out.contains("unregistered"), c, || format!("tunnel: {out:?}"))?;
    let tunnel_why =
        c.explained(tunnel_reason, "blocked by outboundTrafficPolicy REGISTRY_ONLY", &["\"127.0.0.162:8080\""])?;
    let line = c.logged(&["\"CONNECT ", " 503 UH ", "BlackHoleCluster"])?;
    let fields = access_fields(&line);
    Ok(format!("HTTP {http} (block_all), {why}; CONNECT 503 → BlackHoleCluster, {fields}, {tunnel_why}"))
}

pub fn service_entry(c: &Ctx) -> Outcome {
    c.apply("mesh.yaml", REGISTRY_ONLY)?;
    let result = unblocked(c);
    for file in ["external.yaml", "external-tcp.yaml", "mesh.yaml"] {
        c.apply(file, "")?;
    }
    result
}

fn unblocked(c: &Ctx) -> Outcome {
    let (status, _) = c.get("http://api.external.test:8080/?c=se-before", &[]);
    ensure(status == "502", c, || format!("no ServiceEntry yet: {status}"))?;
    c.apply("external.yaml", SERVICE_ENTRY)?;
    first_try(c, "http://api.external.test:8080/?c=se-first")?;
    let (status, body) = c.get("http://api.external.test:8080/?c=se", &[]);
    ensure(status == "200" && body == "external-api v1", c, || format!("with the ServiceEntry: {status} {body:?}"))?;
    c.logged(&["/?c=se ", "outbound|8080||api.external.test"])?;
    let out = tunnel(c, "http://tcp.external.test:9443/");
    ensure(out.ends_with("\n503 000"), c, || format!("no TCP ServiceEntry yet: {out:?}"))?;
    c.apply("external-tcp.yaml", TCP_SERVICE_ENTRY)?;
    first_try(c, "http://tcp.external.test:9443/")?;
    let out = tunnel(c, "http://tcp.external.test:9443/");
    ensure(out == "external-tcp v1\n\n200 200", c, || format!("TCP ServiceEntry: {out:?}"))?;
    c.logged(&["\"CONNECT ", "outbound|9443||tcp.external.test"])?;
    Ok("HTTP and TCP ServiceEntries reachable under REGISTRY_ONLY".into())
}

/// Right after a new cluster is SYNCED its first request must succeed: the proxy warms a new
/// EDS cluster (no traffic to it until its endpoints arrive), as Envoy does. Before the Strait
/// proxy warmed clusters, the request in the gap between CDS and EDS got `503 UH`.
fn first_try(c: &Ctx, url: &str) -> Result<(), String> {
    let ok = if url.contains("9443") { tunnel(c, url).ends_with(" 200") } else { c.get(url, &[]).0 == "200" };
    ensure(ok, c, || format!("{url}: the first request after SYNCED must succeed (cluster warming)"))
}

/// Connections to the TCP service split 80/20: ± 10 % of 300 on Envoy, exact over 100 on Strait.
pub fn weighted_tcp(c: &Ctx) -> Outcome {
    c.apply("tcp.yaml", TCP_SPLIT)?;
    let n = if c.is_envoy() { 300 } else { 100 };
    let (v1, v2) = tcp_split(&c.mesh.ip, n).map_err(|e| format!("{e}{}", c.tail()))?;
    println!("[{}] weighted TCP over {n}: v1={v1} v2={v2}", c.dp.name());
    let ok = if c.is_envoy() { (210..=270).contains(&v1) } else { v1 == 80 && v2 == 20 };
    ensure(ok, c, || format!("80/20 TCP over {n}: v1={v1} v2={v2}"))?;
    Ok("80/20 of connections (exact on Strait)".into())
}

/// Valid config that neither proxy can apply (the CA file does not exist here; the Strait
/// proxy has no upstream TLS yet).
const NACKED: &str = r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews-tls, namespace: default}
spec:
  host: reviews
  trafficPolicy:
    tls: {mode: SIMPLE, caCertificates: /nonexistent/strait-test-ca.pem}
"#;

pub fn nack(c: &Ctx) -> Outcome {
    c.mesh.write("tls.yaml", NACKED);
    let result = nacked(c);
    c.apply("tls.yaml", "")?;
    result
}

fn nacked(c: &Ctx) -> Outcome {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let line = loop {
        let status = c.mesh.proxy_status();
        if let Some(l) = status.lines().find(|l| l.starts_with("productpage-v1-1.default CDS NACK:")) {
            break l.to_string();
        }
        ensure(std::time::Instant::now() < deadline, c, || format!("no CDS NACK within 10 s:\n{status}"))?;
        std::thread::sleep(Duration::from_millis(100));
    };
    println!("[{}] {line}", c.dp.name());
    let own_words = if c.is_envoy() {
        line.contains("Invalid path: /nonexistent/strait-test-ca.pem")
    } else {
        line.contains("Cluster outbound|9080||reviews.default.svc.cluster.local: transport_socket")
            || line.contains("/nonexistent/strait-test-ca.pem")
    };
    ensure(own_words, c, || format!("the NACK carries the proxy's message: {line}"))?;
    let bodies = c.mesh.reviews(10, &[]);
    let served = bodies.iter().filter(|b| b.starts_with("reviews v")).count();
    ensure(served == 10, c, || format!("the last good config still serves: {bodies:?}"))?;
    Ok("CDS NACK with the proxy's message; last good config serves".into())
}
