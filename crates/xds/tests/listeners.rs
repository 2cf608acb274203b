//! LDS tests: the capture-free layout (inbound, explicit HTTP proxy, TCP listeners on the proxy
//! IP), the captured layout (virtualOutbound/virtualInbound), the access log on every HCM and
//! TCP proxy, and a real `envoy --mode validate` of the listeners with their route configs
//! inlined into a static bootstrap.

mod lds_rds_fixture;

use envoy_types::pb::envoy::config::bootstrap::v3::{Bootstrap, bootstrap::StaticResources};
use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster::ClusterDiscoveryType, cluster::DiscoveryType};
use envoy_types::pb::envoy::config::core::v3::{address, socket_address::PortSpecifier};
use envoy_types::pb::envoy::config::listener::v3::{Filter, Listener, filter};
use envoy_types::pb::envoy::config::route::v3::RouteConfiguration;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, http_connection_manager::RouteSpecifier,
};
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{TcpProxy, tcp_proxy::ClusterSpecifier};
use lds_rds_fixture::{add_yaml, bookinfo, proxy, unpack};
use prost::Message;
use strait_registry::{Proxy, Registry};
use strait_xds::listeners::access_log::ISTIO_TEXT_FORMAT;
use strait_xds::scope::Scope;
use strait_xds::{listeners, routes};

fn typed(f: &Filter) -> &envoy_types::pb::google::protobuf::Any {
    match &f.config_type {
        Some(filter::ConfigType::TypedConfig(a)) => a,
        _ => panic!("untyped filter {}", f.name),
    }
}

fn hcm(l: &Listener) -> HttpConnectionManager {
    let f = &l.filter_chains[0].filters[0];
    assert_eq!(f.name, "envoy.filters.network.http_connection_manager", "{}", l.name);
    unpack(typed(f))
}

fn tcp(l: &Listener) -> TcpProxy {
    let f = &l.filter_chains[0].filters[0];
    assert_eq!(f.name, "envoy.filters.network.tcp_proxy", "{}", l.name);
    unpack(typed(f))
}

fn addr(l: &Listener) -> (String, u32) {
    match l.address.as_ref().and_then(|a| a.address.as_ref()) {
        Some(address::Address::SocketAddress(s)) => match s.port_specifier {
            Some(PortSpecifier::PortValue(p)) => (s.address.clone(), p),
            _ => panic!("no port"),
        },
        _ => panic!("no address"),
    }
}

fn by_name<'a>(ls: &'a [Listener], name: &str) -> &'a Listener {
    ls.iter().find(|l| l.name == name).unwrap_or_else(|| panic!("no listener {name}"))
}

