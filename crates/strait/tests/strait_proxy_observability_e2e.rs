//! Observability of the Strait proxy end to end, with Envoy as the oracle wherever Envoy has the
//! same thing: Istio's metrics on the Prometheus port count exactly what the access log logs
//! (both come from one completion record), response flags reach the metric labels, Envoy's
//! cluster and connection-manager counters agree with Envoy's own for the same traffic,
//! `/clusters` and `strait proxy-config endpoints` list the same endpoints for both data
//! planes, `/logging` changes log levels at run time on both, and with the mesh's
//! `accessLogEncoding: JSON` both write JSON lines whose values are the TEXT line's.
//!
//! Uses the shared harness and upstreams (127.0.0.21–32), so it must not run at the same time
//! as another e2e binary.

mod common;

use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

fn mesh(name: &str, data_plane: DataPlane) -> Option<Mesh> {
    process::envoy()?;
    let corpus = strait_testkit::istio_corpus()?;
    upstreams();
    Some(Mesh::start_with_data_plane(name, corpus, data_plane))
}

const STRAIT: DataPlane = DataPlane::Strait { sotw: false };
const ENVOY: DataPlane = DataPlane::Envoy { delta: false };

/// reviews → v1; ratings aborts with 503 for `end-user: jason`.
const ROUTES: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route: [{destination: {host: reviews, subset: v1}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings}
spec:
  hosts: [ratings]
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    fault: {abort: {httpStatus: 503, percentage: {value: 100}}}
    route: [{destination: {host: ratings}}]
  - route: [{destination: {host: ratings}}]
"#;

const JSON_MESH: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |
    accessLogEncoding: JSON
"#;

/// `n` GETs to `url` through the sidecar; the status codes.
fn send(mesh: &Mesh, n: usize, url: &str, headers: &[&str]) -> Vec<String> {
    let mut args = vec!["-x", &mesh.outbound, "-w", "%{http_code}\n"];
    for h in headers {
        args.extend(["-H", h]);
    }
    let urls: Vec<String> = (0..n).map(|i| format!("{url}?i={i}")).collect();
    for u in &urls {
        args.extend(["-o", "/dev/null", u.as_str()]);
    }
    curl(&args).lines().map(str::to_string).collect()
}

/// The sum of the samples of `name` whose labels include every `k="v"` of `labels`.
fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let needles: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| needles.iter().all(|n| l.contains(n.as_str())))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum()
}

/// One Envoy `/stats` counter (0 when absent).
fn stat(admin: &str, name: &str) -> u64 {
    let text = curl(&[&format!("http://{admin}/stats")]);
    text.lines().find_map(|l| l.strip_prefix(&format!("{name}: ")).and_then(|v| v.parse().ok())).unwrap_or(0)
}

/// Access-log lines (TEXT) of the sidecar containing every needle.
fn logged(mesh: &Mesh, needles: &[&str]) -> usize {
    let log = mesh.log("sidecar.log");
    log.lines().filter(|l| text_fields(l).is_some() && needles.iter().all(|n| l.contains(n))).count()
}

