//! What telemetry and the admin API need from the xDS resources that the compiled config does
//! not keep: each cluster's Istio service (`filter_metadata.istio.services[0]`) and each
//! endpoint's address, weight, health, locality and Istio workload
//! (`filter_metadata.istio.workload`). Rebuilt after every applied response from the resource
//! store, re-reading only resources whose compiled form changed (the store keeps a compiled
//! object as long as its bytes stay the same, so pointer identity says "unchanged").

use super::labels::{Service, Workload};
use crate::config::{Cluster, LoadAssignment};
use crate::state::store::{Entry, Store};
use envoy_types::pb::envoy::config::cluster::v3::{
    Cluster as EnvoyCluster,
    cluster::{ClusterDiscoveryType, DiscoveryType},
};
use envoy_types::pb::envoy::config::core::v3::{Metadata, address, socket_address::PortSpecifier};
use envoy_types::pb::envoy::config::endpoint::v3::{ClusterLoadAssignment, lb_endpoint::HostIdentifier};
use envoy_types::pb::google::protobuf::{Struct, value::Kind};
use prost::Message;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

/// One endpoint as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Address.
    pub address: SocketAddr,
    /// Load-balancing weight (1 when unset).
    pub weight: u32,
    /// Envoy's `HealthStatus` number (0 unknown, 1 healthy, 2 unhealthy, 3 draining, …).
    pub health: i32,
    /// Region, zone, sub-zone.
    pub locality: [String; 3],
    /// The Istio workload behind it.
    pub workload: Option<Arc<Workload>>,
}

/// A cluster as telemetry sees it.
#[derive(Debug, Clone)]
pub struct ClusterInfo {
    /// The compiled cluster this was read from (identity check on refresh).
    compiled: Arc<Cluster>,
    /// The name its stats and `/clusters` use: `alt_stat_name` when set (Istio sets
    /// `NAME;`), else the name.
    pub observability_name: String,
    /// Its Istio service.
    pub service: Option<Arc<Service>>,
    /// EDS service name, when its endpoints come from EDS.
    pub eds: Option<String>,
    /// Inline (STATIC) endpoints.
    pub inline: Arc<Vec<Endpoint>>,
}

#[derive(Debug, Clone)]
struct Assignment {
    compiled: Arc<LoadAssignment>,
    endpoints: Arc<Vec<Endpoint>>,
}

/// Clusters and endpoint assignments by name.
#[derive(Debug, Clone, Default)]
pub struct Index {
    clusters: HashMap<String, ClusterInfo>,
    assignments: HashMap<String, Assignment>,
}

impl Index {
    /// The index for `store`, reusing what `previous` read from unchanged resources.
    pub fn refresh(previous: &Index, store: &Store) -> Index {
        let clusters = store
            .clusters
            .iter()
            .map(|(name, e)| {
                let info = match previous.clusters.get(name) {
                    Some(old) if Arc::ptr_eq(&old.compiled, &e.compiled) => old.clone(),
                    _ => cluster_info(e),
                };
                (name.clone(), info)
            })
            .collect();
        let assignments = store
            .endpoints
            .iter()
            .map(|(name, e)| {
                let a = match previous.assignments.get(name) {
                    Some(old) if Arc::ptr_eq(&old.compiled, &e.compiled) => old.clone(),
                    _ => Assignment { compiled: e.compiled.clone(), endpoints: Arc::new(assignment(e)) },
                };
                (name.clone(), a)
            })
            .collect();
        Index { clusters, assignments }
    }

    /// A cluster's info.
    pub fn cluster(&self, name: &str) -> Option<&ClusterInfo> {
        self.clusters.get(name)
    }

    /// A cluster's endpoints (inline, or its EDS assignment).
    pub fn endpoints(&self, cluster: &ClusterInfo) -> Arc<Vec<Endpoint>> {
        match &cluster.eds {
            Some(eds) => self.assignments.get(eds).map(|a| a.endpoints.clone()).unwrap_or_default(),
            None => cluster.inline.clone(),
        }
    }

    /// The Istio service of a cluster and the workload of one of its hosts.
    pub fn destination(
        &self,
        cluster: &str,
        host: Option<SocketAddr>,
    ) -> (Option<Arc<Service>>, Option<Arc<Workload>>) {
        let Some(info) = self.cluster(cluster) else { return (None, None) };
        let workload = host.and_then(|h| {
            let endpoints = self.endpoints(info);
            endpoints.iter().find(|e| e.address == h).and_then(|e| e.workload.clone())
        });
        (info.service.clone(), workload)
    }

    /// The name a cluster's stats go by (its own when unknown).
    pub fn observability_name<'a>(&'a self, cluster: &'a str) -> &'a str {
        self.cluster(cluster).map_or(cluster, |c| c.observability_name.as_str())
    }

