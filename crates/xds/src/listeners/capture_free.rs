//! Listeners of a capture-free proxy (Istio `interceptionMode: NONE`): apps send HTTP to the
//! proxy as an explicit HTTP proxy (`http_proxy` route config, Host-based routing) and TCP to
//! `PROXY_IP:PORT`; inbound traffic arrives at `PROXY_IP:SERVICE_PORT` and goes to the local
//! app cluster `inbound|TARGET_PORT||`. Where two listeners want the same port, inbound wins
//! (other workloads must reach this one), then the HTTP proxy, then the first service in
//! registry order.

use super::hcm::{Direction, Routes, hcm_filter, http_connection_manager, tcp_proxy_filter};
use super::{inbound_ports, is_tcp, listener, tcp_clusters};
use crate::names;
use crate::routes::{HTTP_PROXY_ROUTE, inbound_route_config};
use crate::scope::Scope;
use envoy_types::pb::envoy::config::core::v3::TrafficDirection;
use envoy_types::pb::envoy::config::listener::v3::{FilterChain, Listener};
use std::collections::BTreeSet;

/// Inbound, HTTP proxy and TCP listeners, sorted by port.
pub(super) fn build(scope: &Scope<'_>) -> Vec<Listener> {
    let ip = scope.proxy.id.ip.as_str();
    let mut taken = BTreeSet::new();
    let mut out = Vec::new();
    for p in inbound_ports(scope) {
        let chain = if p.protocol.is_http() {
            let routes = Routes::Inline(inbound_route_config(p.target_port, p.protocol));
            let prefix = format!("inbound_{ip}_{}", p.service_port);
            chain(hcm_filter(&http_connection_manager(prefix, routes, Direction::Inbound)))
        } else {
            let cluster = names::inbound_cluster(p.target_port);
            chain(tcp_proxy_filter(cluster.clone(), vec![(cluster, 1)]))
        };
        taken.insert(p.service_port);
        out.push(listener(ip, p.service_port, chain, TrafficDirection::Inbound));
    }
    let port = scope.proxy.outbound_port;
    if taken.insert(port) {
        let hcm = http_connection_manager(
            format!("outbound_{port}"),
            Routes::Rds(HTTP_PROXY_ROUTE.into()),
            Direction::Outbound,
        );
        out.push(listener(ip, port, chain(hcm_filter(&hcm)), TrafficDirection::Outbound));
    }
    for svc in scope.services() {
        for p in svc.ports.iter().filter(|p| is_tcp(p.protocol)) {
            if !taken.insert(p.number) {
                continue;
            }
            let clusters = tcp_clusters(scope, svc, p.number);
            let stat = clusters.first().map(|c| c.0.clone()).unwrap_or_default();
            let chain = chain(tcp_proxy_filter(stat, clusters));
            out.push(listener(ip, p.number, chain, TrafficDirection::Outbound));
        }
    }
    out.sort_by_key(super::port_of);
    out
}

fn chain(filter: envoy_types::pb::envoy::config::listener::v3::Filter) -> FilterChain {
    FilterChain { filters: vec![filter], ..Default::default() }
}