#[test]
fn istio_metrics_count_what_the_access_log_logs() {
    let Some(mesh) = mesh("obs-metrics", STRAIT) else { return };
    mesh.route_yaml(ROUTES);
    let check = |cond: bool, what: &str| mesh.check(cond, what);
    let ok = send(&mesh, 7, "http://reviews:9080/", &[]);
    check(ok.iter().all(|s| s == "200") && ok.len() == 7, &format!("reviews: {ok:?}"));
    let aborted = send(&mesh, 3, "http://ratings:9080/", &["end-user: jason"]);
    check(aborted.iter().all(|s| s == "503"), &format!("fault abort: {aborted:?}"));
    let rated = send(&mesh, 2, "http://ratings:9080/", &[]);
    check(rated.iter().all(|s| s == "200"), &format!("ratings: {rated:?}"));

    // The access log's count of each kind of request…
    let lines_ok = wait_for("7 reviews lines", Duration::from_secs(5), || {
        let n = logged(&mesh, &["\" 200 - via_upstream ", "\"reviews:9080\""]);
        (n == 7).then_some(n)
    });
    let lines_fi = wait_for("3 FI lines", Duration::from_secs(5), || {
        let n = logged(&mesh, &["\" 503 FI fault_filter_abort ", "\"ratings:9080\""]);
        (n == 3).then_some(n)
    });
    // …is what istio_requests_total counts for its labels.
    let text = curl(&[&format!("http://{}/stats/prometheus", mesh.metrics)]);
    println!("{}", text.lines().filter(|l| l.starts_with("istio_requests_total")).collect::<Vec<_>>().join("\n"));
    let reviews = [
        ("reporter", "source"),
        ("source_workload", "productpage-v1-1"),
        ("source_workload_namespace", "default"),
        ("destination_workload", "reviews-v1-1"),
        ("destination_workload_namespace", "default"),
        ("destination_service", "reviews.default.svc.cluster.local"),
        ("destination_service_name", "reviews"),
        ("destination_service_namespace", "default"),
        ("destination_canonical_service", "reviews"),
        ("destination_canonical_revision", "v1"),
        ("request_protocol", "http"),
        ("response_code", "200"),
        ("response_flags", "-"),
        ("grpc_response_status", ""),
        ("connection_security_policy", "unknown"),
    ];
    let counted = metric(&text, "istio_requests_total", &reviews);
    check(counted == lines_ok as f64, &format!("istio_requests_total {counted} = {lines_ok} log lines\n{text}"));
    let fi = [("destination_service_name", "ratings"), ("response_code", "503"), ("response_flags", "FI")];
    let counted = metric(&text, "istio_requests_total", &fi);
    check(counted == lines_fi as f64, &format!("FI: istio_requests_total {counted} = {lines_fi} log lines"));
    let all = metric(&text, "istio_requests_total", &[]);
    check(all == 12.0, &format!("12 requests in all, each counted once: {all}"));
    let durations = metric(&text, "istio_request_duration_milliseconds_count", &reviews);
    let inf = metric(&text, "istio_request_duration_milliseconds_bucket", &[("response_code", "200"), ("le", "+Inf")]);
    check(durations == 7.0 && inf == 9.0, &format!("duration histogram counts: {durations}, +Inf {inf}"));
    let bytes = metric(&text, "istio_response_bytes_sum", &reviews);
    check(bytes == 7.0 * "reviews v1\n".len() as f64, &format!("response bytes: {bytes}"));

    // Envoy's counters for the same traffic, beside Envoy's own.
    let envoy = self::mesh("obs-metrics-envoy", ENVOY).expect("envoy mesh");
    envoy.route_yaml(ROUTES);
    send(&envoy, 7, "http://reviews:9080/", &[]);
    send(&envoy, 3, "http://ratings:9080/", &["end-user: jason"]);
    send(&envoy, 2, "http://ratings:9080/", &[]);
    // Envoy names cluster stats by `alt_stat_name`, which the control plane sets to `NAME;`.
    let v1 = "cluster.outbound|9080|v1|reviews.default.svc.cluster.local;";
    let ratings = "cluster.outbound|9080||ratings.default.svc.cluster.local;";
    for name in [format!("{v1}.upstream_rq_200"), format!("{v1}.upstream_rq_2xx"), format!("{ratings}.upstream_rq_200")]
    {
        let (s, e) = (stat(&mesh.admin, &name), stat(&envoy.admin, &name));
        check(s == e && s > 0, &format!("{name}: Strait {s}, Envoy {e}"));
    }
    let fault_503 = format!("{ratings}.upstream_rq_503");
    let (s, e) = (stat(&mesh.admin, &fault_503), stat(&envoy.admin, &fault_503));
    check(s == 0 && e == 0, &format!("a fault abort never reaches the cluster: Strait {s}, Envoy {e}"));
    let outbound = mesh.outbound.rsplit(':').next().unwrap_or_default().to_string();
    let envoy_out = envoy.outbound.rsplit(':').next().unwrap_or_default().to_string();
    for (class, want) in [("2xx", 9), ("5xx", 3)] {
        let s = stat(&mesh.admin, &format!("http.outbound_{outbound}.downstream_rq_{class}"));
        let e = stat(&envoy.admin, &format!("http.outbound_{envoy_out}.downstream_rq_{class}"));
        check(s == want && e == want, &format!("downstream_rq_{class}: Strait {s}, Envoy {e}, want {want}"));
    }
    envoy.cleanup();
    mesh.cleanup();
}