#[test]
fn capture_free_layout() {
    let mut reg = bookinfo();
    add_yaml(
        &mut reg,
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: mongo}\nspec:\n  hosts: [mongodb]\n  tcp:\n  - route:\n    - destination: {host: mongodb}\n      weight: 90\n    - destination: {host: mongodb, subset: v2}\n      weight: 10\n",
    );
    let p = proxy("127.0.0.10", "default");
    let ls = listeners::build(&Scope::new(&reg, &p));
    let names: Vec<_> = ls.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["127.0.0.10_9080", "127.0.0.10_15001", "127.0.0.10_27017"]);

    // Inbound: productpage's own port, inline route to the local app cluster.
    let inbound = hcm(by_name(&ls, "127.0.0.10_9080"));
    let Some(RouteSpecifier::RouteConfig(rc)) = &inbound.route_specifier else { panic!("inline inbound route") };
    assert_eq!(rc.name, "inbound|9080||");
    assert!(format!("{:?}", rc.virtual_hosts[0].routes[0].action).contains("inbound|9080||"));

    // Explicit HTTP proxy: RDS `http_proxy` over ADS, fault → cors → router, access log.
    let out = hcm(by_name(&ls, "127.0.0.10_15001"));
    assert_eq!(out.stat_prefix, "outbound_15001");
    assert!(matches!(&out.route_specifier, Some(RouteSpecifier::Rds(r)) if r.route_config_name == "http_proxy"));
    let filters: Vec<_> = out.http_filters.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(filters, ["envoy.filters.http.fault", "envoy.filters.http.cors", "envoy.filters.http.router"]);
    assert_eq!(out.upgrade_configs[0].upgrade_type, "websocket");
    assert!(format!("{:?}", out.access_log[0]).contains("envoy.access_loggers.file"));
    let log: envoy_types::pb::envoy::extensions::access_loggers::file::v3::FileAccessLog =
        unpack(match &out.access_log[0].config_type {
            Some(envoy_types::pb::envoy::config::accesslog::v3::access_log::ConfigType::TypedConfig(a)) => a,
            _ => panic!("typed access log"),
        });
    assert_eq!(log.path, "/dev/stdout");
    assert!(format!("{log:?}").contains("%RESPONSE_FLAGS%") && ISTIO_TEXT_FORMAT.ends_with("%ROUTE_NAME%\n"));

    // TCP: weighted by the VirtualService, with an access log.
    let t = tcp(by_name(&ls, "127.0.0.10_27017"));
    let Some(ClusterSpecifier::WeightedClusters(w)) = &t.cluster_specifier else { panic!("weighted") };
    let got: Vec<_> = w.clusters.iter().map(|c| (c.name.as_str(), c.weight)).collect();
    assert_eq!(
        got,
        [
            ("outbound|27017||mongodb.default.svc.cluster.local", 90),
            ("outbound|27017|v2|mongodb.default.svc.cluster.local", 10)
        ]
    );
    assert_eq!(t.access_log.len(), 1);
    assert_eq!(addr(by_name(&ls, "127.0.0.10_27017")), ("127.0.0.10".to_string(), 27017));
}

#[test]
fn captured_layout() {
    let reg = bookinfo();
    let mut p = proxy("127.0.0.10", "default");
    p.captured = true;
    let ls = listeners::build(&Scope::new(&reg, &p));
    let names: Vec<_> = ls.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["virtualOutbound", "0.0.0.0_9080", "10.96.0.20_27017", "virtualInbound"]);
    let vo = by_name(&ls, "virtualOutbound");
    assert_eq!((addr(vo).1, vo.use_original_dst.map(|b| b.value)), (15001, Some(true)));
    assert!(matches!(&tcp(vo).cluster_specifier, Some(ClusterSpecifier::Cluster(c)) if c == "PassthroughCluster"));
    let http = by_name(&ls, "0.0.0.0_9080");
    assert_eq!(http.bind_to_port.map(|b| b.value), Some(false));
    assert!(matches!(&hcm(http).route_specifier, Some(RouteSpecifier::Rds(r)) if r.route_config_name == "9080"));
    let vi = by_name(&ls, "virtualInbound");
    assert_eq!(addr(vi).1, 15006);
    let chains: Vec<_> = vi.filter_chains.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(chains, ["0.0.0.0_9080", "InboundPassthroughFilterChain"]);
}

/// Replaces RDS references with the named route configs, inline.
fn inline_routes(mut l: Listener, rcs: &[RouteConfiguration]) -> Listener {
    for chain in &mut l.filter_chains {
        for f in &mut chain.filters {
            if f.name != "envoy.filters.network.http_connection_manager" {
                continue;
            }
            let mut h: HttpConnectionManager = unpack(typed(f));
            if let Some(RouteSpecifier::Rds(rds)) = &h.route_specifier {
                let rc = rcs.iter().find(|r| r.name == rds.route_config_name).expect("route config").clone();
                h.route_specifier = Some(RouteSpecifier::RouteConfig(rc));
            }
            f.config_type = Some(filter::ConfigType::TypedConfig(strait_xds::any::pack(&h)));
        }
    }
    l
}

fn bootstrap(reg: &Registry, p: &Proxy) -> Bootstrap {
    let scope = Scope::new(reg, p);
    let rcs = routes::build(&scope);
    let listeners = listeners::build(&scope).into_iter().map(|l| inline_routes(l, &rcs)).collect();
    let static_cluster = |name: &str| Cluster {
        name: name.into(),
        cluster_discovery_type: Some(ClusterDiscoveryType::Type(DiscoveryType::Static as i32)),
        ..Default::default()
    };
    let clusters = ["PassthroughCluster", "BlackHoleCluster", "InboundPassthroughCluster"].map(static_cluster).to_vec();
    Bootstrap {
        static_resources: Some(StaticResources { listeners, clusters, ..Default::default() }),
        ..Default::default()
    }
}