    /// Cluster names, sorted.
    pub fn cluster_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.clusters.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}

fn cluster_info(e: &Entry<Cluster>) -> ClusterInfo {
    let c = EnvoyCluster::decode(e.raw.value.as_slice()).unwrap_or_default();
    let service = istio(c.metadata.as_ref()).and_then(service).map(Arc::new);
    let eds = matches!(c.cluster_discovery_type, Some(ClusterDiscoveryType::Type(t)) if t == DiscoveryType::Eds as i32)
        .then(|| {
            let name = c.eds_cluster_config.as_ref().map(|e| e.service_name.clone()).unwrap_or_default();
            if name.is_empty() { c.name.clone() } else { name }
        });
    let inline = c.load_assignment.as_ref().map(endpoints).unwrap_or_default();
    let observability_name = if c.alt_stat_name.is_empty() { c.name.clone() } else { c.alt_stat_name.clone() };
    ClusterInfo { compiled: e.compiled.clone(), observability_name, service, eds, inline: Arc::new(inline) }
}

fn assignment(e: &Entry<LoadAssignment>) -> Vec<Endpoint> {
    ClusterLoadAssignment::decode(e.raw.value.as_slice()).map(|cla| endpoints(&cla)).unwrap_or_default()
}

fn endpoints(cla: &ClusterLoadAssignment) -> Vec<Endpoint> {
    let mut out = Vec::new();
    for locality in &cla.endpoints {
        let l = locality.locality.clone().unwrap_or_default();
        for ep in &locality.lb_endpoints {
            let Some(HostIdentifier::Endpoint(endpoint)) = &ep.host_identifier else { continue };
            let Some(address::Address::SocketAddress(sa)) = endpoint.address.as_ref().and_then(|a| a.address.as_ref())
            else {
                continue;
            };
            let (Ok(ip), Some(PortSpecifier::PortValue(port))) = (sa.address.parse(), &sa.port_specifier) else {
                continue;
            };
            let Ok(port) = u16::try_from(*port) else { continue };
            let workload = istio(ep.metadata.as_ref()).and_then(|s| string(s, "workload")).and_then(Workload::parse);
            out.push(Endpoint {
                address: SocketAddr::new(ip, port),
                weight: ep.load_balancing_weight.as_ref().map_or(1, |w| w.value.max(1)),
                health: ep.health_status,
                locality: [l.region.clone(), l.zone.clone(), l.sub_zone.clone()],
                workload: workload.map(Arc::new),
            });
        }
    }
    out
}

fn istio(md: Option<&Metadata>) -> Option<&Struct> {
    md.and_then(|m| m.filter_metadata.get("istio"))
}

fn string<'a>(s: &'a Struct, key: &str) -> Option<&'a str> {
    match s.fields.get(key).and_then(|v| v.kind.as_ref()) {
        Some(Kind::StringValue(v)) => Some(v),
        _ => None,
    }
}

/// `services[0]`: host, and name (else the host's first label), as Istio's stats filter reads it.
fn service(istio: &Struct) -> Option<Service> {
    let Some(Kind::ListValue(list)) = istio.fields.get("services").and_then(|v| v.kind.as_ref()) else {
        return None;
    };
    let Some(Kind::StructValue(first)) = list.values.first().and_then(|v| v.kind.as_ref()) else { return None };
    let host = string(first, "host").unwrap_or_default().to_string();
    let name =
        string(first, "name").map_or_else(|| host.split('.').next().unwrap_or_default().to_string(), str::to_string);
    Some(Service { host, name })
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::google::protobuf::{ListValue, Value};

    fn s(v: &str) -> Value {
        Value { kind: Some(Kind::StringValue(v.into())) }
    }

    #[test]
    fn service_from_cluster_metadata() {
        let svc = Struct {
            fields: [("host".to_string(), s("reviews.default.svc.cluster.local")), ("name".to_string(), s("reviews"))]
                .into(),
        };
        let list = Value {
            kind: Some(Kind::ListValue(ListValue { values: vec![Value { kind: Some(Kind::StructValue(svc)) }] })),
        };
        let istio = Struct { fields: [("services".to_string(), list)].into() };
        let got = service(&istio).expect("service");
        assert_eq!((got.host.as_str(), got.name.as_str()), ("reviews.default.svc.cluster.local", "reviews"));
        let nameless = Struct { fields: [("host".to_string(), s("db.prod.svc.cluster.local"))].into() };
        let list = Value {
            kind: Some(Kind::ListValue(ListValue { values: vec![Value { kind: Some(Kind::StructValue(nameless)) }] })),
        };
        let got = service(&Struct { fields: [("services".to_string(), list)].into() }).expect("service");
        assert_eq!(got.name, "db", "the name falls back to the host's first label");
        assert!(service(&Struct::default()).is_none());
    }
}
