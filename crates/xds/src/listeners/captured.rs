//! Listeners of a captured proxy (iptables redirect, Istio's default layout): `virtualOutbound`
//! on 15001 hands each connection to the listener of its original destination (`0.0.0.0_PORT`
//! for HTTP ports, routed by the route config `"PORT"`; `VIP_PORT` for TCP ports) or passes it
//! through; `virtualInbound` on 15006 picks a filter chain by original destination port.

use super::hcm::{Direction, Routes, hcm_filter, http_connection_manager, tcp_proxy_filter};
use super::{inbound_ports, is_tcp, listener, tcp_clusters};
use crate::any::pack;
use crate::names;
use crate::routes::{http_ports, inbound_route_config};
use crate::scope::Scope;
use envoy_types::pb::envoy::config::core::v3::TrafficDirection;
use envoy_types::pb::envoy::config::listener::v3::{
    Filter, FilterChain, FilterChainMatch, Listener, ListenerFilter, listener_filter,
};
use envoy_types::pb::envoy::extensions::filters::listener::original_dst::v3::OriginalDst;
use envoy_types::pb::google::protobuf::{BoolValue, UInt32Value};
use std::collections::BTreeSet;
use strait_model::mesh::OutboundMode;

/// Istio's capture ports.
const OUTBOUND_CAPTURE_PORT: u32 = 15001;
const INBOUND_CAPTURE_PORT: u32 = 15006;
const ANY: &str = "0.0.0.0";

/// virtualOutbound, per-port outbound listeners, virtualInbound.
pub(super) fn build(scope: &Scope<'_>) -> Vec<Listener> {
    let mut out = vec![virtual_outbound(scope)];
    for port in http_ports(scope) {
        let hcm = http_connection_manager(
            format!("outbound_{ANY}_{port}"),
            Routes::Rds(port.to_string()),
            Direction::Outbound,
        );
        out.push(not_bound(listener(ANY, port, chain(hcm_filter(&hcm)), TrafficDirection::Outbound)));
    }
    let mut seen = BTreeSet::new();
    for svc in scope.services() {
        for p in svc.ports.iter().filter(|p| is_tcp(p.protocol)) {
            for vip in svc.addresses.iter().filter(|a| !a.contains('/')) {
                if !seen.insert((vip.clone(), p.number)) {
                    continue;
                }
                let clusters = tcp_clusters(scope, svc, p.number);
                let stat = clusters.first().map(|c| c.0.clone()).unwrap_or_default();
                let l = listener(vip, p.number, chain(tcp_proxy_filter(stat, clusters)), TrafficDirection::Outbound);
                out.push(not_bound(l));
            }
        }
    }
    out.push(virtual_inbound(scope));
    out
}

fn chain(filter: Filter) -> FilterChain {
    FilterChain { filters: vec![filter], ..Default::default() }
}

/// Listeners reached only through `virtualOutbound`'s original-destination hand-off.
fn not_bound(mut l: Listener) -> Listener {
    l.bind_to_port = Some(BoolValue { value: false });
    l
}

fn virtual_outbound(scope: &Scope<'_>) -> Listener {
    let allow = scope.outbound_mode() != OutboundMode::RegistryOnly;
    let cluster = if allow { names::PASSTHROUGH_CLUSTER } else { names::BLACKHOLE_CLUSTER };
    let mut passthrough = chain(tcp_proxy_filter(cluster.into(), vec![(cluster.into(), 1)]));
    passthrough.name = "PassthroughFilterChain".into();
    let mut l = listener(ANY, OUTBOUND_CAPTURE_PORT, passthrough, TrafficDirection::Outbound);
    l.name = names::VIRTUAL_OUTBOUND.into();
    l.use_original_dst = Some(BoolValue { value: true });
    l
}

fn virtual_inbound(scope: &Scope<'_>) -> Listener {
    let mut chains = Vec::new();
    let mut seen = BTreeSet::new();
    for p in inbound_ports(scope).into_iter().filter(|p| seen.insert(p.target_port)) {
        let filter = if p.protocol.is_http() {
            let routes = Routes::Inline(inbound_route_config(p.target_port, p.protocol));
            hcm_filter(&http_connection_manager(format!("inbound_{ANY}_{}", p.target_port), routes, Direction::Inbound))
        } else {
            let cluster = names::inbound_cluster(p.target_port);
            tcp_proxy_filter(cluster.clone(), vec![(cluster, 1)])
        };
        chains.push(FilterChain {
            name: names::listener_name(ANY, p.target_port),
            filter_chain_match: Some(FilterChainMatch {
                destination_port: Some(UInt32Value { value: p.target_port }),
                ..Default::default()
            }),
            filters: vec![filter],
            ..Default::default()
        });
    }
    let cluster = names::INBOUND_PASSTHROUGH_CLUSTER;
    let mut passthrough = chain(tcp_proxy_filter(cluster.into(), vec![(cluster.into(), 1)]));
    passthrough.name = "InboundPassthroughFilterChain".into();
    chains.push(passthrough);
    let mut l = listener(ANY, INBOUND_CAPTURE_PORT, FilterChain::default(), TrafficDirection::Inbound);
    l.name = names::VIRTUAL_INBOUND.into();
    l.filter_chains = chains;
    l.listener_filters = vec![ListenerFilter {
        name: "envoy.filters.listener.original_dst".into(),
        config_type: Some(listener_filter::ConfigType::TypedConfig(pack(&OriginalDst {}))),
        ..Default::default()
    }];
    l
}
