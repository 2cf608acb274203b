//! Fixtures for the CDS/EDS tests: registries built from plain structs, DestinationRules from
//! YAML, decoding of packed options, and running `envoy --mode validate` on a bootstrap.

use envoy_types::pb::envoy::config::bootstrap::v3::{Bootstrap, bootstrap};
use envoy_types::pb::envoy::config::cluster::v3::{
    Cluster,
    cluster::{ClusterDiscoveryType, DiscoveryType},
};
use envoy_types::pb::envoy::config::core::v3::{
    Address, ApiConfigSource, ApiVersion, GrpcService, Node, address,
    api_config_source::ApiType,
    grpc_service::{EnvoyGrpc, TargetSpecifier},
    socket_address::PortSpecifier,
    transport_socket::ConfigType,
};
use envoy_types::pb::envoy::config::endpoint::v3::{ClusterLoadAssignment, lb_endpoint::HostIdentifier};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::UpstreamTlsContext;
use envoy_types::pb::envoy::extensions::upstreams::http::v3::HttpProtocolOptions;
use envoy_types::pb::google::protobuf::{Struct, value::Kind};
use prost::Message;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use strait_model::Resource;
use strait_model::mesh::MeshConfig;
use strait_registry::store::ConfigStore;
use strait_registry::{
    Endpoint, NodeId, NodeType, Origin, Protocol, Proxy, Registry, Resolution, Service, ServicePort, Visibility,
};
use strait_xds::clusters::HTTP_PROTOCOL_OPTIONS;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A ready endpoint with a port map and labels.
pub fn endpoint(address: &str, ports: &[(u32, u32)], l: &[(&str, &str)]) -> Endpoint {
    Endpoint {
        address: address.into(),
        ports: ports.iter().copied().collect(),
        labels: labels(l),
        service_account: "default".into(),
        namespace: "default".into(),
        workload: String::new(),
        istio_tls: false,
        ready: true,
        weight: 1,
        locality: String::new(),
    }
}

/// A public Kubernetes service with static resolution.
pub fn service(host: &str, ns: &str, ports: &[(u32, &str, Protocol)], endpoints: Vec<Endpoint>) -> Service {
    Service {
        hostname: host.into(),
        namespace: ns.into(),
        origin: Origin::Kubernetes,
        resolution: Resolution::Static,
        addresses: vec!["10.96.0.10".into()],
        ports: ports
            .iter()
            .map(|(n, name, p)| ServicePort { number: *n, name: name.to_string(), protocol: *p })
            .collect(),
        endpoints,
        visibility: Visibility::Public,
        labels: BTreeMap::new(),
    }
}

/// A sidecar proxy.
pub fn sidecar(ip: &str, pod: &str, ns: &str, l: &[(&str, &str)]) -> Proxy {
    Proxy {
        id: NodeId {
            node_type: NodeType::Sidecar,
            ip: ip.into(),
            pod: pod.into(),
            namespace: ns.into(),
            domain: format!("{ns}.svc.cluster.local"),
        },
        labels: labels(l),
        service_account: "default".into(),
        workload_name: pod.into(),
        outbound_port: 15001,
        captured: false,
        app_address: "127.0.0.1".into(),
        reason_header: false,
    }
}

/// Bookinfo: productpage (10.0.0.1), details, ratings, reviews v1..v3 (v3 not ready, zone-b).
pub fn bookinfo() -> Vec<Service> {
    let http = [(9080, "http", Protocol::Http)];
    let ep = |ip: &str, app: &str, version: &str| {
        let mut e = endpoint(ip, &[(9080, 9080)], &[("app", app), ("version", version)]);
        e.workload = format!("{app}-{version}");
        e.istio_tls = true;
        e
    };
    let mut v3 = ep("10.1.0.3", "reviews", "v3");
    v3.ready = false;
    v3.locality = "region-a/zone-b".into();
    let host = |n: &str| format!("{n}.default.svc.cluster.local");
    vec![
        service(&host("details"), "default", &http, vec![ep("10.2.0.1", "details", "v1")]),
        service(&host("productpage"), "default", &http, vec![ep("10.0.0.1", "productpage", "v1")]),
        service(&host("ratings"), "default", &http, vec![ep("10.3.0.1", "ratings", "v1")]),
        service(
            &host("reviews"),
            "default",
            &http,
            vec![ep("10.1.0.1", "reviews", "v1"), ep("10.1.0.2", "reviews", "v2"), v3],
        ),
    ]
}

