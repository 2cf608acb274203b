//! CDS/EDS generation: cluster names for a Bookinfo-like mesh with subsets, DestinationRule
//! policies → cluster fields (table), DestinationRule lookup precedence, EDS subset filtering,
//! and Envoy itself accepting the generated clusters (`envoy --mode validate`).

mod cluster_fixtures;

use cluster_fixtures::*;
use envoy_types::pb::envoy::config::cluster::v3::cluster::{ClusterDiscoveryType, DiscoveryType, LbConfig, LbPolicy};
use envoy_types::pb::envoy::config::endpoint::v3::lb_endpoint::HostIdentifier;
use strait_registry::{Protocol, Resolution};
use strait_xds::clusters::HTTP_PROTOCOL_OPTIONS;
use strait_xds::destination_rules::{self, Direction, Index};
use strait_xds::{clusters, endpoints, names, scope::Scope};

const BOOKINFO_DRS: &str = r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: productpage}
spec:
  host: productpage
  subsets: [{name: v1, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings}
spec:
  host: ratings
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
"#;

#[test]
fn bookinfo_cluster_names() {
    let reg = registry(bookinfo(), BOOKINFO_DRS);
    let proxy = sidecar("10.0.0.1", "productpage-v1-abc", "default", &[("app", "productpage"), ("version", "v1")]);
    let clusters = clusters::build(&Scope::new(&reg, &proxy));
    let got: Vec<&str> = clusters.iter().map(|c| c.name.as_str()).collect();
    let want = [
        "BlackHoleCluster",
        "InboundPassthroughCluster",
        "PassthroughCluster",
        "inbound|9080||",
        "outbound|9080||details.default.svc.cluster.local",
        "outbound|9080||productpage.default.svc.cluster.local",
        "outbound|9080|v1|productpage.default.svc.cluster.local",
        "outbound|9080||ratings.default.svc.cluster.local",
        "outbound|9080|v1|ratings.default.svc.cluster.local",
        "outbound|9080|v2|ratings.default.svc.cluster.local",
        "outbound|9080||reviews.default.svc.cluster.local",
        "outbound|9080|v1|reviews.default.svc.cluster.local",
        "outbound|9080|v2|reviews.default.svc.cluster.local",
        "outbound|9080|v3|reviews.default.svc.cluster.local",
    ];
    assert_eq!(got, want);
    let v2 = find(&clusters, "outbound|9080|v2|reviews.default.svc.cluster.local");
    assert_eq!(v2.cluster_discovery_type, Some(ClusterDiscoveryType::Type(DiscoveryType::Eds as i32)));
    assert_eq!(v2.eds_cluster_config.as_ref().map(|e| e.service_name.as_str()), Some(v2.name.as_str()));
    assert_eq!(v2.lb_policy, LbPolicy::LeastRequest as i32, "Istio's default LB");
    assert_eq!(v2.connect_timeout.map(|d| d.seconds), Some(10));
    let inbound = find(&clusters, "inbound|9080||");
    assert_eq!(endpoint_addrs_inline(inbound), vec!["127.0.0.1:9080"]);
    // EDS has one assignment per EDS cluster, named like it.
    let eds = endpoints::build(&Scope::new(&reg, &proxy));
    let eds_names: Vec<&str> = eds.iter().map(|c| c.cluster_name.as_str()).collect();
    let eds_clusters: Vec<&str> = got.iter().copied().filter(|n| n.starts_with("outbound|")).collect();
    assert_eq!(eds_names, eds_clusters);
}

#[test]
fn eds_filters_by_subset_labels() {
    let reg = registry(bookinfo(), BOOKINFO_DRS);
    let proxy = sidecar("10.0.0.1", "productpage-v1-abc", "default", &[("app", "productpage")]);
    let eds = endpoints::build(&Scope::new(&reg, &proxy));
    let addrs = |name: &str| {
        let cla = eds.iter().find(|c| c.cluster_name == name).expect(name);
        cla.endpoints
            .iter()
            .flat_map(|l| &l.lb_endpoints)
            .map(|e| match &e.host_identifier {
                Some(HostIdentifier::Endpoint(ep)) => addr(ep.address.as_ref()),
                _ => String::new(),
            })
            .collect::<Vec<_>>()
    };
    let host = "reviews.default.svc.cluster.local";
    assert_eq!(addrs(&names::outbound_cluster(9080, "", host)), ["10.1.0.1:9080", "10.1.0.2:9080", "10.1.0.3:9080"]);
    assert_eq!(addrs(&names::outbound_cluster(9080, "v2", host)), ["10.1.0.2:9080"]);
    assert_eq!(addrs(&names::outbound_cluster(9080, "v3", host)), ["10.1.0.3:9080"]);
    let v3 = eds.iter().find(|c| c.cluster_name == names::outbound_cluster(9080, "v3", host)).expect("v3");
    let lb = &v3.endpoints[0].lb_endpoints[0];
    assert_eq!(lb.health_status, 2, "not ready → UNHEALTHY");
    let md = lb.metadata.as_ref().expect("metadata");
    assert!(md.filter_metadata.contains_key("envoy.transport_socket_match"));
    assert_eq!(str_field(&md.filter_metadata["istio"], "workload"), "reviews-v3;default;reviews;v3;Kubernetes");
    assert_eq!(v3.endpoints[0].locality.as_ref().map(|l| l.zone.as_str()), Some("zone-b"));
}

#[test]
fn dns_and_passthrough_services() {
    let mut external = service("api.example.com", "default", &[(443, "tls", Protocol::Tls)], vec![]);
    external.origin = strait_registry::Origin::ServiceEntry { internal: false };
    external.resolution = Resolution::Dns;
    external.endpoints = vec![endpoint("api.example.com", &[(443, 443)], &[])];
    let mut rr = external.clone();
    rr.hostname = "rr.example.com".into();
    rr.resolution = Resolution::DnsRoundRobin;
    rr.endpoints = vec![endpoint("a.example.com", &[], &[]), endpoint("b.example.com", &[], &[])];
    let mut headless = service("db.default.svc.cluster.local", "default", &[(5432, "tcp", Protocol::Tcp)], vec![]);
    headless.resolution = Resolution::Passthrough;
    let mut empty = external.clone();
    empty.hostname = "nothing.example.com".into();
    empty.endpoints.clear();
    let reg = registry(vec![external, rr, headless, empty], "");
    let proxy = sidecar("10.0.0.1", "app", "default", &[]);
    let clusters = clusters::build(&Scope::new(&reg, &proxy));
    let strict = find(&clusters, "outbound|443||api.example.com");
    assert_eq!(strict.cluster_discovery_type, Some(ClusterDiscoveryType::Type(DiscoveryType::StrictDns as i32)));
    assert_eq!(endpoint_addrs_inline(strict), ["api.example.com:443"]);
    let logical = find(&clusters, "outbound|443||rr.example.com");
    assert_eq!(logical.cluster_discovery_type, Some(ClusterDiscoveryType::Type(DiscoveryType::LogicalDns as i32)));
    assert_eq!(endpoint_addrs_inline(logical), ["a.example.com:443"], "LOGICAL_DNS takes one endpoint");
    let orig = find(&clusters, "outbound|5432||db.default.svc.cluster.local");
    assert_eq!(orig.cluster_discovery_type, Some(ClusterDiscoveryType::Type(DiscoveryType::OriginalDst as i32)));
    assert_eq!(orig.lb_policy, LbPolicy::ClusterProvided as i32);
    assert!(clusters.iter().all(|c| c.name != "outbound|443||nothing.example.com"), "DNS without endpoints");
    let eds = endpoints::build(&Scope::new(&reg, &proxy));
    assert!(eds.is_empty(), "no EDS clusters here: {eds:?}");
}

/// (name, port protocol, DR YAML spec, check on the default cluster of port 9080).
type Case = (&'static str, Protocol, &'static str, fn(&envoy_types::pb::envoy::config::cluster::v3::Cluster));

#[test]
fn traffic_policy_table() {
    let cases: Vec<Case> = vec![
        ("no rule: least request, unlimited breakers, h1", Protocol::Http, "", |c| {
            assert_eq!(c.lb_policy, LbPolicy::LeastRequest as i32);
            let t = &c.circuit_breakers.as_ref().expect("cb").thresholds[0];
            assert_eq!(t.max_connections.map(|v| v.value), Some(u32::MAX));
            assert!(t.track_remaining);
            assert!(http_options(c).contains("ExplicitHttpConfig") && http_options(c).contains("HttpProtocolOptions"));
            assert!(c.outlier_detection.is_none() && c.transport_socket.is_none());
        }),
        ("round robin", Protocol::Http, "trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}", |c| {
            assert_eq!(c.lb_policy, LbPolicy::RoundRobin as i32)
        }),
        ("random", Protocol::Tcp, "trafficPolicy: {loadBalancer: {simple: RANDOM}}", |c| {
            assert_eq!(c.lb_policy, LbPolicy::Random as i32);
            assert!(c.typed_extension_protocol_options.is_empty(), "TCP gets no HTTP options");
        }),
        ("passthrough", Protocol::Http, "trafficPolicy: {loadBalancer: {simple: PASSTHROUGH}}", |c| {
            assert_eq!(c.cluster_discovery_type, Some(ClusterDiscoveryType::Type(DiscoveryType::OriginalDst as i32)));
            assert_eq!(c.lb_policy, LbPolicy::ClusterProvided as i32);
            assert!(c.eds_cluster_config.is_none());
        }),
        (
            "ring hash",
            Protocol::Http,
            "trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x, ringHash: {minimumRingSize: 2048}}}}",
            |c| {
                assert_eq!(c.lb_policy, LbPolicy::RingHash as i32);
                assert!(
                    matches!(&c.lb_config, Some(LbConfig::RingHashLbConfig(r)) if r.minimum_ring_size.map(|v| v.value) == Some(2048))
                );
            },
        ),
        (
            "ring hash default size",
            Protocol::Http,
            "trafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: true}}}",
            |c| {
                assert!(
                    matches!(&c.lb_config, Some(LbConfig::RingHashLbConfig(r)) if r.minimum_ring_size.map(|v| v.value) == Some(1024))
                );
            },
        ),
        (
            "maglev",
            Protocol::Http,
            "trafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: true, maglev: {tableSize: 65537}}}}",
            |c| {
                assert_eq!(c.lb_policy, LbPolicy::Maglev as i32);
                assert!(
                    matches!(&c.lb_config, Some(LbConfig::MaglevLbConfig(m)) if m.table_size.map(|v| v.value) == Some(65537))
                );
            },
        ),
        (
            "connection pool",
            Protocol::Http,
            "trafficPolicy: {connectionPool: {tcp: {maxConnections: 100, connectTimeout: 250ms, tcpKeepalive: {time: 7200s, interval: 75s, probes: 9}}, http: {http1MaxPendingRequests: 10, http2MaxRequests: 1000, maxRequestsPerConnection: 1, maxRetries: 4, idleTimeout: 30s}}}",
            |c| {
                let t = &c.circuit_breakers.as_ref().expect("cb").thresholds[0];
                let v = |x: Option<envoy_types::pb::google::protobuf::UInt32Value>| x.map(|v| v.value);
                assert_eq!(
                    (v(t.max_connections), v(t.max_pending_requests), v(t.max_requests), v(t.max_retries)),
                    (Some(100), Some(10), Some(1000), Some(4))
                );
                assert_eq!(c.connect_timeout.map(|d| (d.seconds, d.nanos)), Some((0, 250_000_000)));
                let ka = c.upstream_connection_options.as_ref().and_then(|o| o.tcp_keepalive).expect("keepalive");
                assert_eq!(
                    (v(ka.keepalive_time), v(ka.keepalive_interval), v(ka.keepalive_probes)),
                    (Some(7200), Some(75), Some(9))
                );
                let opts = http_options(c);
                assert!(opts.contains("max_requests_per_connection: Some(UInt32Value { value: 1 })"), "{opts}");
                assert!(opts.contains("idle_timeout: Some(Duration { seconds: 30"), "{opts}");
            },
        ),
        (
            "use client protocol",
            Protocol::Http,
            "trafficPolicy: {connectionPool: {http: {useClientProtocol: true}}}",
            |c| {
                assert!(http_options(c).contains("UseDownstreamProtocolConfig"));
            },
        ),
        ("h2 upgrade", Protocol::Http, "trafficPolicy: {connectionPool: {http: {h2UpgradePolicy: UPGRADE}}}", |c| {
            assert!(http_options(c).contains("Http2ProtocolOptions("));
        }),
        (
            "outlier detection",
            Protocol::Http,
            "trafficPolicy: {outlierDetection: {consecutive5xxErrors: 7, consecutiveGatewayErrors: 0, interval: 5m, baseEjectionTime: 15m, maxEjectionPercent: 50, minHealthPercent: 25}}",
            |c| {
                let o = c.outlier_detection.as_ref().expect("outlier");
                let v = |x: Option<envoy_types::pb::google::protobuf::UInt32Value>| x.map(|v| v.value);
                assert_eq!((v(o.consecutive_5xx), v(o.enforcing_consecutive_5xx)), (Some(7), Some(100)));
                assert_eq!(
                    (v(o.consecutive_gateway_failure), v(o.enforcing_consecutive_gateway_failure)),
                    (Some(0), Some(0))
                );
                assert_eq!(v(o.enforcing_success_rate), Some(0));
                assert_eq!(o.interval.map(|d| d.seconds), Some(300));
                assert_eq!(o.base_ejection_time.map(|d| d.seconds), Some(900));
                assert_eq!(v(o.max_ejection_percent), Some(50));
                assert_eq!(
                    c.common_lb_config.as_ref().and_then(|l| l.healthy_panic_threshold).map(|p| p.value),
                    Some(25.0)
                );
            },
        ),
        (
            "outlier without minHealthPercent disables panic",
            Protocol::Http,
            "trafficPolicy: {outlierDetection: {consecutive5xxErrors: 3}}",
            |c| {
                assert_eq!(
                    c.common_lb_config.as_ref().and_then(|l| l.healthy_panic_threshold).map(|p| p.value),
                    Some(0.0)
                );
            },
        ),
        (
            "simple tls",
            Protocol::Http,
            "trafficPolicy: {tls: {mode: SIMPLE, caCertificates: /etc/ca.pem, sni: api.example.com, subjectAltNames: [api.example.com, 'spiffe://td/ns/x/sa/y']}}",
            |c| {
                let ts = format!("{:?}", tls_context(c));
                assert!(ts.contains("Filename(\"/etc/ca.pem\")") && ts.contains("sni: \"api.example.com\""), "{ts}");
                assert!(ts.contains("san_type: Dns") && ts.contains("san_type: Uri"), "{ts}");
                assert!(ts.contains("tls_certificates: []"), "{ts}");
            },
        ),
        (
            "mutual tls",
            Protocol::Grpc,
            "trafficPolicy: {tls: {mode: MUTUAL, clientCertificate: /c.pem, privateKey: /k.pem, caCertificates: /ca.pem}}",
            |c| {
                let ts = format!("{:?}", tls_context(c));
                assert!(ts.contains("Filename(\"/c.pem\")") && ts.contains("Filename(\"/k.pem\")"), "{ts}");
                assert!(ts.contains("alpn_protocols: [\"h2\"]"), "{ts}");
                assert!(http_options(c).contains("auto_sni: true"));
            },
        ),
        (
            "insecure skip verify",
            Protocol::Http,
            "trafficPolicy: {tls: {mode: SIMPLE, insecureSkipVerify: true}}",
            |c| {
                let ts = format!("{:?}", tls_context(c));
                assert!(ts.contains("trusted_ca: None"), "{ts}");
            },
        ),
        ("disable tls", Protocol::Http, "trafficPolicy: {tls: {mode: DISABLE}}", |c| {
            assert!(c.transport_socket.is_none())
        }),
        (
            "port level replaces top level",
            Protocol::Http,
            "trafficPolicy: {loadBalancer: {simple: RANDOM}, portLevelSettings: [{port: {number: 9080}, connectionPool: {tcp: {maxConnections: 5}}}]}",
            |c| {
                assert_eq!(c.lb_policy, LbPolicy::LeastRequest as i32, "port level does not inherit");
                let t = &c.circuit_breakers.as_ref().expect("cb").thresholds[0];
                assert_eq!(t.max_connections.map(|v| v.value), Some(5));
            },
        ),
        ("grpc is h2", Protocol::Grpc, "", |c| assert!(http_options(c).contains("Http2ProtocolOptions("))),
        ("unknown protocol follows downstream", Protocol::Unknown, "", |c| {
            assert!(http_options(c).contains("UseDownstreamProtocolConfig"))
        }),
    ];
    for (name, protocol, spec, check) in cases {
        let svc = service("svc.default.svc.cluster.local", "default", &[(9080, "p", protocol)], vec![]);
        let dr = if spec.is_empty() { String::new() } else { dr_yaml("svc", "default", spec) };
        let reg = registry(vec![svc], &dr);
        let proxy = sidecar("10.0.0.1", "client", "default", &[]);
        let clusters = clusters::build(&Scope::new(&reg, &proxy));
        let c = find(&clusters, "outbound|9080||svc.default.svc.cluster.local");
        eprintln!("case: {name}");
        check(c);
    }
}

#[test]
fn subset_policy_merges_over_top_level() {
    let spec = "trafficPolicy: {loadBalancer: {simple: RANDOM}, connectionPool: {tcp: {maxConnections: 9}}}\n  subsets:\n  - {name: v1, labels: {version: v1}, trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}}\n  - {name: v2, labels: {version: v2}}";
    let svc = service("svc.default.svc.cluster.local", "default", &[(80, "http", Protocol::Http)], vec![]);
    let reg = registry(vec![svc], &dr_yaml("svc", "default", spec));
    let proxy = sidecar("10.0.0.1", "client", "default", &[]);
    let clusters = clusters::build(&Scope::new(&reg, &proxy));
    let v1 = find(&clusters, "outbound|80|v1|svc.default.svc.cluster.local");
    let v2 = find(&clusters, "outbound|80|v2|svc.default.svc.cluster.local");
    assert_eq!(v1.lb_policy, LbPolicy::RoundRobin as i32);
    assert_eq!(v2.lb_policy, LbPolicy::Random as i32);
    for c in [v1, v2] {
        assert_eq!(c.circuit_breakers.as_ref().expect("cb").thresholds[0].max_connections.map(|v| v.value), Some(9));
    }
    assert!(format!("{:?}", v1.metadata).contains("subset"), "subset metadata");
    assert!(v1.typed_extension_protocol_options.contains_key(HTTP_PROTOCOL_OPTIONS));
}

#[test]
fn destination_rule_lookup_precedence() {
    let host = "reviews.bookinfo.svc.cluster.local";
    let svc = service(host, "bookinfo", &[(9080, "http", Protocol::Http)], vec![]);
    let text = [
        dr_yaml_named("root", "istio-system", "*.svc.cluster.local", "trafficPolicy: {loadBalancer: {simple: RANDOM}}"),
        dr_yaml_named("svc-ns", "bookinfo", "reviews", "trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}"),
        dr_yaml_named("client", "frontend", host, "trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}"),
        dr_yaml_named(
            "selected",
            "frontend",
            host,
            "workloadSelector: {matchLabels: {app: special}}\n  trafficPolicy: {loadBalancer: {simple: PASSTHROUGH}}",
        ),
        dr_yaml_named("private", "other", host, "exportTo: ['.']"),
    ]
    .join("---\n");
    let reg = registry(vec![svc], &text);
    let index = Index::new(&reg);
    let who = |ns: &str, labels: &[(&str, &str)]| {
        let p = sidecar("10.9.9.9", "p", ns, labels);
        index.lookup(&p, host, "bookinfo", Direction::Outbound).map(|a| a.names.join(","))
    };
    assert_eq!(who("frontend", &[]).as_deref(), Some("client"), "proxy namespace first");
    assert_eq!(who("frontend", &[("app", "special")]).as_deref(), Some("selected"), "workloadSelector wins");
    assert_eq!(who("elsewhere", &[]).as_deref(), Some("svc-ns"), "then the service's namespace");
    assert_eq!(who("other", &[]).as_deref(), Some("private"), "private rule in own namespace");
    let p = sidecar("10.9.9.9", "p", "elsewhere", &[]);
    let other = destination_rules::lookup(&reg, &p, "ratings.x.svc.cluster.local", "x").map(|a| a.names);
    assert_eq!(other, Some(vec!["root".to_string()]), "then the root namespace (wildcard host)");
    assert_eq!(destination_rules::lookup(&reg, &p, "example.com", "x"), None);
}

#[test]
fn rules_for_one_host_merge() {
    let svc = service("r.default.svc.cluster.local", "default", &[(80, "http", Protocol::Http)], vec![]);
    let text = [
        dr_yaml_named("a", "default", "r", "trafficPolicy: {loadBalancer: {simple: RANDOM}}\n  subsets: [{name: v1, labels: {v: '1'}}]"),
        dr_yaml_named("b", "default", "r", "trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}\n  subsets: [{name: v1, labels: {v: x}}, {name: v2, labels: {v: '2'}}]"),
    ]
    .join("---\n");
    let reg = registry(vec![svc], &text);
    let clusters = clusters::build(&Scope::new(&reg, &sidecar("10.0.0.1", "c", "default", &[])));
    let names: Vec<&str> =
        clusters.iter().filter(|c| c.name.starts_with("outbound")).map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "outbound|80||r.default.svc.cluster.local",
            "outbound|80|v1|r.default.svc.cluster.local",
            "outbound|80|v2|r.default.svc.cluster.local"
        ]
    );
    assert_eq!(find(&clusters, names[0]).lb_policy, LbPolicy::Random as i32, "first rule's policy wins");
}

