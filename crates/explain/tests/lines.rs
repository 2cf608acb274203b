//! Parsing real access-log lines: Istio's TEXT format as Envoy and the Strait proxy write it
//! (istio-compat.md's sample from istio#45802, the seeds' lines, the Strait proxy's own test
//! line), its JSON encoding (keys and types as the Strait proxy's `Record::json` writes them),
//! Envoy's own default format (its docs' example), Istio 1.6–1.8's format, and what is not an
//! access-log line at all.

use strait_explain::log_line::{LineFormat, parse};
use strait_explain::{InputKind, explain};

#[test]
fn istio_text_from_an_issue() {
    // istio-compat.md §3.2, from istio/istio#45802 (no start time: the reporter cut it).
    let line = r#""GET /v1/status HTTP/1.1" 503 UC upstream_reset_before_response_started{connection_termination} - "-" 0 95 0 - "10.90.16.220" "Apache-HttpClient/4.5.1 (Java/1.8.0_372)" "3a7c…" "health.abc.com" "10.80.47.192:8181" outbound|80||health-api.production.svc.cluster.local 10.80.45.233:37132 10.80.45.233:80 10.80.46.220:59375 - -"#;
    let l = parse(line).expect("parsed");
    assert_eq!(l.format, Some(LineFormat::IstioText));
    assert_eq!(l.start_time, None);
    assert_eq!(
        (l.method.as_deref(), l.path.as_deref(), l.protocol.as_deref()),
        (Some("GET"), Some("/v1/status"), Some("HTTP/1.1"))
    );
    assert_eq!((l.status, l.flags.clone()), (Some(503), vec!["UC".to_string()]));
    assert_eq!(l.details.as_deref(), Some("upstream_reset_before_response_started{connection_termination}"));
    assert_eq!((l.termination_details.as_deref(), l.transport_failure.as_deref()), (None, None));
    assert_eq!(
        (l.bytes_received, l.bytes_sent, l.duration_ms, l.upstream_service_time.as_deref()),
        (Some(0), Some(95), Some(0), None)
    );
    assert_eq!(l.x_forwarded_for.as_deref(), Some("10.90.16.220"));
    assert_eq!(l.user_agent.as_deref(), Some("Apache-HttpClient/4.5.1 (Java/1.8.0_372)"));
    assert_eq!(l.authority.as_deref(), Some("health.abc.com"));
    assert_eq!(l.upstream_host.as_deref(), Some("10.80.47.192:8181"));
    assert_eq!(l.upstream_cluster.as_deref(), Some("outbound|80||health-api.production.svc.cluster.local"));
    assert_eq!(l.upstream_local.as_deref(), Some("10.80.45.233:37132"));
    assert_eq!(l.downstream_local.as_deref(), Some("10.80.45.233:80"));
    assert_eq!(l.downstream_remote.as_deref(), Some("10.80.46.220:59375"));
    assert_eq!((l.requested_server_name.as_deref(), l.route_name.as_deref()), (None, None));
    // The explanation uses the line's objects.
    let e = explain(line, None, None).expect("explained");
    assert!(e.summary.contains("health-api.production:80"), "{}", e.summary);
    assert_eq!(e.causes[0].id, "keepalive-race");
    assert!(e.checks.iter().any(|c| c.contains("outbound|80||health-api.production.svc.cluster.local")));
}

#[test]
fn istio_text_as_the_strait_proxy_writes_it() {
    // crates/proxy/src/access_log/tests.rs `line_matches_envoys_layout`.
    let line = "[2026-11-23T12:21:36.574Z] \"GET /?i=0 HTTP/1.1\" 503 FI fault_filter_abort - \"-\" 0 18 0 - \"-\" \
                \"curl/7.88.1\" \"id\" \"ratings:9080\" \"-\" outbound|9080||ratings.default.svc.cluster.local - \
                127.0.0.102:15001 127.0.0.1:5000 - -\n";
    let l = parse(line).expect("parsed");
    assert_eq!(l.start_time.as_deref(), Some("2026-11-23T12:21:36.574Z"));
    assert_eq!((l.status, l.details.as_deref()), (Some(503), Some("fault_filter_abort")));
    assert_eq!((l.upstream_host.as_deref(), l.upstream_local.as_deref()), (None, None));
    assert_eq!(l.downstream_local.as_deref(), Some("127.0.0.102:15001"));
    let e = explain(line, None, None).expect("explained");
    assert_eq!(e.causes[0].id, "fault-injection");
    assert!(e.causes[0].summary.contains("ratings.default:9080"), "{}", e.causes[0].summary);
}

#[test]
fn istio_json_as_the_strait_proxy_writes_it() {
    // The same record through `Record::json`: sorted keys, numbers, null for `-`.
    let line = r#"{"authority":"ratings:9080","bytes_received":0,"bytes_sent":18,"connection_termination_details":null,"downstream_local_address":"127.0.0.102:15001","downstream_remote_address":"127.0.0.1:5000","duration":0,"method":"GET","path":"/?i=0","protocol":"HTTP/1.1","request_id":"id","requested_server_name":null,"response_code":503,"response_code_details":"fault_filter_abort","response_flags":"FI","route_name":null,"start_time":"2026-11-23T12:21:36.574Z","upstream_cluster":"outbound|9080||ratings.default.svc.cluster.local","upstream_host":null,"upstream_local_address":null,"upstream_service_time":null,"upstream_transport_failure_reason":null,"user_agent":"curl/7.88.1","x_forwarded_for":null}"#;
    let json = parse(line).expect("parsed");
    assert_eq!(json.format, Some(LineFormat::IstioJson));
    let text = parse(
        "[2026-11-23T12:21:36.574Z] \"GET /?i=0 HTTP/1.1\" 503 FI fault_filter_abort - \"-\" 0 18 0 - \"-\" \
         \"curl/7.88.1\" \"id\" \"ratings:9080\" \"-\" outbound|9080||ratings.default.svc.cluster.local - \
         127.0.0.102:15001 127.0.0.1:5000 - -",
    )
    .expect("parsed");
    let strip = |mut l: strait_explain::AccessLine| {
        l.format = None;
        l
    };
    assert_eq!(strip(json), strip(text), "TEXT and JSON of one record read the same");
    let tcp = r#"{"response_code":0,"response_flags":"UF,URX","upstream_cluster":"outbound|9443||tcp.external.test","upstream_transport_failure_reason":"delayed_connect_error:_Connection_refused","duration":"3","method":null,"protocol":null}"#;
    let l = parse(tcp).expect("parsed");
    assert_eq!((l.flags.clone(), l.duration_ms), (vec!["UF".to_string(), "URX".to_string()], Some(3)));
    assert!(l.is_tcp());
}

