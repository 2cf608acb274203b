//! Listeners of a capture-free proxy (Istio `interceptionMode: NONE`): apps send HTTP to the
//! proxy as an explicit HTTP proxy (`http_proxy` route config, Host-based routing) and TCP to
//! `PROXY_IP:PORT`; inbound traffic arrives at `PROXY_IP:SERVICE_PORT` and goes to the local
//! app cluster `inbound|TARGET_PORT||`. Where two listeners want the same port, inbound wins
//! (other workloads must reach this one), then the HTTP proxy, then the first service in
//! registry order. Undeclared ports sniff (`sniffing`), in both directions: HTTP sent straight
//! to `PROXY_IP:PORT` is routed by the port's route config (outbound) or the inbound route, and
//! anything else goes where a TCP port's traffic would.

use super::hcm::{Direction, Routes, hcm_filter, http_connection_manager, tcp_proxy_filter};
use super::sniffing::{self, is_sniffed};
use super::{inbound_ports, is_tcp, listener, tcp_clusters};
use crate::names;
use crate::routes::{HTTP_PROXY_ROUTE, inbound_route_config};
use crate::scope::Scope;
use envoy_types::pb::envoy::config::core::v3::TrafficDirection;
use envoy_types::pb::envoy::config::listener::v3::{Filter, FilterChain, Listener};
use std::collections::BTreeSet;

/// Inbound, HTTP proxy and TCP listeners, sorted by port.
pub(super) fn build(scope: &Scope<'_>) -> Vec<Listener> {
    let ip = scope.proxy.id.ip.as_str();
    let mut taken = BTreeSet::new();
    let mut out = Vec::new();
    for p in inbound_ports(scope) {
        let http = || {
            let routes = Routes::Inline(inbound_route_config(p.target_port, p.protocol));
            let prefix = format!("inbound_{ip}_{}", p.service_port);
            hcm_filter(&http_connection_manager(prefix, routes, Direction::Inbound))
        };
        let tcp = || {
            let cluster = names::inbound_cluster(p.target_port);
            tcp_proxy_filter(cluster.clone(), vec![(cluster, 1)])
        };
        let l = if is_sniffed(p.protocol) {
            let l = listener(ip, p.service_port, FilterChain::default(), TrafficDirection::Inbound);
            sniffing::sniff(l, scope, http(), tcp())
        } else {
            let filter = if p.protocol.is_http() { http() } else { tcp() };
            listener(ip, p.service_port, chain(filter), TrafficDirection::Inbound)
        };
        taken.insert(p.service_port);
        out.push(l);
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
            let tcp = tcp_proxy_filter(stat, clusters);
            let l = if is_sniffed(p.protocol) {
                let routes = Routes::Rds(p.number.to_string());
                let hcm = http_connection_manager(format!("outbound_{ip}_{}", p.number), routes, Direction::Outbound);
                let l = listener(ip, p.number, FilterChain::default(), TrafficDirection::Outbound);
                sniffing::sniff(l, scope, hcm_filter(&hcm), tcp)
            } else {
                listener(ip, p.number, chain(tcp), TrafficDirection::Outbound)
            };
            out.push(l);
        }
    }
    out.sort_by_key(super::port_of);
    out
}

fn chain(filter: Filter) -> FilterChain {
    FilterChain { filters: vec![filter], ..Default::default() }
}