#[test]
fn envoy_accepts_generated_clusters() {
    let Some(envoy) = strait_testkit::process::envoy() else { return };
    let dir = strait_testkit::process::tempdir("xds-clusters");
    let (ca, cert, key) = test_certs(&dir);
    let spec = format!(
        "trafficPolicy:\n    connectionPool: {{tcp: {{maxConnections: 10, tcpKeepalive: {{time: 60s}}}}, http: {{maxRequestsPerConnection: 5, idleTimeout: 10s, http2MaxRequests: 7}}}}\n    outlierDetection: {{consecutive5xxErrors: 3, interval: 10s, baseEjectionTime: 30s, maxEjectionPercent: 50}}\n    loadBalancer: {{simple: ROUND_ROBIN, warmup: {{duration: 10s}}}}\n  subsets:\n  - {{name: v1, labels: {{version: v1}}, trafficPolicy: {{loadBalancer: {{consistentHash: {{useSourceIp: true, maglev: {{tableSize: 65537}}}}}}}}}}\n  - {{name: v2, labels: {{version: v2}}, trafficPolicy: {{tls: {{mode: MUTUAL, clientCertificate: {cert}, privateKey: {key}, caCertificates: {ca}, subjectAltNames: [reviews.example]}}}}}}\n  - {{name: v3, labels: {{version: v3}}, trafficPolicy: {{tls: {{mode: SIMPLE, caCertificates: {ca}, sni: reviews.example}}, loadBalancer: {{consistentHash: {{httpHeaderName: x-user}}}}}}}}"
    );
    let mut services = bookinfo();
    services.push(grpc_service());
    let mut external = service("api.example.com", "default", &[(443, "tls", Protocol::Tls)], vec![]);
    external.origin = strait_registry::Origin::ServiceEntry { internal: false };
    external.resolution = Resolution::Dns;
    external.endpoints = vec![endpoint("api.example.com", &[(443, 443)], &[])];
    services.push(external);
    let reg = registry(services, &dr_yaml("reviews", "default", &spec));
    let proxy = sidecar("10.0.0.1", "productpage-v1-abc", "default", &[("app", "productpage")]);
    let scope = Scope::new(&reg, &proxy);
    let clusters = clusters::build(&scope);
    let eds = endpoints::build(&scope);
    assert!(clusters.iter().any(|c| c.transport_socket.is_some()), "a TLS cluster is checked");
    let path = dir.join("bootstrap.pb");
    std::fs::write(&path, bootstrap(clusters, eds)).expect("write bootstrap");
    run_envoy_validate(&envoy, &path);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn inbound_clusters_speak_the_port_protocol() {
    let reg = registry(vec![grpc_service()], "");
    let proxy = sidecar("10.4.0.1", "grpc-abc", "default", &[]);
    let clusters = clusters::build(&Scope::new(&reg, &proxy));
    // gRPC must reach the app as HTTP/2, a sniffed port as whatever the client spoke, TCP raw.
    let table = [
        ("inbound|50051||", "Http2ProtocolOptions"),
        ("inbound|8080||", "UseDownstreamProtocolConfig"),
        ("inbound|7070||", ""),
    ];
    for (name, want) in table {
        let got = http_options(find(&clusters, name));
        assert!(if want.is_empty() { got.is_empty() } else { got.contains(want) }, "{name}: {got}");
    }
}