#[test]
fn envoy_accepts_listeners_and_routes() {
    let Some(envoy) = strait_testkit::process::envoy() else { return };
    let mut reg = bookinfo();
    add_yaml(
        &mut reg,
        r#"apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - match: [{headers: {end-user: {exact: jason}}, uri: {regex: "/r/[a-z]+"}, withoutHeaders: {x-skip: {}}, queryParams: {q: {prefix: a}}}]
    fault: {delay: {fixedDelay: 1s, percentage: {value: 10}}, abort: {httpStatus: 503, percentage: {value: 5}}}
    corsPolicy: {allowOrigins: [{exact: "https://a.com"}], allowMethods: [GET], maxAge: 1h}
    mirror: {host: ratings}
    headers: {request: {set: {x-a: "1"}}, response: {remove: [server]}}
    route: [{destination: {host: reviews, subset: v2}, weight: 70, headers: {request: {add: {x-w: "2"}}}}, {destination: {host: reviews, subset: v1}, weight: 30}]
  - match: [{uri: {prefix: /old}}]
    redirect: {prefixRewrite: /new, derivePort: FROM_REQUEST_PORT, scheme: https}
  - match: [{uri: {exact: /down}}]
    directResponse: {status: 503, body: {string: down}}
  - rewrite: {uri: /v1, authority: reviews-internal}
    retries: {attempts: 3, perTryTimeout: 1s, retryOn: "5xx,503", retryRemoteLocalities: true}
    timeout: 5s
    route: [{destination: {host: reviews, subset: v1}}]
"#,
    );
    let dir = strait_testkit::process::tempdir("lds-validate");
    for captured in [false, true] {
        let mut p = proxy("127.0.0.10", "default");
        p.captured = captured;
        let file = dir.join(format!("bootstrap-{captured}.pb"));
        std::fs::write(&file, bootstrap(&reg, &p).encode_to_vec()).expect("write bootstrap");
        let result = strait_testkit::process::envoy_validate(&envoy, &file, &dir);
        assert!(result.is_ok(), "envoy rejected the config (captured={captured}):\n{}", result.unwrap_err());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// --- Protocol sniffing (undeclared ports) ---

use envoy_types::pb::envoy::config::listener::v3::{
    FilterChain, ListenerFilterChainMatchPredicate, listener_filter_chain_match_predicate::Rule,
};
use envoy_types::pb::google::protobuf::Duration as PbDuration;
use lds_rds_fixture::service;
use strait_registry::Protocol;
use strait_xds::listeners::sniffing::{DEFAULT_DETECTION_TIMEOUT, HTTP_INSPECTOR};

/// Bookinfo plus undeclared ports: `web` (VIP, port 8080 named `web`), `legacy` (no VIP, port
/// 7070 unnamed) and a second service of productpage's own workload (`admin`, port 9999).
fn sniffing_registry() -> Registry {
    let mut reg = bookinfo();
    let unknown = |n: u32, name: &'static str| [(n, name, Protocol::Unknown)];
    reg.services.push(service("web", "default", "10.96.0.30", "127.0.0.30", &unknown(8080, "web")));
    let mut legacy = service("legacy", "default", "", "127.0.0.31", &unknown(7070, ""));
    legacy.addresses.clear();
    reg.services.push(legacy);
    reg.services.push(service("admin", "default", "10.96.0.32", "127.0.0.10", &unknown(9999, "admin")));
    reg.services.sort_by(|a, b| a.hostname.cmp(&b.hostname));
    reg
}

fn typed_filter<M: Message + Default>(c: &FilterChain, name: &str) -> M {
    let f = c.filters.iter().find(|f| f.name == name).unwrap_or_else(|| panic!("no {name} in {:?}", c.name));
    unpack(typed(f))
}

fn alpns(c: &FilterChain) -> (Vec<String>, String, Option<u32>) {
    let m = c.filter_chain_match.clone().unwrap_or_default();
    (m.application_protocols, m.transport_protocol, m.destination_port.map(|p| p.value))
}

fn http_alpns() -> Vec<String> {
    vec!["http/1.1".to_string(), "h2c".to_string()]
}

fn tcp_cluster(c: &FilterChain) -> String {
    let t: TcpProxy = typed_filter(c, "envoy.filters.network.tcp_proxy");
    match t.cluster_specifier {
        Some(ClusterSpecifier::Cluster(c)) => c,
        other => panic!("one cluster: {other:?}"),
    }
}

fn rds_name(c: &FilterChain) -> String {
    let h: HttpConnectionManager = typed_filter(c, "envoy.filters.network.http_connection_manager");
    match h.route_specifier {
        Some(RouteSpecifier::Rds(r)) => r.route_config_name,
        Some(RouteSpecifier::RouteConfig(rc)) => format!("inline {}", rc.name),
        other => panic!("routes: {other:?}"),
    }
}

/// Asserts `l` is a sniffing listener: HTTP inspector with the given wait, an HTTP chain on the
/// inspector's verdict, and the TCP chain as default; returns (HTTP routes, TCP cluster).
fn assert_sniffing(l: &Listener, wait: PbDuration) -> (String, String) {
    let filters: Vec<_> = l.listener_filters.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(filters, [HTTP_INSPECTOR], "{}", l.name);
    assert_eq!((l.listener_filters_timeout, l.continue_on_listener_filters_timeout), (Some(wait), true), "{}", l.name);
    assert_eq!(l.filter_chains.len(), 1, "{}", l.name);
    assert_eq!(alpns(&l.filter_chains[0]), (http_alpns(), "raw_buffer".into(), None), "{}", l.name);
    let default = l.default_filter_chain.as_ref().unwrap_or_else(|| panic!("{}: default chain", l.name));
    assert!(default.filter_chain_match.is_none(), "{}", l.name);
    (rds_name(&l.filter_chains[0]), tcp_cluster(default))
}

fn five_seconds() -> PbDuration {
    PbDuration { seconds: 5, nanos: 0 }
}

#[test]
fn captured_outbound_sniffs_undeclared_ports() {
    let reg = sniffing_registry();
    let mut p = proxy("127.0.0.10", "default");
    p.captured = true;
    let ls = listeners::build(&Scope::new(&reg, &p));
    let names: Vec<_> = ls.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "virtualOutbound",
            "0.0.0.0_7070",
            "0.0.0.0_9080",
            "10.96.0.32_9999",
            "10.96.0.20_27017",
            "10.96.0.30_8080",
            "virtualInbound"
        ]
    );
    // A VIP: HTTP → the port's route config, anything else → the service, like a TCP port.
    let web = by_name(&ls, "10.96.0.30_8080");
    assert_eq!(web.bind_to_port.map(|b| b.value), Some(false));
    let got = assert_sniffing(web, five_seconds());
    assert_eq!(got, ("8080".into(), "outbound|8080||web.default.svc.cluster.local".into()));
    let h: HttpConnectionManager = typed_filter(&web.filter_chains[0], "envoy.filters.network.http_connection_manager");
    assert_eq!(h.stat_prefix, "outbound_10.96.0.30_8080");
    // No VIP: HTTP is routed, the rest passes through as if there were no listener.
    let legacy = by_name(&ls, "0.0.0.0_7070");
    assert_eq!(assert_sniffing(legacy, five_seconds()), ("7070".into(), "PassthroughCluster".into()));
    assert_eq!(legacy.default_filter_chain.as_ref().map(|c| c.name.as_str()), Some("PassthroughFilterChain"));
    // Declared ports are not inspected (server-first TCP must not wait).
    for name in ["0.0.0.0_9080", "10.96.0.20_27017", "virtualOutbound"] {
        let l = by_name(&ls, name);
        assert!(l.listener_filters.is_empty() && l.default_filter_chain.is_none(), "{name}");
    }
}

