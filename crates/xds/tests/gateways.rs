//! Gateway (router) LDS/RDS tests: which Gateways select a router, the listener per server port
//! (bound on the proxy IP when capture-free, `0.0.0.0` when captured), HTTP servers with
//! `http.PORT` route configs built from bound VirtualServices (host intersection, match-level
//! gateways, `httpsRedirect`), HTTPS termination (SNI, certificates, mutual TLS), TLS
//! passthrough and TCP servers, Istio's Bookinfo gateway from the corpus, and a real
//! `envoy --mode validate` of everything with certificates made by `openssl`.

mod lds_rds_fixture;

use envoy_types::pb::envoy::config::bootstrap::v3::{Bootstrap, bootstrap::StaticResources};
use envoy_types::pb::envoy::config::listener::v3::{Filter, Listener, filter};
use envoy_types::pb::envoy::config::route::v3::{RouteConfiguration, route, route_action::ClusterSpecifier};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, http_connection_manager::RouteSpecifier,
};
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{TcpProxy, tcp_proxy};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    DownstreamTlsContext, common_tls_context::ValidationContextType,
};
use lds_rds_fixture::{bookinfo, proxy, unpack};
use prost::Message;
use std::collections::BTreeMap;
use strait_config::{LoadOptions, LoadReport, load_text};
use strait_model::Resource;
use strait_model::validation::Severity;
use strait_registry::{NodeType, Proxy, Registry};
use strait_xds::routes::gateway::intersection;
use strait_xds::scope::Scope;
use strait_xds::{clusters, listeners, routes};

/// An ingress gateway router at `ip` in istio-system, labelled `istio=ingressgateway`.
fn router(ip: &str, captured: bool) -> Proxy {
    let mut p = proxy(ip, "istio-system");
    p.id.node_type = NodeType::Router;
    p.id.pod = "istio-ingressgateway-1".into();
    p.labels = BTreeMap::from([("istio".to_string(), "ingressgateway".to_string())]);
    p.captured = captured;
    p
}

/// Loads YAML and adds its Gateways and VirtualServices to the registry.
fn add(reg: &mut Registry, text: &str) {
    let mut report = LoadReport::default();
    load_text("test.yaml", text, &LoadOptions::default(), &mut report);
    let errors: Vec<_> =
        report.findings.iter().filter(|f| f.severity == Severity::Error).map(|f| f.to_string()).collect();
    assert!(errors.is_empty(), "invalid test config: {errors:?}");
    for l in report.resources {
        match l.resource {
            Resource::VirtualService(vs) => reg.config.virtual_services.push(vs),
            Resource::Gateway(g) => reg.config.gateways.push(g),
            _ => {}
        }
    }
}

fn generate(reg: &Registry, p: &Proxy) -> (Vec<Listener>, Vec<RouteConfiguration>) {
    let scope = Scope::new(reg, p);
    (listeners::build(&scope), routes::build(&scope))
}

fn typed(f: &Filter) -> &envoy_types::pb::google::protobuf::Any {
    match &f.config_type {
        Some(filter::ConfigType::TypedConfig(a)) => a,
        _ => panic!("untyped filter {}", f.name),
    }
}

fn rds_name(f: &Filter) -> String {
    let h: HttpConnectionManager = unpack(typed(f));
    match h.route_specifier {
        Some(RouteSpecifier::Rds(r)) => r.route_config_name,
        other => panic!("not RDS: {other:?}"),
    }
}

fn tcp_cluster(f: &Filter) -> String {
    let t: TcpProxy = unpack(typed(f));
    match t.cluster_specifier {
        Some(tcp_proxy::ClusterSpecifier::Cluster(c)) => c,
        other => panic!("not one cluster: {other:?}"),
    }
}

/// (vhost name, domains, [(match, cluster)]): one virtual host, for compact assertions.
type VhostSummary = (String, Vec<String>, Vec<(String, String)>);

