//! Listeners of a captured proxy (iptables redirect, Istio's default layout): `virtualOutbound`
//! on 15001 hands each connection to the listener of its original destination or passes it
//! through; `virtualInbound` on 15006 picks a filter chain by original destination port.
//!
//! Outbound listeners, as Istio builds them: `0.0.0.0_PORT` for HTTP ports (routed by the route
//! config `"PORT"`); `VIP_PORT` for TCP ports; `VIP_PORT` sniffing listeners for undeclared
//! ports (`sniffing`: HTTP → route config `"PORT"`, anything else → the TCP route); and for
//! undeclared ports of services without a VIP, a sniffing `0.0.0.0_PORT` whose non-HTTP traffic
//! passes through as if no listener were there. Inbound, an undeclared port gets an HTTP and a
//! TCP chain and the HTTP inspector runs for that port only.

use super::hcm::{Direction, Routes, hcm_filter, http_connection_manager, tcp_proxy_filter};
use super::sniffing::{self, is_sniffed};
use super::{inbound_ports, is_tcp, listener, tcp_clusters};
use crate::any::pack;
use crate::names;
use crate::routes::inbound_route_config;
use crate::scope::Scope;
use envoy_types::pb::envoy::config::core::v3::TrafficDirection;
use envoy_types::pb::envoy::config::listener::v3::{
    Filter, FilterChain, FilterChainMatch, Listener, ListenerFilter, listener_filter,
};
use envoy_types::pb::envoy::extensions::filters::listener::original_dst::v3::OriginalDst;
use envoy_types::pb::google::protobuf::{BoolValue, UInt32Value};
use std::collections::{BTreeMap, BTreeSet};
use strait_model::mesh::OutboundMode;
use strait_registry::Service;

/// Istio's capture ports.
const OUTBOUND_CAPTURE_PORT: u32 = 15001;
const INBOUND_CAPTURE_PORT: u32 = 15006;
const ANY: &str = "0.0.0.0";
const OUTBOUND: TrafficDirection = TrafficDirection::Outbound;