#[test]
fn registry_only_blackholes_undetected_traffic_without_a_vip() {
    let mut reg = sniffing_registry();
    reg.mesh.outbound_traffic_policy = Some(strait_model::mesh::OutboundTrafficPolicy {
        mode: Some(strait_model::mesh::OutboundMode::RegistryOnly),
        tls: None,
    });
    let mut p = proxy("127.0.0.10", "default");
    p.captured = true;
    let ls = listeners::build(&Scope::new(&reg, &p));
    assert_eq!(assert_sniffing(by_name(&ls, "0.0.0.0_7070"), five_seconds()).1, "BlackHoleCluster");
}

#[test]
fn virtual_inbound_sniffs_only_undeclared_ports() {
    let reg = sniffing_registry();
    let mut p = proxy("127.0.0.10", "default");
    p.captured = true;
    let ls = listeners::build(&Scope::new(&reg, &p));
    let vi = by_name(&ls, "virtualInbound");
    let chains: Vec<_> = vi.filter_chains.iter().map(|c| (c.name.as_str(), alpns(c))).collect();
    let by_port = |port| (vec![], String::new(), Some(port));
    assert_eq!(
        chains,
        [
            ("0.0.0.0_9080", by_port(9080)),
            ("0.0.0.0_9999", (http_alpns(), "raw_buffer".into(), Some(9999))),
            ("0.0.0.0_9999", (vec![], "raw_buffer".into(), Some(9999))),
            ("InboundPassthroughFilterChain", (vec![], String::new(), None)),
        ]
    );
    assert_eq!(rds_name(&vi.filter_chains[1]), "inline inbound|9999||");
    assert_eq!(tcp_cluster(&vi.filter_chains[2]), "inbound|9999||");
    let filters: Vec<_> = vi.listener_filters.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(filters, ["envoy.filters.listener.original_dst", HTTP_INSPECTOR]);
    // The inspector runs for 9999 only: disabled when the destination port is not in [9999, 10000).
    let disabled = vi.listener_filters[1].filter_disabled.clone().and_then(|p| p.rule);
    let Some(Rule::NotMatch(inner)) = disabled else { panic!("not-match predicate: {disabled:?}") };
    let ListenerFilterChainMatchPredicate { rule: Some(Rule::DestinationPortRange(r)) } = *inner else {
        panic!("port range")
    };
    assert_eq!((r.start, r.end), (9999, 10000));
    assert_eq!((vi.listener_filters_timeout, vi.continue_on_listener_filters_timeout), (Some(five_seconds()), true));

    // Without undeclared inbound ports, virtualInbound stays as it was.
    let plain = listeners::build(&Scope::new(&bookinfo(), &p));
    let vi = by_name(&plain, "virtualInbound");
    assert_eq!((vi.listener_filters.len(), vi.listener_filters_timeout), (1, None));
}