#[test]
fn tcp_connections_are_counted_with_their_bytes() {
    use std::io::{BufRead, BufReader, Write};
    let Some(mesh) = mesh("obs-tcp", STRAIT) else { return };
    for _ in 0..2 {
        let stream = std::net::TcpStream::connect(format!("{}:5432", mesh.ip)).expect("sidecar TCP listener");
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let (mut greeting, mut echo) = (String::new(), String::new());
        let _ = reader.read_line(&mut greeting);
        let mut w = stream;
        let _ = w.write_all(b"ping\n");
        let _ = reader.read_line(&mut echo);
        mesh.check(greeting.starts_with("db v") && echo == "ping\n", &format!("{greeting:?} {echo:?}"));
    }
    let db = [("destination_service_name", "db"), ("request_protocol", "tcp"), ("reporter", "source")];
    let text = wait_for("both connections closed", Duration::from_secs(5), || {
        let text = curl(&[&format!("http://{}/stats/prometheus", mesh.metrics)]);
        (metric(&text, "istio_tcp_connections_closed_total", &db) == 2.0).then_some(text)
    });
    let opened = metric(&text, "istio_tcp_connections_opened_total", &db);
    let received = metric(&text, "istio_tcp_received_bytes_total", &db);
    let sent = metric(&text, "istio_tcp_sent_bytes_total", &db);
    let want_sent = 2.0 * ("db v1\n".len() + "ping\n".len()) as f64;
    mesh.check(
        opened == 2.0 && received == 10.0 && sent == want_sent,
        &format!("tcp: {opened} {received} {sent}\n{text}"),
    );
    wait_for("two TCP access-log lines with the same byte counts", Duration::from_secs(5), || {
        (logged(&mesh, &[" 0 - - - \"-\" 5 11 "]) == 2).then_some(())
    });
    mesh.cleanup();
}

/// `strait proxy-config endpoints` rows of the mesh's clusters: (endpoint, status, cluster).
fn endpoint_rows(mesh: &Mesh) -> BTreeSet<(String, String, String)> {
    let out = Command::new(bin())
        .args(["proxy-config", "endpoints", "productpage-v1-1.default", "--control-plane", &mesh.debug])
        .output()
        .expect("proxy-config");
    let text = String::from_utf8_lossy(&out.stdout);
    mesh.check(out.status.success() && text.starts_with("ENDPOINT"), &format!("proxy-config endpoints:\n{text}"));
    text.lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|c| c.len() == 4 && (c[3].starts_with("outbound|") || c[3].starts_with("inbound|")))
        .map(|c| (c[0].to_string(), c[1].to_string(), c[3].to_string()))
        .collect()
}

#[test]
fn clusters_and_proxy_config_endpoints_match_envoy() {
    let Some(strait) = mesh("obs-clusters", STRAIT) else { return };
    let envoy = mesh("obs-clusters-envoy", ENVOY).expect("envoy mesh");
    let reviews = "outbound|9080||reviews.default.svc.cluster.local";
    let mut rows = Vec::new();
    for m in [&strait, &envoy] {
        let text = curl(&[&format!("http://{}/clusters", m.admin)]);
        for want in [
            format!("{reviews}::observability_name::{reviews};"),
            format!("{reviews}::eds_service_name::{reviews}"),
            format!("{reviews}::127.0.0.21:9080::health_flags::healthy"),
            format!("{reviews}::127.0.0.22:9080::weight::1"),
            format!("{reviews}::127.0.0.23:9080::rq_total::0"),
        ] {
            m.check(text.lines().any(|l| l == want), &format!("/clusters has {want:?}:\n{text}"));
        }
        let json: Value = serde_json::from_str(&curl(&[&format!("http://{}/clusters?format=json", m.admin)]))
            .expect("/clusters?format=json is JSON");
        let statuses = json["cluster_statuses"].as_array().cloned().unwrap_or_default();
        let c = statuses.iter().find(|c| c["name"] == reviews).cloned().unwrap_or_default();
        m.check(c["host_statuses"].as_array().is_some_and(|h| h.len() == 3), &format!("3 reviews hosts: {c}"));
        let r = endpoint_rows(m);
        m.check(r.contains(&("127.0.0.21:9080".into(), "HEALTHY".into(), reviews.into())), &format!("{r:?}"));
        rows.push(r);
    }
    println!("proxy-config endpoints (Strait): {} rows", rows[0].len());
    strait.check(rows[0] == rows[1], &format!("same endpoints as Envoy:\nStrait {:?}\nEnvoy {:?}", rows[0], rows[1]));
    for m in [&strait, &envoy] {
        let listeners = curl(&[&format!("http://{}/listeners", m.admin)]);
        let out = m.outbound.trim_start_matches("http://").to_string();
        m.check(listeners.lines().any(|l| l.ends_with(&format!("::{out}"))), &format!("/listeners:\n{listeners}"));
    }
    envoy.cleanup();
    strait.cleanup();
}

