use super::*;
use crate::access_log::{Format, Meta};
use std::time::SystemTime;

fn record(status: u16, flags: &'static str, bytes_sent: u64) -> Record {
    Record {
        start: SystemTime::now(),
        method: Some("GET".into()),
        path: Some("/".into()),
        protocol: Some("HTTP/1.1"),
        status,
        flags,
        details: "via_upstream".into(),
        transport_failure: String::new(),
        bytes_received: 0,
        bytes_sent,
        duration_ms: 3,
        upstream_service_time: None,
        x_forwarded_for: None,
        user_agent: None,
        request_id: None,
        authority: Some("reviews:9080".into()),
        upstream_host: Some("127.0.0.21:9080".parse().expect("addr")),
        upstream_cluster: Some("outbound|9080||reviews.default.svc.cluster.local".into()),
        upstream_local: None,
        downstream_local: "127.0.0.100:15001".parse().expect("addr"),
        downstream_remote: "127.0.0.1:5000".parse().expect("addr"),
        route_name: None,
        meta: Meta::new(&Arc::from("outbound_15001"), Some(Format::Text)),
    }
}

/// The value of the sample whose line contains every needle.
fn sample(text: &str, name: &str, needles: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(name) && needles.iter().all(|n| l.contains(n)))
        .find_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse().ok()))
}

#[test]
fn requests_are_counted_per_label_set() {
    let t = Telemetry::default();
    for _ in 0..3 {
        t.complete(&record(200, "", 10));
    }
    t.complete(&record(503, "UF", 91));
    let text = t.prometheus(&[]);
    let ok = ["response_code=\"200\"", "reporter=\"source\"", "response_flags=\"-\""];
    assert_eq!(sample(&text, "istio_requests_total{", &ok), Some(3.0), "{text}");
    assert_eq!(sample(&text, "istio_requests_total{", &["response_code=\"503\"", "response_flags=\"UF\""]), Some(1.0));
    assert_eq!(sample(&text, "istio_request_duration_milliseconds_count{", &ok), Some(3.0));
    assert_eq!(
        sample(&text, "istio_request_duration_milliseconds_bucket{", &["response_code=\"200\"", "le=\"5.0\""]),
        Some(3.0)
    );
    assert_eq!(
        sample(&text, "istio_request_duration_milliseconds_bucket{", &["response_code=\"200\"", "le=\"1.0\""]),
        Some(0.0)
    );
    assert_eq!(sample(&text, "istio_response_bytes_sum{", &ok), Some(30.0));
    assert!(text.contains("# TYPE istio_requests_total counter\n"), "classic text names counters with _total");
    assert!(!text.contains("# EOF"), "{text}");
    // The Envoy counters of the same records.
    let c = "envoy_cluster_name=\"outbound|9080||reviews.default.svc.cluster.local\"";
    assert_eq!(sample(&text, "envoy_cluster_upstream_rq{", &["envoy_response_code=\"200\"", c]), Some(3.0));
    assert_eq!(sample(&text, "envoy_cluster_upstream_cx_connect_fail{", &[c]), Some(1.0));
    let host = t
        .envoy()
        .cluster("outbound|9080||reviews.default.svc.cluster.local")
        .host("127.0.0.21:9080".parse().expect("addr"));
    assert_eq!((host.rq_total, host.rq_success, host.rq_error, host.cx_connect_fail), (3, 3, 1, 1));
}

#[test]
fn tcp_connections_open_and_close() {
    let t = Telemetry::default();
    let mut r = record(0, "", 0);
    r.protocol = None;
    r.method = None;
    r.meta = Meta::new(&Arc::from("outbound|5432||db.default.svc.cluster.local"), None);
    t.tcp_opened(&r);
    r.bytes_received = 5;
    r.bytes_sent = 7;
    t.complete(&r);
    let text = t.prometheus(&[]);
    let tcp = ["request_protocol=\"tcp\""];
    assert_eq!(sample(&text, "istio_tcp_connections_opened_total{", &tcp), Some(1.0), "{text}");
    assert_eq!(sample(&text, "istio_tcp_connections_closed_total{", &tcp), Some(1.0));
    assert_eq!(sample(&text, "istio_tcp_sent_bytes_total{", &tcp), Some(7.0));
    assert_eq!(sample(&text, "istio_tcp_received_bytes_total{", &tcp), Some(5.0));
    assert!(!text.contains("response_code=\"0\""), "TCP metrics have no response code");
}

#[test]
fn the_cache_follows_label_inputs() {
    let t = Telemetry::default();
    let mut a = record(200, "", 1);
    t.complete(&a);
    a.meta.grpc = true;
    a.meta.grpc_status = Some(0);
    t.complete(&a);
    a.meta = Meta::new(&Arc::from("inbound_127.0.0.1_9080"), None);
    t.complete(&a);
    let text = t.prometheus(&[]);
    assert_eq!(
        sample(&text, "istio_requests_total{", &["request_protocol=\"http\"", "reporter=\"source\""]),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "istio_requests_total{", &["request_protocol=\"grpc\"", "grpc_response_status=\"0\""]),
        Some(1.0)
    );
    assert_eq!(sample(&text, "istio_requests_total{", &["reporter=\"destination\""]), Some(1.0));
}