/// A gRPC service (HTTP/2 upstream).
pub fn grpc_service() -> Service {
    let ports = [(50051, "grpc", Protocol::Grpc), (7070, "tcp", Protocol::Tcp), (8080, "web", Protocol::Unknown)];
    service(
        "grpc.default.svc.cluster.local",
        "default",
        &ports,
        vec![endpoint("10.4.0.1", &[(50051, 50051), (7070, 7070), (8080, 8080)], &[])],
    )
}

/// A registry with Istio's mesh defaults and the DestinationRules of `yaml`.
pub fn registry(services: Vec<Service>, yaml: &str) -> Registry {
    let mut report = strait_config::LoadReport::default();
    strait_config::load_text("test.yaml", yaml, &strait_config::LoadOptions::default(), &mut report);
    assert_eq!(report.errors(), 0, "{:?}", report.findings);
    let destination_rules = report
        .resources
        .into_iter()
        .filter_map(|l| match l.resource {
            Resource::DestinationRule(dr) => Some(dr),
            _ => None,
        })
        .collect();
    Registry {
        services,
        config: ConfigStore { destination_rules, ..Default::default() },
        mesh: MeshConfig::defaults(),
        domain: "cluster.local".into(),
        ..Default::default()
    }
}

/// A DestinationRule named like its host; `spec` continues the spec at two spaces.
pub fn dr_yaml(host: &str, ns: &str, spec: &str) -> String {
    dr_yaml_named(host, ns, host, spec)
}

/// A DestinationRule document.
pub fn dr_yaml_named(name: &str, ns: &str, host: &str, spec: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  host: '{host}'\n  {spec}\n"
    )
}

/// The cluster named `name`.
pub fn find<'c>(clusters: &'c [Cluster], name: &str) -> &'c Cluster {
    clusters.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no cluster {name}"))
}

/// `ip:port` of an address.
pub fn addr(a: Option<&Address>) -> String {
    match a.and_then(|a| a.address.as_ref()) {
        Some(address::Address::SocketAddress(s)) => match s.port_specifier {
            Some(PortSpecifier::PortValue(p)) => format!("{}:{p}", s.address),
            _ => s.address.clone(),
        },
        other => format!("{other:?}"),
    }
}

/// Addresses of a cluster's inline load assignment.
pub fn endpoint_addrs_inline(c: &Cluster) -> Vec<String> {
    c.load_assignment
        .iter()
        .flat_map(|la| &la.endpoints)
        .flat_map(|l| &l.lb_endpoints)
        .map(|e| match &e.host_identifier {
            Some(HostIdentifier::Endpoint(ep)) => addr(ep.address.as_ref()),
            _ => String::new(),
        })
        .collect()
}

/// A string field of a metadata struct.
pub fn str_field(s: &Struct, key: &str) -> String {
    match s.fields.get(key).and_then(|v| v.kind.as_ref()) {
        Some(Kind::StringValue(v)) => v.clone(),
        other => format!("{other:?}"),
    }
}

/// The decoded upstream HTTP options, as Debug text ("" when absent).
pub fn http_options(c: &Cluster) -> String {
    c.typed_extension_protocol_options
        .get(HTTP_PROTOCOL_OPTIONS)
        .map(|any| format!("{:?}", HttpProtocolOptions::decode(any.value.as_slice()).expect("decodes")))
        .unwrap_or_default()
}