/// The [`VhostSummary`] of every virtual host of a route config.
fn summary(rc: &RouteConfiguration) -> Vec<VhostSummary> {
    rc.virtual_hosts
        .iter()
        .map(|vh| {
            let routes = vh
                .routes
                .iter()
                .map(|r| {
                    let m = format!("{:?}", r.r#match.as_ref().and_then(|m| m.path_specifier.clone()));
                    let c = match &r.action {
                        Some(route::Action::Route(a)) => match &a.cluster_specifier {
                            Some(ClusterSpecifier::Cluster(c)) => c.clone(),
                            _ => "weighted".into(),
                        },
                        _ => "other".into(),
                    };
                    (m, c)
                })
                .collect();
            (vh.name.clone(), vh.domains.clone(), routes)
        })
        .collect()
}

const PRODUCTPAGE: &str = "outbound|9080||productpage.default.svc.cluster.local";

const HTTP_GATEWAY: &str = r#"apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8080, name: http, protocol: HTTP}
    hosts: ["default/bookinfo.example.com", "other/ignored.example.com", "*.shop.example.com"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bookinfo, namespace: default}
spec:
  hosts: ["*.example.com"]
  gateways: [gw]
  http:
  - match: [{uri: {exact: /productpage}}, {uri: {prefix: /only-mesh}, gateways: [mesh]}]
    route: [{destination: {host: productpage, port: {number: 9080}}}]
  - match: [{uri: {prefix: /reviews}, gateways: [default/gw]}]
    route: [{destination: {host: reviews}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: unbound, namespace: default}
spec:
  hosts: [bookinfo.example.com]
  http: [{route: [{destination: {host: ratings}}]}]
"#;

#[test]
fn http_server_listener_and_routes() {
    let mut reg = bookinfo();
    add(&mut reg, HTTP_GATEWAY);
    let (ls, rcs) = generate(&reg, &router("127.0.0.40", false));
    let names: Vec<_> = ls.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["127.0.0.40_8080"]);
    assert_eq!(rds_name(&ls[0].filter_chains[0].filters[0]), "http.8080");
    let h: HttpConnectionManager = unpack(typed(&ls[0].filter_chains[0].filters[0]));
    assert_eq!(h.use_remote_address.map(|b| b.value), Some(true));

    assert_eq!(rcs.len(), 1);
    assert_eq!(rcs[0].name, "http.8080");
    assert!(rcs[0].ignore_port_in_host_matching);
    // The VS wildcard meets the server's hosts: the narrower names win; `other/` is dropped.
    let reviews = "outbound|9080||reviews.default.svc.cluster.local";
    let routes = vec![
        ("Some(Path(\"/productpage\"))".to_string(), PRODUCTPAGE.to_string()),
        ("Some(Prefix(\"/reviews\"))".to_string(), reviews.to_string()),
    ];
    assert_eq!(
        summary(&rcs[0]),
        [
            ("*.shop.example.com:8080".to_string(), vec!["*.shop.example.com".to_string()], routes.clone()),
            ("bookinfo.example.com:8080".to_string(), vec!["bookinfo.example.com".to_string()], routes),
        ]
    );

    // Captured: every address; a router never gets sidecar listeners or clusters.
    let (ls, _) = generate(&reg, &router("127.0.0.40", true));
    assert_eq!(ls.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["0.0.0.0_8080"]);
    let p = router("127.0.0.40", false);
    let cs: Vec<_> = clusters::build(&Scope::new(&reg, &p)).into_iter().map(|c| c.name).collect();
    assert!(cs.contains(&PRODUCTPAGE.to_string()), "{cs:?}");
    assert!(!cs.iter().any(|c| c == "InboundPassthroughCluster"), "{cs:?}");
}

#[test]
fn selection_binding_and_blackhole() {
    let mut reg = bookinfo();
    add(&mut reg, HTTP_GATEWAY.replace("istio: ingressgateway", "istio: egressgateway").as_str());
    assert!(generate(&reg, &router("127.0.0.40", false)).0.is_empty(), "selector must match the proxy's labels");

    // A gateway whose VirtualService hosts never meet the server's: Istio's 404 `blackhole`.
    let mut reg = bookinfo();
    add(
        &mut reg,
        r#"apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: apps}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: [a.example.com]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: b, namespace: default}
spec:
  hosts: [b.example.com]
  gateways: [apps/gw]
  http: [{route: [{destination: {host: productpage}}]}]
"#,
    );
    let (ls, rcs) = generate(&reg, &router("127.0.0.40", false));
    assert_eq!(ls[0].name, "127.0.0.40_80");
    assert_eq!(summary(&rcs[0]), [("blackhole:80".to_string(), vec!["*".to_string()], vec![])]);
}

#[test]
fn host_intersection_table() {
    let s = |v: &[&str]| v.iter().map(|h| h.to_string()).collect::<Vec<_>>();
    let cases: [(&[&str], &[&str], &[&str]); 6] = [
        (&["*"], &["*"], &["*"]),
        (&["*"], &["a.com", "b.com"], &["a.com", "b.com"]),
        (&["*.example.com"], &["a.example.com", "x.org"], &["a.example.com"]),
        (&["a.example.com"], &["*.example.com"], &["a.example.com"]),
        (&["*.a.example.com"], &["*.example.com"], &["*.a.example.com"]),
        (&["a.com"], &["b.com"], &[]),
    ];
    for (server, vs, want) in cases {
        assert_eq!(intersection(&s(server), &s(vs)), s(want), "{server:?} ∩ {vs:?}");
    }
}

fn tls_yaml(dir: &str) -> String {
    format!(
        r#"apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: secure, namespace: istio-system}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 8443, name: https, protocol: HTTPS}}
    hosts: [bookinfo.example.com]
    tls: {{mode: SIMPLE, serverCertificate: {dir}/cert.pem, privateKey: {dir}/key.pem}}
  - port: {{number: 8443, name: https-mtls, protocol: HTTPS}}
    hosts: [mtls.example.com]
    tls: {{mode: MUTUAL, serverCertificate: {dir}/cert.pem, privateKey: {dir}/key.pem, caCertificates: {dir}/cert.pem}}
  - port: {{number: 8080, name: http, protocol: HTTP}}
    hosts: [bookinfo.example.com]
    tls: {{httpsRedirect: true}}
  - port: {{number: 9443, name: tls, protocol: TLS}}
    hosts: [db.example.com]
    tls: {{mode: PASSTHROUGH}}
  - port: {{number: 27017, name: mongo, protocol: MONGO}}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: bookinfo, namespace: default}}
spec:
  hosts: [bookinfo.example.com, mtls.example.com]
  gateways: [istio-system/secure]
  http: [{{route: [{{destination: {{host: productpage, port: {{number: 9080}}}}}}]}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: db, namespace: default}}
spec:
  hosts: [db.example.com]
  gateways: [istio-system/secure]
  tls: [{{match: [{{sniHosts: [db.example.com], port: 9443}}], route: [{{destination: {{host: mongodb, port: {{number: 27017}}}}}}]}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: mongo, namespace: default}}
spec:
  hosts: [mongo.example.com]
  gateways: [istio-system/secure]
  tcp: [{{match: [{{port: 27017}}], route: [{{destination: {{host: mongodb}}}}]}}]
"#
    )
}

