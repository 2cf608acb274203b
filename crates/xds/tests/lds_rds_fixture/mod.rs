//! Shared fixtures for the LDS/RDS tests: a Bookinfo-shaped registry built by hand (services,
//! VIPs, endpoints), a capture-free proxy for productpage, VirtualServices from YAML text, and
//! helpers to unpack typed configs.

#![allow(dead_code)]

use envoy_types::pb::google::protobuf::Any;
use std::collections::BTreeMap;
use strait_config::{LoadOptions, LoadReport, load_text};
use strait_model::Resource;
use strait_registry::{
    Endpoint, NodeId, NodeType, Origin, Protocol, Proxy, Registry, Resolution, Service, ServicePort, Visibility,
};

/// A Kubernetes service `name.ns.svc.cluster.local` with one VIP and one endpoint.
pub fn service(name: &str, ns: &str, vip: &str, ep_ip: &str, ports: &[(u32, &str, Protocol)]) -> Service {
    Service {
        hostname: format!("{name}.{ns}.svc.cluster.local"),
        namespace: ns.into(),
        origin: Origin::Kubernetes,
        resolution: Resolution::Static,
        addresses: vec![vip.into()],
        ports: ports.iter().map(|(n, pn, p)| ServicePort { number: *n, name: (*pn).into(), protocol: *p }).collect(),
        endpoints: vec![Endpoint {
            address: ep_ip.into(),
            ports: ports.iter().map(|(n, _, _)| (*n, *n)).collect(),
            labels: BTreeMap::from([("app".to_string(), name.to_string())]),
            service_account: format!("bookinfo-{name}"),
            namespace: ns.into(),
            workload: format!("{name}-v1-abc"),
            istio_tls: true,
            ready: true,
            weight: 1,
            locality: String::new(),
        }],
        visibility: Visibility::Public,
        labels: BTreeMap::new(),
    }
}

/// Bookinfo (all HTTP on 9080) plus a TCP `mongodb` (27017), sorted by hostname.
pub fn bookinfo() -> Registry {
    let http = |name: &str, vip: &str, ip: &str| service(name, "default", vip, ip, &[(9080, "http", Protocol::Http)]);
    let mut services = vec![
        http("details", "10.96.0.11", "127.0.0.11"),
        http("productpage", "10.96.0.10", "127.0.0.10"),
        http("ratings", "10.96.0.12", "127.0.0.12"),
        http("reviews", "10.96.0.13", "127.0.0.13"),
        service("mongodb", "default", "10.96.0.20", "127.0.0.20", &[(27017, "tcp-mongo", Protocol::Tcp)]),
    ];
    services.sort_by(|a, b| a.hostname.cmp(&b.hostname));
    Registry { services, domain: "cluster.local".into(), ..Default::default() }
}

/// A capture-free sidecar at `ip` in `ns`.
pub fn proxy(ip: &str, ns: &str) -> Proxy {
    Proxy {
        id: NodeId {
            node_type: NodeType::Sidecar,
            ip: ip.into(),
            pod: "productpage-v1-abc".into(),
            namespace: ns.into(),
            domain: format!("{ns}.svc.cluster.local"),
        },
        labels: BTreeMap::from([("app".to_string(), "productpage".to_string())]),
        service_account: "bookinfo-productpage".into(),
        workload_name: "productpage-v1".into(),
        outbound_port: 15001,
        captured: false,
        app_address: "127.0.0.1".into(),
        reason_header: false,
    }
}

/// Loads YAML text and puts its VirtualServices into the registry's config.
pub fn add_yaml(reg: &mut Registry, text: &str) {
    let mut report = LoadReport::default();
    load_text("test.yaml", text, &LoadOptions::default(), &mut report);
    let errors: Vec<_> = report.findings.iter().map(|f| f.to_string()).collect();
    assert!(report.resources.iter().len() > 0, "nothing loaded: {errors:?}");
    for l in report.resources {
        if let Resource::VirtualService(vs) = l.resource {
            reg.config.virtual_services.push(vs);
        }
    }
}

/// Unpacks a typed config.
pub fn unpack<M: prost::Message + Default>(any: &Any) -> M {
    M::decode(any.value.as_slice()).expect("decodes")
}
