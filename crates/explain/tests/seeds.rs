//! One case per field note in `../shared/seeds/` (and a few common config mistakes): a mesh
//! config fixture (`fixtures/bookinfo` plus the case's directory) and a real-looking access-log
//! line; the explanation's top cause must be the one the note describes, and must name the
//! objects involved.

use strait_explain::{Confidence, Explanation, Mesh, explain};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// Loads `fixtures/bookinfo` and `fixtures/<case>`; the fixtures must load without errors.
fn mesh(case: &str) -> Mesh {
    let paths = vec![format!("{FIXTURES}/bookinfo"), format!("{FIXTURES}/{case}")];
    let report = strait_config::load_paths(&paths, &strait_config::LoadOptions::default());
    let errors: Vec<String> = report.findings.iter().map(ToString::to_string).collect();
    assert_eq!(report.errors(), 0, "fixture {case}: {errors:#?}");
    Mesh::from_report(&report)
}

/// Explains `line` against the case's config and checks the top cause and the words in it.
fn top(case: &str, line: &str, id: &str, words: &[&str]) -> Explanation {
    let mesh = mesh(case);
    let e = explain(line, Some(&mesh), Some("fixtures")).unwrap_or_else(|err| panic!("{case}: {err}"));
    let ids: Vec<(&str, u32)> = e.causes.iter().map(|c| (c.id.as_str(), c.score)).collect();
    let first = e.causes.first().unwrap_or_else(|| panic!("{case}: no cause"));
    assert_eq!(first.id, id, "{case}: causes {ids:?}\n{}", strait_explain::render::text(&e));
    for w in words {
        assert!(first.summary.contains(w), "{case}: {w:?} missing from {:?}", first.summary);
    }
    e
}

#[test]
fn blackhole_under_registry_only() {
    // Seed 000: the exact line from the field note.
    let line = r#"[2024-04-22T04:26:10.731Z] "- - -" 0 UH - - "-" 0 0 0 - "-" "-" "-" "-" "-" BlackHoleCluster - [2001:2::f0f0:89b7]:10002 [2406:da24:8:c201:6969::14]:45890 - -"#;
    let e = top("registry-only", line, "registry-only", &["[2001:2::f0f0:89b7]:10002", "BlackHoleCluster"]);
    assert_eq!(e.causes[0].confidence, Confidence::Confirmed);
    assert!(e.causes[0].evidence.iter().any(|ev| ev.contains("MeshConfig")), "{:?}", e.causes[0].evidence);
    assert!(e.checks.iter().any(|c| c.contains("strait proxy-config listeners client-1.app")), "{:?}", e.checks);
}

#[test]
fn service_entry_not_exported_to_the_client() {
    let line = r#"[2024-04-22T04:26:15.736Z] "- - -" 0 UH - - "-" 0 0 0 - "-" "-" "-" "-" "-" BlackHoleCluster - [2001:2::f0f0:89b7]:10002 [2406:da24:8:c201:6969::14]:45894 - -"#;
    top(
        "service-entry-not-exported",
        line,
        "service-entry-not-exported",
        &["ServiceEntry platform/external-github", "app"],
    );
}

#[test]
fn refused_by_an_ipv4_only_app() {
    // Seed 000 (second issue), as logged, with the lost `[`.
    let line = r#"2024-05-29T02:46:11.488Z] "GET / HTTP/1.1" 503 UF upstream_reset_before_response_started{remote_connection_failure,delayed_connect_error:_111} - "delayed_connect_error:_111" 0 152 0 - "-" "curl/8.7.1" "b79e6275-8b8f-99a5-8dc2-d1875964f12e" "xr-light-class-management-server:8001" "[2406:da24:8:c202:7327::5]:8001" inbound|8001|| - [2406:da24:8:c202:7327::5]:8001 [2406:da24:8:c200:6d38::17]:35780 outbound_.8001_._.xr-light-class-management-server.xrl-dev.svc.cluster.local default"#;
    let e = top("ipv4-only", line, "ipv4-only-listener", &["[2406:da24:8:c202:7327::5]:8001", "IPv4"]);
    let d = e.destination.expect("a destination");
    assert_eq!(d.proxy.as_deref(), Some("xr-light-1.xrl-dev"), "the inbound line names the pod that logged it");
    assert_eq!(d.host.as_deref(), Some("xr-light-class-management-server.xrl-dev.svc.cluster.local"));
}