#[test]
fn https_passthrough_and_tcp_servers() {
    let mut reg = bookinfo();
    add(&mut reg, &tls_yaml("/certs"));
    let (ls, rcs) = generate(&reg, &router("127.0.0.40", false));
    let names: Vec<_> = ls.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["127.0.0.40_8080", "127.0.0.40_8443", "127.0.0.40_9443", "127.0.0.40_27017"]);

    // HTTPS: one chain per server, by SNI, with its own route config and TLS context.
    let https = &ls[1];
    assert_eq!(https.listener_filters[0].name, "envoy.filters.listener.tls_inspector");
    let sni: Vec<_> =
        https.filter_chains.iter().map(|c| c.filter_chain_match.clone().unwrap_or_default().server_names).collect();
    assert_eq!(sni, [vec!["bookinfo.example.com".to_string()], vec!["mtls.example.com".to_string()]]);
    let rds: Vec<_> = https.filter_chains.iter().map(|c| rds_name(&c.filters[0])).collect();
    assert_eq!(rds, ["https.8443.https.secure.istio-system", "https.8443.https-mtls.secure.istio-system"]);
    let tls = |i: usize| -> DownstreamTlsContext {
        let ts = https.filter_chains[i].transport_socket.as_ref().expect("tls socket");
        assert_eq!(ts.name, "envoy.transport_sockets.tls");
        match &ts.config_type {
            Some(envoy_types::pb::envoy::config::core::v3::transport_socket::ConfigType::TypedConfig(a)) => unpack(a),
            None => panic!("untyped"),
        }
    };
    let simple = tls(0);
    let common = simple.common_tls_context.clone().expect("common");
    assert!(format!("{:?}", common.tls_certificates).contains("/certs/cert.pem"));
    assert_eq!(common.alpn_protocols, ["h2", "http/1.1"]);
    assert_eq!(
        (simple.require_client_certificate.map(|b| b.value), common.validation_context_type),
        (Some(false), None)
    );
    let mutual = tls(1);
    assert_eq!(mutual.require_client_certificate.map(|b| b.value), Some(true));
    let Some(ValidationContextType::ValidationContext(v)) =
        mutual.common_tls_context.and_then(|c| c.validation_context_type)
    else {
        panic!("mutual needs a CA")
    };
    assert!(format!("{:?}", v.trusted_ca).contains("/certs/cert.pem"));

    // Route configs: the redirect server's host requires TLS; HTTPS ones route to productpage.
    let names: Vec<_> = rcs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        ["http.8080", "https.8443.https-mtls.secure.istio-system", "https.8443.https.secure.istio-system"]
    );
    assert_eq!(rcs[0].virtual_hosts[0].require_tls, 2, "ALL");
    assert_eq!(summary(&rcs[2])[0].2[0].1, PRODUCTPAGE);

    // Passthrough by SNI, TCP from the tcp route.
    let pt = &ls[2];
    assert_eq!(pt.filter_chains[0].filter_chain_match.clone().unwrap_or_default().server_names, ["db.example.com"]);
    assert!(pt.filter_chains[0].transport_socket.is_none());
    assert_eq!(tcp_cluster(&pt.filter_chains[0].filters[0]), "outbound|27017||mongodb.default.svc.cluster.local");
    assert_eq!(tcp_cluster(&ls[3].filter_chains[0].filters[0]), "outbound|27017||mongodb.default.svc.cluster.local");
}