#[test]
fn capture_free_sniffs_both_directions() {
    let reg = sniffing_registry();
    let p = proxy("127.0.0.10", "default");
    let ls = listeners::build(&Scope::new(&reg, &p));
    let names: Vec<_> = ls.iter().map(|l| l.name.as_str()).collect();
    let want = ["127.0.0.10_7070", "127.0.0.10_8080", "127.0.0.10_9080", "127.0.0.10_9999", "127.0.0.10_15001"];
    assert_eq!(names, [&want[..], &["127.0.0.10_27017"]].concat());
    let wait = five_seconds();
    let web = assert_sniffing(by_name(&ls, "127.0.0.10_8080"), wait);
    assert_eq!(web, ("8080".into(), "outbound|8080||web.default.svc.cluster.local".into()));
    let legacy = assert_sniffing(by_name(&ls, "127.0.0.10_7070"), wait);
    assert_eq!(legacy, ("7070".into(), "outbound|7070||legacy.default.svc.cluster.local".into()));
    // Inbound: the workload's own undeclared port, HTTP to the inline inbound route.
    let admin = by_name(&ls, "127.0.0.10_9999");
    assert_eq!(admin.traffic_direction, envoy_types::pb::envoy::config::core::v3::TrafficDirection::Inbound as i32);
    assert_eq!(assert_sniffing(admin, wait), ("inline inbound|9999||".into(), "inbound|9999||".into()));
    for name in ["127.0.0.10_9080", "127.0.0.10_15001", "127.0.0.10_27017"] {
        assert!(by_name(&ls, name).listener_filters.is_empty(), "{name} is declared: no inspector");
    }
}