#[test]
fn no_healthy_upstream_when_the_pod_is_not_ready() {
    let line = r#"[2026-11-23T10:00:00.000Z] "GET /details/0 HTTP/1.1" 503 UH no_healthy_upstream - "-" 0 19 0 - "-" "python-requests/2.31" "5b3c" "details:9080" "-" outbound|9080||details.bookinfo.svc.cluster.local - 10.96.0.12:9080 10.0.0.10:51234 - default"#;
    top("pod-not-ready", line, "no-ready-endpoints", &["details.bookinfo.svc.cluster.local", "details-v1-1"]);
}

#[test]
fn overflow_names_the_destination_rule_limits() {
    let line = r#"[2026-11-23T10:00:01.000Z] "GET /ratings/0 HTTP/1.1" 503 UO upstream_reset_before_response_started{overflow} - "-" 0 81 0 - "-" "fortio" "77aa" "ratings:9080" "-" outbound|9080||ratings.bookinfo.svc.cluster.local - 10.96.0.13:9080 10.0.0.10:51240 - default"#;
    top(
        "circuit-breaker",
        line,
        "circuit-breaker",
        &["DestinationRule bookinfo/ratings", "maxConnections: 1", "http1MaxPendingRequests: 1"],
    );
}

#[test]
fn filter_chain_not_found_on_a_strict_workload() {
    let line = r#"[2026-11-23T10:00:02.000Z] "- - -" 0 NR filter_chain_not_found - "-" 0 0 0 - "-" "-" "-" "-" "-" - - 10.0.0.21:9080 10.1.9.9:40122 - -"#;
    let e = top("strict-mtls", line, "plaintext-to-strict", &["plaintext", "mTLS"]);
    assert!(e.causes[0].evidence.iter().any(|ev| ev.contains("PeerAuthentication bookinfo/default")));
}

#[test]
fn port_name_without_protocol_bypasses_http_rules() {
    let line = r#"[2026-11-23T10:00:03.000Z] "- - -" 0 - - - "-" 517 1203 15 - "-" "-" "-" "-" "10.0.1.5:8080" outbound|8080||web.shop.svc.cluster.local 10.0.1.9:38712 10.96.1.20:8080 10.0.1.9:38710 - -"#;
    top("port-name", line, "port-protocol", &["Port 8080", "`web`", "VirtualService shop/web"]);
}

#[test]
fn route_to_a_subset_no_destination_rule_defines() {
    let line = r#"[2026-11-23T10:00:04.000Z] "GET /reviews/0 HTTP/1.1" 503 NC cluster_not_found - "-" 0 0 0 - "-" "python-requests/2.31" "91ef" "reviews:9080" "-" - - 10.96.0.11:9080 10.0.0.10:51300 - -"#;
    top(
        "subset-not-defined",
        line,
        "subset-not-defined",
        &["VirtualService bookinfo/reviews", "subset v1", "[v2, v3]"],
    );
}

#[test]
fn subset_that_selects_no_pods() {
    let line = r#"[2026-11-23T10:00:05.000Z] "GET /reviews/0 HTTP/1.1" 503 UH no_healthy_upstream - "-" 0 19 0 - "-" "python-requests/2.31" "a1b2" "reviews:9080" "-" outbound|9080|v3|reviews.bookinfo.svc.cluster.local - 10.96.0.11:9080 10.0.0.10:51310 - default"#;
    top("subset-no-pods", line, "subset-selects-no-pods", &["Subset v3", "version=v3", "version=v1 / version=v2"]);
}

#[test]
fn tls_mode_conflict_after_a_destination_rule() {
    let line = r#"[2026-11-23T10:00:06.000Z] "GET /reviews/0 HTTP/1.1" 503 UC upstream_reset_before_response_started{connection_termination} - "-" 0 95 1 - "-" "python-requests/2.31" "c3d4" "reviews:9080" "10.0.0.21:9080" outbound|9080||reviews.bookinfo.svc.cluster.local 10.0.0.10:40000 10.96.0.11:9080 10.0.0.10:51320 - default"#;
    top(
        "tls-conflict",
        line,
        "tls-mode-conflict",
        &["DestinationRule bookinfo/reviews", "DISABLE", "PeerAuthentication bookinfo/default"],
    );
}