#[test]
fn logging_levels_change_at_run_time_like_envoy() {
    for (name, dp) in [("obs-logging", STRAIT), ("obs-logging-envoy", ENVOY)] {
        let Some(mesh) = mesh(name, dp) else { return };
        let admin = &mesh.admin;
        let post = |q: &str| curl(&["-s", "-X", "POST", "-w", "\n%{http_code}", &format!("http://{admin}/logging{q}")]);
        let get = curl(&["-s", "-o", "/dev/null", "-w", "%{http_code}", &format!("http://{admin}/logging")]);
        mesh.check(get == "405", &format!("{dp:?}: GET /logging is refused: {get}"));
        mesh.check(post("?level=loud").ends_with("\n400"), &format!("{dp:?}: a bad level is a 400"));
        let completed = |mesh: &Mesh| {
            mesh.log("sidecar.log").lines().filter(|l| l.contains("request complete: path: /ready")).count()
        };
        curl(&[&format!("http://{admin}/ready")]);
        std::thread::sleep(Duration::from_millis(300));
        mesh.check(completed(&mesh) == 0, &format!("{dp:?}: admin requests are not logged at info"));
        let out = post("?admin=debug");
        mesh.check(out.ends_with("\n200") && out.contains("  admin: debug\n"), &format!("{dp:?}: {out}"));
        curl(&[&format!("http://{admin}/ready")]);
        wait_for("the admin's debug line", Duration::from_secs(5), || (completed(&mesh) > 0).then_some(()));
        let out = post("?level=info");
        mesh.check(out.contains("  admin: info\n"), &format!("{dp:?}: {out}"));
        std::thread::sleep(Duration::from_millis(300));
        let before = completed(&mesh);
        curl(&[&format!("http://{admin}/ready")]);
        std::thread::sleep(Duration::from_millis(300));
        mesh.check(completed(&mesh) == before, &format!("{dp:?}: back at info, admin requests are quiet again"));
        mesh.cleanup();
    }
}

/// The TEXT line's tokens: `[…]`, `"…"` (spaces allowed inside) or bare words.
fn tokens(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line.trim_end();
    while !rest.is_empty() {
        let (token, next) = match rest.as_bytes()[0] {
            b'[' => rest[1..].split_once("] ").map_or((&rest[1..], ""), |(t, n)| (t, n)),
            b'"' => rest[1..]
                .split_once("\" ")
                .or_else(|| rest[1..].strip_suffix('"').map(|t| (t, "")))
                .unwrap_or((rest, "")),
            _ => rest.split_once(' ').unwrap_or((rest, "")),
        };
        out.push(token.to_string());
        rest = next;
    }
    out
}

