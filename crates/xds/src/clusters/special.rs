//! The clusters that are not a service's: `PassthroughCluster` (ALLOW_ANY traffic to its
//! original destination), `BlackHoleCluster` (REGISTRY_ONLY: no endpoints, so the connection is
//! closed), `InboundPassthroughCluster` (inbound to ports no Service declares, sent from
//! 127.0.0.6 so iptables does not capture it again) and the `inbound|PORT||` clusters of the
//! proxy's own workload, which deliver to the local app.
//!
//! Inbound clusters are named by the endpoint (target) port, as Istio has since 1.10, and are
//! STATIC to `app_address:PORT` (the app's address on this host) rather than Istio's
//! ORIGINAL_DST: Strait also runs without iptables, where the original destination is the proxy.

use super::{Wrapper, mesh_connect_timeout, policy};
use crate::destination_rules::Direction;
use crate::endpoints::socket_address;
use crate::names;
use crate::scope::Scope;
use envoy_types::pb::envoy::config::cluster::v3::{
    Cluster,
    cluster::{DiscoveryType, LbConfig, LbPolicy, OriginalDstLbConfig},
};
use envoy_types::pb::envoy::config::core::v3::HttpProtocolOptions as CommonHttpOptions;
use envoy_types::pb::envoy::config::core::v3::{BindConfig, SocketAddress, socket_address::PortSpecifier};
use envoy_types::pb::envoy::config::endpoint::v3::{
    ClusterLoadAssignment, Endpoint as EnvoyEndpoint, LbEndpoint, LocalityLbEndpoints, lb_endpoint::HostIdentifier,
};
use envoy_types::pb::google::protobuf::Duration;
use std::collections::BTreeMap;
use strait_model::networking::destination_rule::ConnectionPoolSettings;
use strait_registry::{Endpoint, Proxy, Service};

/// Source address of traffic the proxy sends to local apps, which iptables lets through.
pub const INBOUND_PASSTHROUGH_BIND: &str = "127.0.0.6";

/// `PassthroughCluster`: ORIGINAL_DST, downstream protocol, 5 minute idle timeout (as Istio).
pub fn passthrough(scope: &Scope<'_>) -> Cluster {
    let mut w = Wrapper::new(names::PASSTHROUGH_CLUSTER, DiscoveryType::OriginalDst, mesh_connect_timeout(scope));
    w.cluster.lb_policy = LbPolicy::ClusterProvided as i32;
    w.cluster.common_lb_config = None;
    policy::set_upstream_protocol(&mut w, strait_registry::Protocol::Unknown, strait_registry::NodeType::Sidecar);
    policy::connection_pool(&mut w, &ConnectionPoolSettings::default(), &scope.registry.mesh);
    w.http().common_http_protocol_options =
        Some(CommonHttpOptions { idle_timeout: Some(Duration { seconds: 300, nanos: 0 }), ..Default::default() });
    if !scope.proxy.captured {
        // Capture-free: the connection's original destination is the proxy's own listener, so
        // the destination comes from the request's authority (`curl -x … http://IP:PORT/`).
        w.cluster.lb_config = Some(LbConfig::OriginalDstLbConfig(OriginalDstLbConfig {
            use_http_header: true,
            http_header_name: ":authority".into(),
            ..Default::default()
        }));
    }
    w.finish()
}

/// `BlackHoleCluster`: STATIC without endpoints.
pub fn blackhole(scope: &Scope<'_>) -> Cluster {
    let mut w = Wrapper::new(names::BLACKHOLE_CLUSTER, DiscoveryType::Static, mesh_connect_timeout(scope));
    w.cluster.lb_policy = LbPolicy::RoundRobin as i32;
    w.cluster.common_lb_config = None;
    w.finish()
}

/// `InboundPassthroughCluster`: the passthrough cluster bound to 127.0.0.6.
pub fn inbound_passthrough(scope: &Scope<'_>) -> Cluster {
    let mut c = passthrough(scope);
    c.name = names::INBOUND_PASSTHROUGH_CLUSTER.into();
    c.alt_stat_name = format!("{};", names::INBOUND_PASSTHROUGH_CLUSTER);
    c.upstream_bind_config = Some(bind(INBOUND_PASSTHROUGH_BIND));
    c
}