#[test]
fn gateway_virtual_service_bypasses_subsets() {
    let line = r#"[2026-11-23T10:00:07.000Z] "GET /reviews/0 HTTP/1.1" 200 - via_upstream - "-" 0 295 12 11 "203.0.113.7" "Mozilla/5.0" "e5f6" "bookinfo.example.com" "10.0.0.22:9080" outbound|9080||reviews.bookinfo.svc.cluster.local 10.0.0.50:41000 10.0.0.50:8080 203.0.113.7:55000 - -"#;
    top(
        "gateway-bypass",
        line,
        "gateway-bypasses-subsets",
        &["VirtualService bookinfo/bookinfo", "VirtualService bookinfo/reviews", "subset v1"],
    );
}

#[test]
fn first_call_before_the_sidecar_is_ready() {
    let line = r#"[2026-11-23T10:00:08.000Z] "GET /reviews/0 HTTP/1.1" 404 NR route_not_found - "-" 0 0 0 - "-" "python-requests/2.31" "f7a8" "reviews:9080" "-" - - 10.96.0.11:9080 10.0.0.10:51330 - -"#;
    top(
        "startup-race",
        line,
        "sidecar-startup-race",
        &["bookinfo/productpage-v1-1", "holdApplicationUntilProxyStarts"],
    );
}

#[test]
fn http10_client_gets_426() {
    let line = r#"[2026-11-23T10:00:09.000Z] "GET /productpage HTTP/1.0" 426 - low_version - "-" 0 0 0 - "-" "nginx" "0a1b" "productpage:9080" "-" - - 10.0.0.10:9080 10.0.5.5:33000 - -"#;
    top("startup-race", line, "http10-client", &["HTTP/1.0", "nginx"]);
}

#[test]
fn out_of_file_descriptors() {
    let line = r#"[2026-11-23T10:00:10.000Z] "GET /ratings/0 HTTP/1.1" 503 UF upstream_reset_before_response_started{local_connection_failure} - "delayed_connect_error:_Too_many_open_files" 0 91 0 - "-" "fortio" "2c3d" "ratings:9080" "10.0.0.31:9080" outbound|9080||ratings.bookinfo.svc.cluster.local - 10.96.0.13:9080 10.0.0.10:51340 - default"#;
    top("circuit-breaker", line, "fd-limit", &["too many open files", "1024"]);
}

#[test]
fn long_lived_connection_dropped_around_rotation() {
    let line = r#"[2026-11-23T10:00:11.000Z] "- - -" 0 - - - "-" 88231 1203377 43260123 - "-" "-" "-" "-" "10.0.2.7:6379" outbound|6379||redis.cache.svc.cluster.local 10.0.0.10:52000 10.96.2.7:6379 10.0.0.10:51999 - -"#;
    top("cert-rotation", line, "cert-rotation", &["redis.cache:6379", "12.0h", "certificate"]);
}

#[test]
fn keepalive_race_without_config_conflicts() {
    let line = r#"[2026-11-23T10:00:12.000Z] "POST /ratings/0 HTTP/1.1" 503 UC upstream_reset_before_response_started{connection_termination} - "-" 120 95 3 - "-" "java" "4e5f" "ratings:9080" "10.0.0.31:9080" outbound|9080||ratings.bookinfo.svc.cluster.local 10.0.0.10:40100 10.96.0.13:9080 10.0.0.10:51350 - default"#;
    top("circuit-breaker", line, "keepalive-race", &["ratings.bookinfo:9080", "keep-alive"]);
}

#[test]
fn shared_gateway_certificate_gives_404() {
    let line = r#"[2026-11-23T10:00:13.000Z] "GET / HTTP/2" 404 NR route_not_found - "-" 0 0 0 - "198.51.100.4" "Mozilla/5.0" "6a7b" "service2.test.com" "-" - - 10.0.0.60:8443 198.51.100.4:60000 service1.test.com -"#;
    top(
        "shared-certificate",
        line,
        "shared-gateway-certificate",
        &["Gateway istio-system/gw2", "Gateway istio-system/gw1", "wildcard-test-com"],
    );
}