#[test]
fn envoy_default_and_istio_1_8_formats() {
    // Envoy's docs, "Default format string" example.
    let envoy = r#"[2016-04-15T20:17:00.310Z] "POST /api/v1/locations HTTP/2" 204 - 154 0 226 100 "10.0.35.28" "nsq2http" "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2" "locations" "tcp://10.0.2.1:80""#;
    let l = parse(envoy).expect("parsed");
    assert_eq!(l.format, Some(LineFormat::EnvoyDefault));
    assert_eq!((l.status, l.bytes_received, l.duration_ms), (Some(204), Some(154), Some(226)));
    assert_eq!((l.authority.as_deref(), l.upstream_host.as_deref()), (Some("locations"), Some("tcp://10.0.2.1:80")));
    assert_eq!(l.upstream_cluster, None);
    // Istio 1.6–1.8: a quoted mixer status where the details are now.
    let legacy = r#"[2020-05-12T09:40:47.371Z] "GET /productpage HTTP/1.1" 200 - "-" "-" 0 5179 24 23 "-" "curl/7.58.0" "a6b4e3f1" "productpage:9080" "10.1.1.5:9080" outbound|9080||productpage.default.svc.cluster.local 10.1.1.3:48412 10.104.120.42:9080 10.1.1.3:33990 - default"#;
    let l = parse(legacy).expect("parsed");
    assert_eq!(l.format, Some(LineFormat::IstioTextLegacy));
    assert_eq!((l.bytes_sent, l.upstream_service_time.as_deref()), (Some(5179), Some("23")));
    assert_eq!(l.upstream_cluster.as_deref(), Some("outbound|9080||productpage.default.svc.cluster.local"));
    assert_eq!(l.route_name.as_deref(), Some("default"));
}

#[test]
fn tolerated_copies_of_lines() {
    // `kubectl logs --prefix` and a JSON pipeline's escaped quotes.
    let prefixed = r#"[pod/reviews-v1/istio-proxy] [2026-11-23T10:00:00.000Z] "GET / HTTP/1.1" 200 - via_upstream - "-" 0 5 1 1 "-" "curl" "x" "reviews:9080" "10.0.0.21:9080" inbound|9080|| 127.0.0.6:1 10.0.0.21:9080 10.0.0.10:2 - default"#;
    let l = parse(prefixed).expect("parsed after the prefix");
    assert_eq!(l.upstream_cluster.as_deref(), Some("inbound|9080||"));
    let escaped = r#"[2024-05-09T00:23:52.990Z] \"- - -\" 0 - - - \"-\" 1233 10595 61089 - \"-\" \"-\" \"-\" \"-\" \"10.252.166.226:443\" outbound|443|apitwiliocom|egressgateway.city-egress.svc.cluster.local 10.252.254.205:55016 240.240.216.70:443 10.252.254.205:55670 api.twilio.com -"#;
    let l = parse(escaped).expect("parsed");
    assert!(l.is_tcp());
    assert_eq!(l.requested_server_name.as_deref(), Some("api.twilio.com"));
}

#[test]
fn what_is_not_an_access_log_line() {
    let not = |s: &str| explain(s, None, None).expect_err(s).0;
    assert!(not("hello world").contains("not an Envoy access-log line"));
    assert!(not("[2024-01-01T00:00:00Z] GET /").contains("no quoted request"));
    assert!(not(r#""GET / HTTP/1.1" 200 - 1 2"#).contains("fields after the start time"));
    assert!(not(r#"{"level":"error","msg":"Reading message failed"}"#).contains("not an access-log record"));
    assert!(not("{not json").contains("not valid JSON"));
    assert!(not("").contains("nothing to explain"));
}

#[test]
fn reply_bodies_are_explained_like_lines() {
    let body = "upstream connect error or disconnect/reset before headers. retried and the latest reset reason: \
                remote connection failure, transport failure reason: TLS_error:|268435703:SSL routines:\
                OPENSSL_internal:WRONG_VERSION_NUMBER:TLS_error_end";
    let e = explain(body, None, None).expect("explained");
    assert_eq!(e.input, InputKind::ReplyBody);
    let shorts: Vec<&str> = e.flags.iter().map(|f| f.short).collect();
    assert_eq!(shorts, ["UF", "URX"]);
    assert_eq!(e.causes[0].id, "tls-mode-conflict", "{:?}", e.causes);
    assert!(e.summary.contains("one side spoke TLS and the other plaintext"), "{}", e.summary);
    let e = explain("no healthy upstream", None, None).expect("explained");
    assert_eq!(e.flags[0].short, "UH");
}
