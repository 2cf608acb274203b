//! xDS generation: a [`Registry`] snapshot and a [`Proxy`] in, Envoy v3 resources out, with
//! Istio's names (`outbound|9080|v1|reviews.default.svc.cluster.local`, `virtualOutbound`,
//! `PassthroughCluster`, `BlackHoleCluster`, route configs named by port). Every function here
//! is pure, so the output is tested with tables and snapshots and the server only ships it.
//!
//! Module map: [`names`] (naming conventions), [`scope`] (what a proxy may see), [`clusters`]
//! (CDS), [`endpoints`] (EDS), [`listeners`] (LDS), [`routes`] (RDS), [`secrets`] (SDS), [`any`]
//! (packing).

pub mod any;
pub mod clusters;
pub mod destination_rules;
pub mod endpoints;
pub mod listeners;
pub mod names;
pub mod routes;
pub mod scope;
pub mod secrets;

use envoy_types::pb::envoy::config::{
    cluster::v3::Cluster, endpoint::v3::ClusterLoadAssignment, listener::v3::Listener, route::v3::RouteConfiguration,
};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::Secret;
use strait_registry::{Proxy, Registry};

/// Everything one proxy gets, by xDS type. `Debug` names the secrets but never shows them.
#[derive(Clone, Default, PartialEq)]
pub struct Snapshot {
    /// CDS.
    pub clusters: Vec<Cluster>,
    /// EDS (one per EDS cluster, named like the cluster).
    pub endpoints: Vec<ClusterLoadAssignment>,
    /// LDS.
    pub listeners: Vec<Listener>,
    /// RDS.
    pub routes: Vec<RouteConfiguration>,
    /// SDS: the `credentialName` secrets the listeners and clusters reference (key material).
    pub secrets: Vec<Secret>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secrets: Vec<&str> = self.secrets.iter().map(|s| s.name.as_str()).collect();
        f.debug_struct("Snapshot")
            .field("clusters", &self.clusters)
            .field("endpoints", &self.endpoints)
            .field("listeners", &self.listeners)
            .field("routes", &self.routes)
            .field("secrets", &secrets)
            .finish()
    }
}

/// Generates the full config for `proxy`.
pub fn generate(registry: &Registry, proxy: &Proxy) -> Snapshot {
    let scope = scope::Scope::new(registry, proxy);
    let (clusters, listeners) = (clusters::build(&scope), listeners::build(&scope));
    let secrets = secrets::build(&scope, &listeners, &clusters);
    Snapshot { endpoints: endpoints::build(&scope), routes: routes::build(&scope), clusters, listeners, secrets }
}