#[test]
fn sniffed_ports_get_route_configs_and_tunnel_or_route_on_the_http_proxy() {
    let reg = sniffing_registry();
    let p = proxy("127.0.0.10", "default");
    let rcs = routes::build(&Scope::new(&reg, &p));
    let names: Vec<_> = rcs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["7070", "8080", "9080", "9999", "http_proxy"]);
    let vhosts = |name: &str| -> Vec<String> {
        let rc = rcs.iter().find(|r| r.name == name).expect("route config");
        rc.virtual_hosts.iter().map(|v| v.name.clone()).collect()
    };
    assert_eq!(vhosts("8080"), ["web.default.svc.cluster.local:8080", "allow_any"]);
    assert_eq!(vhosts("7070"), ["legacy.default.svc.cluster.local:7070", "allow_any"]);
    let proxy_rc = rcs.iter().find(|r| r.name == "http_proxy").expect("http_proxy");
    let web = proxy_rc.virtual_hosts.iter().find(|v| v.name == "web.default.svc.cluster.local:8080").expect("web");
    let kinds: Vec<_> = web.routes.iter().map(|r| r.name.as_str()).collect();
    // The explicit proxy tells the two apart as sniffing would: CONNECT tunnels, HTTP routes.
    assert_eq!(kinds, ["connect", "default"], "undeclared ports tunnel CONNECT and route plain HTTP");
}

#[test]
fn detection_timeout_follows_the_mesh_and_is_never_unbounded() {
    use strait_model::types::Duration;
    use strait_xds::listeners::sniffing::detection_timeout;
    let p = proxy("127.0.0.10", "default");
    let cases = [
        (None, DEFAULT_DETECTION_TIMEOUT),
        (Some(std::time::Duration::ZERO), DEFAULT_DETECTION_TIMEOUT),
        (Some(std::time::Duration::from_millis(250)), std::time::Duration::from_millis(250)),
        (Some(std::time::Duration::from_secs(30)), std::time::Duration::from_secs(30)),
    ];
    for (configured, want) in cases {
        let mut reg = sniffing_registry();
        reg.mesh.protocol_detection_timeout = configured.map(Duration);
        assert_eq!(detection_timeout(&Scope::new(&reg, &p)), want, "{configured:?}");
        let ls = listeners::build(&Scope::new(&reg, &p));
        let got = by_name(&ls, "127.0.0.10_8080").listener_filters_timeout;
        let want_pb = PbDuration { seconds: want.as_secs() as i64, nanos: want.subsec_nanos() as i32 };
        assert_eq!(got, Some(want_pb), "{configured:?}");
    }
    assert_eq!(DEFAULT_DETECTION_TIMEOUT, std::time::Duration::from_secs(5));
}

#[test]
fn envoy_accepts_sniffing_listeners() {
    let Some(envoy) = strait_testkit::process::envoy() else { return };
    let mut reg = sniffing_registry();
    // Two undeclared inbound ports: the inspector's predicate becomes an OR of port ranges.
    reg.services.push(service("admin2", "default", "10.96.0.33", "127.0.0.10", &[(9998, "x", Protocol::Unknown)]));
    let dir = strait_testkit::process::tempdir("lds-sniff-validate");
    for captured in [false, true] {
        let mut p = proxy("127.0.0.10", "default");
        p.captured = captured;
        let file = dir.join(format!("bootstrap-{captured}.pb"));
        std::fs::write(&file, bootstrap(&reg, &p).encode_to_vec()).expect("write bootstrap");
        let result = strait_testkit::process::envoy_validate(&envoy, &file, &dir);
        assert!(result.is_ok(), "envoy rejected the config (captured={captured}):\n{}", result.unwrap_err());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