/// The TEXT line's fields, by the JSON encoding's keys.
fn text_fields(line: &str) -> Option<BTreeMap<&'static str, String>> {
    let t = tokens(line);
    let [start, request, rest @ ..] = t.as_slice() else { return None };
    let request: Vec<&str> = request.splitn(3, ' ').collect();
    let [method, path, protocol] = request.as_slice() else { return None };
    let keys = [
        "response_code",
        "response_flags",
        "response_code_details",
        "connection_termination_details",
        "upstream_transport_failure_reason",
        "bytes_received",
        "bytes_sent",
        "duration",
        "upstream_service_time",
        "x_forwarded_for",
        "user_agent",
        "request_id",
        "authority",
        "upstream_host",
        "upstream_cluster",
        "upstream_local_address",
        "downstream_local_address",
        "downstream_remote_address",
        "requested_server_name",
        "route_name",
    ];
    if rest.len() != keys.len() {
        return None;
    }
    let mut out: BTreeMap<&'static str, String> = keys.iter().copied().zip(rest.iter().cloned()).collect();
    for (k, v) in [("start_time", start.as_str()), ("method", *method), ("path", *path), ("protocol", *protocol)] {
        out.insert(k, v.to_string());
    }
    Some(out)
}

/// A JSON value as the TEXT format prints it (`null` → `-`).
fn as_text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Fields that differ between two runs of the same request (time, ids, ports).
const VOLATILE: [&str; 7] = [
    "start_time",
    "duration",
    "upstream_service_time",
    "request_id",
    "upstream_local_address",
    "downstream_remote_address",
    "downstream_local_address",
];

/// The requests of the JSON test, each with a user agent naming it.
fn json_requests(mesh: &Mesh) {
    send(mesh, 1, "http://reviews:9080/", &["user-agent: ok"]);
    send(mesh, 1, "http://ratings:9080/", &["user-agent: fault", "end-user: jason"]);
    send(mesh, 1, "http://127.0.0.24:9/", &["user-agent: dead"]);
}

#[test]
fn json_access_log_has_the_text_lines_values_like_envoy() {
    let mut docs: Vec<BTreeMap<String, Value>> = Vec::new();
    for (name, dp) in [("obs-json", STRAIT), ("obs-json-envoy", ENVOY)] {
        let Some(mesh) = mesh(name, dp) else { return };
        mesh.route_yaml(ROUTES);
        json_requests(&mesh);
        let texts = wait_for("3 TEXT lines", Duration::from_secs(5), || {
            let log = mesh.log("sidecar.log");
            let lines: Vec<String> = log.lines().filter(|l| text_fields(l).is_some()).map(str::to_string).collect();
            (lines.len() >= 3).then_some(lines)
        });
        mesh.apply("mesh.yaml", JSON_MESH);
        json_requests(&mesh);
        let jsons = wait_for("3 JSON lines", Duration::from_secs(5), || {
            let log = mesh.log("sidecar.log");
            let lines: Vec<String> = log.lines().filter(|l| l.starts_with('{')).map(str::to_string).collect();
            (lines.len() >= 3).then_some(lines)
        });
        let mut by_agent = BTreeMap::new();
        for j in &jsons {
            let v: BTreeMap<String, Value> =
                serde_json::from_str(j).unwrap_or_else(|e| panic!("{dp:?}: not JSON ({e}): {j}"));
            let agent = as_text(&v["user_agent"]);
            let text = texts.iter().find(|t| t.contains(&format!("\"{agent}\"")));
            let fields = text.and_then(|t| text_fields(t));
            mesh.check(fields.is_some(), &format!("{dp:?}: a TEXT line for {agent}: {texts:?}"));
            for (k, want) in fields.unwrap_or_default() {
                if VOLATILE.contains(&k) {
                    continue;
                }
                let got = v.get(k).map(as_text);
                mesh.check(
                    got.as_deref() == Some(want.as_str()),
                    &format!("{dp:?} {agent}: {k}: JSON {got:?}, TEXT {want:?}"),
                );
            }
            mesh.check(v["response_code"].is_number() && v["bytes_sent"].is_number(), &format!("typed numbers: {j}"));
            by_agent.insert(agent, v);
        }
        mesh.check(by_agent.len() == 3, &format!("{dp:?}: {by_agent:?}"));
        docs.extend(by_agent.into_values());
        mesh.cleanup();
    }
    // Strait and Envoy: same keys, same values but for the volatile ones.
    let (strait, envoy) = docs.split_at(docs.len() / 2);
    for (s, e) in strait.iter().zip(envoy) {
        let keys = |d: &BTreeMap<String, Value>| d.keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(s), keys(e), "same JSON keys");
        for (k, v) in s {
            if !VOLATILE.contains(&k.as_str()) {
                assert_eq!(Some(v), e.get(k), "{k}: Strait {v}, Envoy {:?}", e.get(k));
            }
        }
    }
}

