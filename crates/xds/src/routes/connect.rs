//! HTTP CONNECT on the capture-free HTTP proxy listener. Without iptables, an app reaches
//! TLS and TCP destinations through its sidecar the way any HTTP client reaches an explicit
//! proxy: `HTTPS_PROXY` makes it send `CONNECT host:port`. The sidecar terminates the CONNECT
//! and tunnels the bytes to the same clusters a captured sidecar would use, so the mesh's
//! policy applies to opaque traffic too:
//! - a TCP/TLS/undeclared port of a visible service → its TCP route (VirtualService `tcp`
//!   weights included) or `outbound|PORT||HOST` (an undeclared port's virtual host also routes
//!   plain HTTP, as sniffing would);
//! - anything else → `PassthroughCluster` under ALLOW_ANY (the authority `IP:PORT` is the
//!   original destination) or `BlackHoleCluster` under REGISTRY_ONLY, so the access log names
//!   the black hole exactly as Istio's captured sidecars do for unknown TCP destinations.
//!
//! CONNECT never matches `prefix: /` routes, so HTTP routing of non-CONNECT requests is not
//! affected; a CONNECT to an HTTP service port gets Envoy's 404 (`NR`), since tunnelling would
//! bypass that port's HTTP routing.

use super::virtual_hosts;
use crate::listeners::{is_tcp, tcp_clusters};
use crate::names;
use crate::scope::Scope;
use envoy_types::pb::envoy::config::route::v3::{
    Route, RouteAction, RouteMatch, VirtualHost, WeightedCluster, route,
    route_action::{ClusterSpecifier, UpgradeConfig, upgrade_config::ConnectConfig},
    route_match::{ConnectMatcher, PathSpecifier},
    weighted_cluster::ClusterWeight,
};
use envoy_types::pb::google::protobuf::UInt32Value;
use strait_model::mesh::OutboundMode;
use strait_registry::{Protocol, Service};

/// The route name of CONNECT tunnels, as the access log shows it.
const CONNECT_ROUTE: &str = "connect";

/// One virtual host per opaque (TCP, TLS, …) port of the visible services, reachable only by
/// CONNECT (`host:port` domains). Undeclared ports are not here: their HTTP virtual host also
/// carries the tunnel ([`service_tunnel`]).
pub(crate) fn opaque_virtual_hosts(scope: &Scope<'_>) -> Vec<VirtualHost> {
    let mut out = Vec::new();
    for svc in scope.services() {
        for p in svc.ports.iter().filter(|p| is_tcp(p.protocol) && p.protocol != Protocol::Unknown) {
            let suffix = format!(":{}", p.number);
            let domains =
                virtual_hosts::domains(scope, svc, p.number).into_iter().filter(|d| d.ends_with(&suffix)).collect();
            out.push(VirtualHost {
                name: format!("{}:{}", svc.hostname, p.number),
                domains,
                routes: vec![tunnel(tcp_clusters(scope, svc, p.number))],
                ..Default::default()
            });
        }
    }
    out
}

/// The CONNECT route of one service port: its TCP route, as a captured sidecar would use.
pub(crate) fn service_tunnel(scope: &Scope<'_>, svc: &Service, port: u32) -> Route {
    tunnel(tcp_clusters(scope, svc, port))
}

/// Adds the CONNECT route for unknown destinations in front of the catch-all host's routes.
pub(crate) fn add_to_catch_all(scope: &Scope<'_>, catch_all: &mut VirtualHost) {
    let cluster = match scope.outbound_mode() {
        OutboundMode::RegistryOnly => names::BLACKHOLE_CLUSTER,
        _ => names::PASSTHROUGH_CLUSTER,
    };
    catch_all.routes.insert(0, tunnel(vec![(cluster.to_string(), 1)]));
}

/// A route that matches CONNECT and tunnels the payload as raw TCP to `clusters`.
fn tunnel(clusters: Vec<(String, u32)>) -> Route {
    let specifier = match clusters.as_slice() {
        [(name, _)] => ClusterSpecifier::Cluster(name.clone()),
        _ => ClusterSpecifier::WeightedClusters(WeightedCluster {
            clusters: clusters
                .into_iter()
                .map(|(name, weight)| ClusterWeight {
                    name,
                    weight: Some(UInt32Value { value: weight }),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }),
    };
    let mut action = RouteAction {
        cluster_specifier: Some(specifier),
        upgrade_configs: vec![UpgradeConfig {
            upgrade_type: "CONNECT".into(),
            connect_config: Some(ConnectConfig::default()),
            ..Default::default()
        }],
        ..Default::default()
    };
    // A tunnel lives as long as its connection: no route timeout (Envoy's default is 15 s).
    action.timeout = Some(virtual_hosts::no_timeout());
    Route {
        name: CONNECT_ROUTE.into(),
        r#match: Some(RouteMatch {
            path_specifier: Some(PathSpecifier::ConnectMatcher(ConnectMatcher {})),
            ..Default::default()
        }),
        action: Some(route::Action::Route(action)),
        ..Default::default()
    }
}