#[test]
fn dns_auto_allocated_egress_address() {
    // Seed 000 (third issue), copied out of a JSON log with escaped quotes.
    let line = r#"[2024-05-09T00:23:52.990Z] \"- - -\" 0 - - - \"-\" 1233 10595 61089 - \"-\" \"-\" \"-\" \"-\" \"10.252.166.226:443\" outbound|443|apitwiliocom|egressgateway.city-egress.svc.cluster.local 10.252.254.205:55016 240.240.216.70:443 10.252.254.205:55670 api.twilio.com -"#;
    let e = top("egress-dns", line, "dns-auto-allocated", &["240.240.216.70", "api.twilio.com"]);
    assert!(
        e.causes[0]
            .evidence
            .iter()
            .any(|ev| ev.contains("ServiceEntry city-egress/api-twilio") && ev.contains("no addresses"))
    );
}

#[test]
fn virtual_service_without_a_catch_all_route() {
    let line = r#"[2026-11-23T10:00:14.000Z] "GET /ratings/v2/7 HTTP/1.1" 404 NR route_not_found - "-" 0 0 0 - "-" "curl/8.5.0" "8c9d" "ratings:9080" "-" - - 10.96.0.13:9080 10.0.0.10:51360 - -"#;
    top(
        "no-catch-all",
        line,
        "no-catch-all-route",
        &["VirtualService bookinfo/ratings", "uri prefix /ratings/v1", "GET /ratings/v2/7"],
    );
}

#[test]
fn fault_injection_and_timeouts_name_the_virtual_service() {
    let fault = r#"[2026-11-23T10:00:15.000Z] "GET /ratings/0 HTTP/1.1" 503 FI fault_filter_abort - "-" 0 18 0 - "-" "curl/8.5.0" "0e1f" "ratings:9080" "-" outbound|9080||ratings.bookinfo.svc.cluster.local - 10.96.0.13:9080 10.0.0.10:51370 - default"#;
    top("fault-and-timeout", fault, "fault-injection", &["VirtualService bookinfo/ratings", "status 503", "50%"]);
    let timeout = r#"[2026-11-23T10:00:16.000Z] "GET /ratings/0 HTTP/1.1" 504 UT upstream_response_timeout - "-" 0 24 251 - "-" "curl/8.5.0" "1f2a" "ratings:9080" "10.0.0.31:9080" outbound|9080||ratings.bookinfo.svc.cluster.local 10.0.0.10:40200 10.96.0.13:9080 10.0.0.10:51380 - default"#;
    top("fault-and-timeout", timeout, "route-timeout", &["VirtualService bookinfo/ratings", "timeout 250ms", "251 ms"]);
}

#[test]
fn a_status_from_the_app_is_the_apps() {
    let line = r#"[2026-11-23T10:00:17.000Z] "GET /ratings/0 HTTP/1.1" 500 - via_upstream - "-" 0 21 4 3 "-" "curl/8.5.0" "2a3b" "ratings:9080" "10.0.0.31:9080" inbound|9080|| 127.0.0.6:40300 10.0.0.31:9080 10.0.0.10:51390 outbound_.9080_._.ratings.bookinfo.svc.cluster.local default"#;
    top("circuit-breaker", line, "upstream-answered", &["500", "10.0.0.31:9080"]);
}

#[test]
fn without_config_the_line_alone_still_ranks_causes() {
    let line = r#"[2026-11-23T10:00:06.000Z] "GET /reviews/0 HTTP/1.1" 503 NC cluster_not_found - "-" 0 0 0 - "-" "curl" "c3d4" "reviews:9080" "-" - - 10.96.0.11:9080 10.0.0.10:51320 - -"#;
    let e = explain(line, None, None).expect("explained");
    assert_eq!(e.causes[0].id, "subset-not-defined");
    assert_eq!(e.causes[0].confidence, Confidence::Likely, "no config: not confirmed");
    assert!(!e.with_config);
}