/// The decoded TLS context of the transport socket.
pub fn tls_context(c: &Cluster) -> UpstreamTlsContext {
    let ts = c.transport_socket.as_ref().expect("transport socket");
    assert_eq!(ts.name, "envoy.transport_sockets.tls");
    match &ts.config_type {
        Some(ConfigType::TypedConfig(any)) => UpstreamTlsContext::decode(any.value.as_slice()).expect("decodes"),
        None => panic!("no typed config"),
    }
}

/// Runs `envoy --mode validate` on `config` and fails with Envoy's output unless it accepts it.
pub fn run_envoy_validate(envoy: &str, config: &Path) {
    let dir = config.parent().unwrap_or(Path::new("."));
    if let Err(out) = strait_testkit::process::envoy_validate(envoy, config, dir) {
        panic!("envoy rejected {}:\n{out}", config.display());
    }
}

/// A self-signed CA and a client certificate/key pair (openssl), as paths (ca, cert, key).
pub fn test_certs(dir: &Path) -> (String, String, String) {
    let key = dir.join("key.pem");
    let cert = dir.join("cert.pem");
    let status = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=strait-test", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(status.status.success(), "openssl: {}", String::from_utf8_lossy(&status.stderr));
    let s = |p: PathBuf| p.to_string_lossy().into_owned();
    (s(cert.clone()), s(cert), s(key))
}

/// A binary bootstrap: ADS over a static `xds-grpc` cluster (so EDS clusters are valid), the
/// clusters, and each assignment as a STATIC cluster so Envoy checks the endpoints too.
pub fn bootstrap(mut clusters: Vec<Cluster>, eds: Vec<ClusterLoadAssignment>) -> Vec<u8> {
    let mut xds = Cluster {
        name: "xds-grpc".into(),
        cluster_discovery_type: Some(ClusterDiscoveryType::Type(DiscoveryType::Static as i32)),
        load_assignment: Some(ClusterLoadAssignment { cluster_name: "xds-grpc".into(), ..Default::default() }),
        ..Default::default()
    };
    xds.typed_extension_protocol_options.insert(
        HTTP_PROTOCOL_OPTIONS.into(),
        strait_xds::any::pack(&HttpProtocolOptions {
            upstream_protocol_options: Some(
                envoy_types::pb::envoy::extensions::upstreams::http::v3::http_protocol_options::UpstreamProtocolOptions::ExplicitHttpConfig(
                    envoy_types::pb::envoy::extensions::upstreams::http::v3::http_protocol_options::ExplicitHttpConfig {
                        protocol_config: Some(envoy_types::pb::envoy::extensions::upstreams::http::v3::http_protocol_options::explicit_http_config::ProtocolConfig::Http2ProtocolOptions(Default::default())),
                    },
                ),
            ),
            ..Default::default()
        }),
    );
    for (i, cla) in eds.into_iter().enumerate() {
        clusters.push(Cluster {
            name: format!("eds-check-{i}"),
            cluster_discovery_type: Some(ClusterDiscoveryType::Type(DiscoveryType::Static as i32)),
            load_assignment: Some(ClusterLoadAssignment { cluster_name: format!("eds-check-{i}"), ..cla }),
            ..Default::default()
        });
    }
    clusters.push(xds);
    let ads = ApiConfigSource {
        api_type: ApiType::Grpc as i32,
        transport_api_version: ApiVersion::V3 as i32,
        grpc_services: vec![GrpcService {
            target_specifier: Some(TargetSpecifier::EnvoyGrpc(EnvoyGrpc {
                cluster_name: "xds-grpc".into(),
                ..Default::default()
            })),
            ..Default::default()
        }],
        ..Default::default()
    };
    Bootstrap {
        node: Some(Node {
            id: "sidecar~10.0.0.1~p.default~default.svc.cluster.local".into(),
            cluster: "test".into(),
            ..Default::default()
        }),
        static_resources: Some(bootstrap::StaticResources { clusters, ..Default::default() }),
        dynamic_resources: Some(bootstrap::DynamicResources { ads_config: Some(ads), ..Default::default() }),
        ..Default::default()
    }
    .encode_to_vec()
}