/// virtualOutbound, per-port outbound listeners, virtualInbound.
pub(super) fn build(scope: &Scope<'_>) -> Vec<Listener> {
    let mut out = vec![virtual_outbound(scope)];
    let mut seen = BTreeSet::new();
    for l in wildcard_listeners(scope) {
        seen.insert(l.name.clone());
        out.push(l);
    }
    out.extend(vip_listeners(scope, &mut seen));
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

/// The service's VIPs a listener can bind (CIDRs cannot).
fn vips(svc: &Service) -> impl Iterator<Item = &str> {
    svc.addresses.iter().filter(|a| !a.contains('/')).map(String::as_str)
}

/// An outbound HCM routed by the port's route config.
fn outbound_hcm(ip: &str, port: u32) -> Filter {
    let routes = Routes::Rds(port.to_string());
    hcm_filter(&http_connection_manager(format!("outbound_{ip}_{port}"), routes, Direction::Outbound))
}

/// Where unmatched outbound TCP goes: PassthroughCluster, or BlackHoleCluster under REGISTRY_ONLY.
fn passthrough_filter(scope: &Scope<'_>) -> Filter {
    let allow = scope.outbound_mode() != OutboundMode::RegistryOnly;
    let cluster = if allow { names::PASSTHROUGH_CLUSTER } else { names::BLACKHOLE_CLUSTER };
    tcp_proxy_filter(cluster.into(), vec![(cluster.into(), 1)])
}

/// `0.0.0.0_PORT`, by port: an HCM where a service declares HTTP, else a sniffing listener where
/// a service without a VIP has an undeclared port (its HTTP is routed like an HTTP port's; the
/// rest passes through as it would with no listener).
fn wildcard_listeners(scope: &Scope<'_>) -> Vec<Listener> {
    let mut ports: BTreeMap<u32, bool> = BTreeMap::new();
    for svc in scope.services() {
        let no_vip = vips(svc).next().is_none();
        for p in &svc.ports {
            if p.protocol.is_http() {
                ports.insert(p.number, true);
            } else if is_sniffed(p.protocol) && no_vip {
                ports.entry(p.number).or_insert(false);
            }
        }
    }
    let wildcard = |(port, http): (u32, bool)| {
        if http {
            return not_bound(listener(ANY, port, chain(outbound_hcm(ANY, port)), OUTBOUND));
        }
        let l = listener(ANY, port, FilterChain::default(), OUTBOUND);
        let mut l = sniffing::sniff(l, scope, outbound_hcm(ANY, port), passthrough_filter(scope));
        if let Some(c) = l.default_filter_chain.as_mut() {
            c.name = "PassthroughFilterChain".into();
        }
        not_bound(l)
    };
    ports.into_iter().map(wildcard).collect()
}

/// `VIP_PORT` for each TCP or undeclared port of each VIP, first service wins; names already in
/// `seen` are skipped.
fn vip_listeners(scope: &Scope<'_>, seen: &mut BTreeSet<String>) -> Vec<Listener> {
    let mut out = Vec::new();
    for svc in scope.services() {
        for p in svc.ports.iter().filter(|p| is_tcp(p.protocol)) {
            for vip in vips(svc) {
                if !seen.insert(names::listener_name(vip, p.number)) {
                    continue;
                }
                let clusters = tcp_clusters(scope, svc, p.number);
                let stat = clusters.first().map(|c| c.0.clone()).unwrap_or_default();
                let tcp = tcp_proxy_filter(stat, clusters);
                let l = if is_sniffed(p.protocol) {
                    let l = listener(vip, p.number, FilterChain::default(), OUTBOUND);
                    sniffing::sniff(l, scope, outbound_hcm(vip, p.number), tcp)
                } else {
                    listener(vip, p.number, chain(tcp), OUTBOUND)
                };
                out.push(not_bound(l));
            }
        }
    }
    out
}

fn virtual_outbound(scope: &Scope<'_>) -> Listener {
    let mut passthrough = chain(passthrough_filter(scope));
    passthrough.name = "PassthroughFilterChain".into();
    let mut l = listener(ANY, OUTBOUND_CAPTURE_PORT, passthrough, OUTBOUND);
    l.name = names::VIRTUAL_OUTBOUND.into();
    l.use_original_dst = Some(BoolValue { value: true });
    l
}

/// A virtualInbound chain for one original destination port.
fn inbound_chain(port: u32, filter_chain_match: FilterChainMatch, filter: Filter) -> FilterChain {
    FilterChain {
        name: names::listener_name(ANY, port),
        filter_chain_match: Some(filter_chain_match),
        filters: vec![filter],
        ..Default::default()
    }
}

fn virtual_inbound(scope: &Scope<'_>) -> Listener {
    let mut chains = Vec::new();
    let mut sniffed = Vec::new();
    let mut seen = BTreeSet::new();
    for p in inbound_ports(scope).into_iter().filter(|p| seen.insert(p.target_port)) {
        let port = p.target_port;
        let http = || {
            let routes = Routes::Inline(inbound_route_config(port, p.protocol));
            hcm_filter(&http_connection_manager(format!("inbound_{ANY}_{port}"), routes, Direction::Inbound))
        };
        let tcp = || {
            let cluster = names::inbound_cluster(port);
            tcp_proxy_filter(cluster.clone(), vec![(cluster, 1)])
        };
        let by_port = FilterChainMatch { destination_port: Some(UInt32Value { value: port }), ..Default::default() };
        if is_sniffed(p.protocol) {
            chains.push(inbound_chain(port, sniffing::http_match(Some(port)), http()));
            chains.push(inbound_chain(port, sniffing::raw_match(Some(port)), tcp()));
            sniffed.push(port);
        } else if p.protocol.is_http() {
            chains.push(inbound_chain(port, by_port, http()));
        } else {
            chains.push(inbound_chain(port, by_port, tcp()));
        }
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
    if !sniffed.is_empty() {
        sniffing::enable_inspector(&mut l, scope, &sniffed);
    }
    l
}
