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