/// `strait proxy-config WHAT` rows, with the mesh's own IP and ports replaced so that two
/// meshes compare.
fn proxy_config_rows(mesh: &Mesh, what: &str) -> BTreeSet<String> {
    let out = Command::new(bin())
        .args(["proxy-config", what, "productpage-v1-1.default", "--control-plane", &mesh.debug])
        .output()
        .expect("proxy-config");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    mesh.check(out.status.success(), &format!("proxy-config {what}: {}", String::from_utf8_lossy(&out.stderr)));
    let port = mesh.outbound.rsplit(':').next().unwrap_or_default().to_string();
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ").replace(&mesh.ip, "IP").replace(&port, "PORT"))
        .collect()
}

#[test]
fn proxy_config_tables_match_envoy() {
    let Some(strait) = mesh("obs-pc", STRAIT) else { return };
    let envoy = mesh("obs-pc-envoy", ENVOY).expect("envoy mesh");
    for m in [&strait, &envoy] {
        m.route_yaml(ROUTES);
    }
    for what in ["clusters", "listeners", "routes"] {
        let s = proxy_config_rows(&strait, what);
        // Envoy also lists its bootstrap's static clusters and listeners.
        let e: BTreeSet<String> = proxy_config_rows(&envoy, what)
            .into_iter()
            .filter(|r| !r.starts_with("xds-grpc ") && !r.starts_with("admin ") && !r.starts_with("health "))
            .collect();
        println!("proxy-config {what} (Strait): {} rows", s.len());
        strait.check(s.len() > 1 && s == e, &format!("proxy-config {what}:\nStrait {s:#?}\nEnvoy {e:#?}"));
    }
    envoy.cleanup();
    strait.cleanup();
}

/// At most one connection and one pending request to `slow` (a 2 s upstream).
const SLOW_POOL: &str = r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: slow}
spec:
  host: slow
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 1}
      http: {http1MaxPendingRequests: 1, maxRequestsPerConnection: 1}
"#;

#[test]
fn circuit_breaker_overflow_reaches_the_metrics() {
    for (name, dp) in [("obs-uo", STRAIT), ("obs-uo-envoy", ENVOY)] {
        let Some(mesh) = mesh(name, dp) else { return };
        mesh.apply("slow-pool.yaml", SLOW_POOL);
        let urls: Vec<String> = (0..6).map(|i| format!("http://slow:9080/?i={i}")).collect();
        let mut args = vec!["--parallel", "--parallel-immediate", "-x", &mesh.outbound, "-w", "%{http_code}\n"];
        for u in &urls {
            args.extend(["-o", "/dev/null", u.as_str()]);
        }
        let codes = curl(&args);
        let overflow = codes.lines().filter(|c| *c == "503").count();
        mesh.check(overflow >= 1 && codes.lines().any(|c| c == "200"), &format!("{dp:?}: some overflow: {codes:?}"));
        let lines = wait_for("the UO lines", Duration::from_secs(5), || {
            let n = logged(&mesh, &["\" 503 UO ", "\"slow:9080\""]);
            (n == overflow).then_some(n)
        });
        let stat =
            stat(&mesh.admin, "cluster.outbound|9080||slow.default.svc.cluster.local;.upstream_rq_pending_overflow");
        mesh.check(stat == lines as u64, &format!("{dp:?}: upstream_rq_pending_overflow {stat} = {lines} UO lines"));
        if dp == STRAIT {
            let text = curl(&[&format!("http://{}/stats/prometheus", mesh.metrics)]);
            let uo = [("destination_service_name", "slow"), ("response_code", "503"), ("response_flags", "UO")];
            let counted = metric(&text, "istio_requests_total", &uo);
            mesh.check(counted == lines as f64, &format!("UO: istio_requests_total {counted} = {lines} lines"));
        }
        mesh.cleanup();
    }
}
