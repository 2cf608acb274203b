//! EDS: one `ClusterLoadAssignment` per EDS cluster (named like the cluster), as istiod's
//! endpoint builder makes them: the service's endpoints selected by the subset's labels, with
//! the endpoint port for that service port, HEALTHY or UNHEALTHY by readiness, their weight,
//! grouped by locality, and the metadata Istio attaches (`istio.workload` for telemetry,
//! `envoy.transport_socket_match.tlsMode` for auto-mTLS). DNS clusters carry the same
//! endpoints inline ([`locality_endpoints`]).

pub mod meta;

use crate::clusters::plan::{self, Discovery};
use crate::scope::Scope;
use envoy_types::pb::envoy::config::core::v3::{
    Address, HealthStatus, Locality, Metadata, Pipe, SocketAddress, address, socket_address::PortSpecifier,
};
use envoy_types::pb::envoy::config::endpoint::v3::{
    ClusterLoadAssignment, Endpoint as EnvoyEndpoint, LbEndpoint, LocalityLbEndpoints, lb_endpoint::HostIdentifier,
};
use envoy_types::pb::google::protobuf::UInt32Value;
use std::collections::BTreeMap;
use strait_registry::{Endpoint, Origin, Service, ServicePort};

/// Istio's default cluster id, the last field of the `workload` telemetry metadata.
const CLUSTER_ID: &str = "Kubernetes";

/// Builds the assignments of every EDS cluster of the scope, in the clusters' order.
pub fn build(scope: &Scope<'_>) -> Vec<ClusterLoadAssignment> {
    let mut out: Vec<ClusterLoadAssignment> = plan::outbound(scope)
        .into_iter()
        .filter(|p| p.discovery == Discovery::Eds)
        .map(|p| ClusterLoadAssignment {
            endpoints: locality_endpoints(p.service, p.port, &p.subset_labels),
            cluster_name: p.name,
            ..Default::default()
        })
        .collect();
    out.sort_by(|a, b| crate::clusters::sort_key(&a.cluster_name).cmp(&crate::clusters::sort_key(&b.cluster_name)));
    out
}

/// The endpoints of `service` for `port` whose labels include all of `subset`, by locality
/// (sorted by locality, endpoints in registry order).
pub fn locality_endpoints(
    service: &Service,
    port: &ServicePort,
    subset: &BTreeMap<String, String>,
) -> Vec<LocalityLbEndpoints> {
    let mut by_locality: BTreeMap<&str, Vec<(LbEndpoint, u32)>> = BTreeMap::new();
    for ep in service.endpoints.iter().filter(|ep| subset.iter().all(|(k, v)| ep.labels.get(k) == Some(v))) {
        if let Some(lb) = lb_endpoint(service, ep, port) {
            by_locality.entry(ep.locality.as_str()).or_default().push((lb, ep.weight.max(1)));
        }
    }
    by_locality
        .into_iter()
        .map(|(locality, eps)| {
            let weight: u32 = eps.iter().map(|(_, w)| *w).fold(0, u32::saturating_add);
            LocalityLbEndpoints {
                locality: (!locality.is_empty()).then(|| parse_locality(locality)),
                lb_endpoints: eps.into_iter().map(|(lb, _)| lb).collect(),
                load_balancing_weight: Some(UInt32Value { value: weight }),
                ..Default::default()
            }
        })
        .collect()
}

/// One endpoint; `None` when a Kubernetes endpoint does not serve this port (ServiceEntry
/// endpoints without a port map use the service port).
fn lb_endpoint(service: &Service, ep: &Endpoint, port: &ServicePort) -> Option<LbEndpoint> {
    let target = match (ep.ports.get(&port.number), &service.origin) {
        (Some(t), _) => *t,
        (None, Origin::ServiceEntry { .. }) => port.number,
        (None, Origin::Kubernetes) => return None,
    };
    let health = if ep.ready { HealthStatus::Healthy } else { HealthStatus::Unhealthy };
    Some(LbEndpoint {
        host_identifier: Some(HostIdentifier::Endpoint(EnvoyEndpoint {
            address: Some(socket_address(&ep.address, target)),
            ..Default::default()
        })),
        health_status: health as i32,
        load_balancing_weight: Some(UInt32Value { value: ep.weight.max(1) }),
        metadata: endpoint_metadata(ep),
    })
}

/// An Envoy address: `unix://PATH` is a pipe, anything else IP (or DNS name) and port.
pub fn socket_address(addr: &str, port: u32) -> Address {
    let inner = match addr.strip_prefix("unix://") {
        Some(path) => address::Address::Pipe(Pipe { path: path.to_string(), mode: 0 }),
        None => address::Address::SocketAddress(SocketAddress {
            address: addr.to_string(),
            port_specifier: Some(PortSpecifier::PortValue(port)),
            ..Default::default()
        }),
    };
    Address { address: Some(inner) }
}

/// `region/zone/subzone`.
fn parse_locality(s: &str) -> Locality {
    let mut parts = s.splitn(3, '/');
    let mut next = || parts.next().unwrap_or_default().to_string();
    Locality { region: next(), zone: next(), sub_zone: next() }
}

/// Istio's `AppendLbEndpointMetadata`: the TLS mode for transport socket matching, and
/// `workload;namespace;canonical-name;canonical-revision;cluster` for telemetry.
fn endpoint_metadata(ep: &Endpoint) -> Option<Metadata> {
    let mut md = Metadata { filter_metadata: crate::any::stable_map(), ..Default::default() };
    if ep.istio_tls {
        md.filter_metadata
            .insert("envoy.transport_socket_match".into(), meta::to_struct([("tlsMode", meta::string("istio"))]));
    }
    if !ep.workload.is_empty() {
        let (name, revision) = canonical_service(ep);
        let workload = format!("{};{};{name};{revision};{CLUSTER_ID}", ep.workload, ep.namespace);
        md.filter_metadata.insert("istio".into(), meta::to_struct([("workload", meta::string(&workload))]));
    }
    (!md.filter_metadata.is_empty()).then_some(md)
}

/// Istio's canonical service name and revision from the workload's labels ("latest" omitted).
fn canonical_service(ep: &Endpoint) -> (&str, &str) {
    let first = |keys: &[&str]| keys.iter().find_map(|k| ep.labels.get(*k)).map(String::as_str);
    let name = first(&["service.istio.io/canonical-name", "app.kubernetes.io/name", "app"]).unwrap_or(&ep.workload);
    let revision = first(&["service.istio.io/canonical-revision", "app.kubernetes.io/version", "version"])
        .filter(|r| *r != "latest")
        .unwrap_or_default();
    (name, revision)
}
