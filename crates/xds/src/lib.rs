//! xDS generation: a [`Registry`] snapshot and a [`Proxy`] in, Envoy v3 resources out, with
//! Istio's names (`outbound|9080|v1|reviews.default.svc.cluster.local`, `virtualOutbound`,
//! `PassthroughCluster`, `BlackHoleCluster`, route configs named by port). Every function here
//! is pure, so the output is tested with tables and snapshots and the server only ships it.
//!
//! Module map: [`names`] (naming conventions), [`scope`] (what a proxy may see), [`clusters`]
//! (CDS), [`endpoints`] (EDS), [`listeners`] (LDS), [`routes`] (RDS), [`any`] (packing).

pub mod any;
pub mod clusters;
pub mod destination_rules;
pub mod endpoints;
pub mod listeners;
pub mod names;
pub mod routes;
pub mod scope;

use envoy_types::pb::envoy::config::{
    cluster::v3::Cluster, endpoint::v3::ClusterLoadAssignment, listener::v3::Listener, route::v3::RouteConfiguration,
};
use strait_registry::{Proxy, Registry};

/// Everything one proxy gets, by xDS type.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// CDS.
    pub clusters: Vec<Cluster>,
    /// EDS (one per EDS cluster, named like the cluster).
    pub endpoints: Vec<ClusterLoadAssignment>,
    /// LDS.
    pub listeners: Vec<Listener>,
    /// RDS.
    pub routes: Vec<RouteConfiguration>,
}

/// Generates the full config for `proxy`.
pub fn generate(registry: &Registry, proxy: &Proxy) -> Snapshot {
    let scope = scope::Scope::new(registry, proxy);
    Snapshot {
        clusters: clusters::build(&scope),
        endpoints: endpoints::build(&scope),
        listeners: listeners::build(&scope),
        routes: routes::build(&scope),
    }
}