#[test]
fn istio_bookinfo_gateway_from_corpus() {
    let Some(corpus) = strait_testkit::istio_corpus() else { return };
    let text = std::fs::read_to_string(corpus.join("samples/bookinfo/networking/bookinfo-gateway.yaml")).expect("read");
    let mut reg = bookinfo();
    add(&mut reg, &text);
    let (ls, rcs) = generate(&reg, &router("127.0.0.40", false));
    assert_eq!(ls.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["127.0.0.40_8080"]);
    let s = summary(&rcs[0]);
    assert_eq!(
        (rcs[0].name.as_str(), s[0].0.as_str(), s[0].1.as_slice()),
        ("http.8080", "*:8080", &["*".to_string()][..])
    );
    assert_eq!(s[0].2.len(), 5);
    assert!(s[0].2.iter().all(|(_, c)| c == PRODUCTPAGE), "{s:?}");
}

/// Replaces RDS references with the named route configs, inline.
fn inline_routes(mut l: Listener, rcs: &[RouteConfiguration]) -> Listener {
    for chain in &mut l.filter_chains {
        for f in chain.filters.iter_mut().filter(|f| f.name == "envoy.filters.network.http_connection_manager") {
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

#[test]
fn envoy_accepts_gateway_listeners_and_routes() {
    let Some(envoy) = strait_testkit::process::envoy() else { return };
    let dir = strait_testkit::process::tempdir("gw-validate");
    let ok = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=bookinfo.example.com"])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok, "openssl must make a test certificate");
    let mut reg = bookinfo();
    add(&mut reg, &tls_yaml(&dir.display().to_string()));
    add(&mut reg, HTTP_GATEWAY.replace("8080", "8081").as_str());
    for captured in [false, true] {
        let p = router("127.0.0.40", captured);
        let (ls, rcs) = generate(&reg, &p);
        let bootstrap = Bootstrap {
            static_resources: Some(StaticResources {
                listeners: ls.into_iter().map(|l| inline_routes(l, &rcs)).collect(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let file = dir.join(format!("bootstrap-{captured}.pb"));
        std::fs::write(&file, bootstrap.encode_to_vec()).expect("write bootstrap");
        let result = strait_testkit::process::envoy_validate(&envoy, &file, &dir);
        assert!(result.is_ok(), "envoy rejected the gateway config (captured={captured}):\n{}", result.unwrap_err());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