fn bind(address: &str) -> BindConfig {
    BindConfig {
        source_address: Some(SocketAddress {
            address: address.into(),
            port_specifier: Some(PortSpecifier::PortValue(0)),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// True when `ep` is this proxy's workload: same IP, or same pod, or same labels in its namespace.
pub fn is_own_endpoint(proxy: &Proxy, ep: &Endpoint) -> bool {
    if ep.address == proxy.id.ip {
        return true;
    }
    ep.namespace == proxy.id.namespace
        && ((!ep.workload.is_empty() && ep.workload == proxy.id.pod)
            || (!proxy.labels.is_empty() && ep.labels == proxy.labels))
}

/// The services (any visibility) and target ports served by this proxy's workload, by target
/// port; the first service wins a port (as Istio).
pub fn own_ports<'a>(scope: &Scope<'a>) -> BTreeMap<u32, (&'a Service, u32)> {
    let mut out = BTreeMap::new();
    for service in &scope.registry.services {
        for ep in service.endpoints.iter().filter(|ep| is_own_endpoint(scope.proxy, ep)) {
            for port in &service.ports {
                if let Some(target) = ep.ports.get(&port.number) {
                    out.entry(*target).or_insert((service, port.number));
                }
            }
        }
    }
    out
}

/// `inbound|PORT||` for each port of the proxy's own workload, with the DestinationRule's
/// connection pool (server side capacity, as Istio).
pub fn inbound(scope: &Scope<'_>) -> Vec<Cluster> {
    if scope.proxy.id.node_type != strait_registry::NodeType::Sidecar {
        return Vec::new();
    }
    let index = scope.destination_rules();
    own_ports(scope)
        .into_iter()
        .map(|(target, (service, port))| {
            let rule = index.lookup(scope.proxy, &service.hostname, &service.namespace, Direction::Inbound);
            let (policy, _) = policy::for_port(rule.as_ref().and_then(|r| r.rule.traffic_policy.as_ref()), port);
            let pool = policy.and_then(|p| p.connection_pool).unwrap_or_default();
            let protocol = service.port(port).map_or(strait_registry::Protocol::Unknown, |p| p.protocol);
            inbound_cluster(scope, target, service, protocol, &pool)
        })
        .collect()
}

fn inbound_cluster(
    scope: &Scope<'_>,
    target: u32,
    service: &Service,
    protocol: strait_registry::Protocol,
    pool: &ConnectionPoolSettings,
) -> Cluster {
    let name = names::inbound_cluster(target);
    let mut w = Wrapper::new(&name, DiscoveryType::Static, mesh_connect_timeout(scope));
    let app = scope.proxy.app_address.as_str();
    let app = if app.is_empty() { "127.0.0.1" } else { app };
    let endpoint = LbEndpoint {
        host_identifier: Some(HostIdentifier::Endpoint(EnvoyEndpoint {
            address: Some(socket_address(app, target)),
            ..Default::default()
        })),
        ..Default::default()
    };
    w.cluster.load_assignment = Some(ClusterLoadAssignment {
        cluster_name: name.clone(),
        endpoints: vec![LocalityLbEndpoints { lb_endpoints: vec![endpoint], ..Default::default() }],
        ..Default::default()
    });
    // The app speaks the port's protocol: HTTP/2 (and gRPC) stay HTTP/2, a sniffed port keeps
    // whatever the client spoke (as Istio's inbound clusters).
    policy::set_upstream_protocol(&mut w, protocol, strait_registry::NodeType::Sidecar);
    policy::connection_pool(&mut w, pool, &scope.registry.mesh);
    // Under iptables a non-loopback target would be captured again unless sent from 127.0.0.6.
    if scope.proxy.captured && app != "127.0.0.1" && app != "::1" {
        w.cluster.upstream_bind_config = Some(bind(INBOUND_PASSTHROUGH_BIND));
    }
    w.cluster.metadata = Some(policy::metadata(service, None, ""));
    w.finish()
}
