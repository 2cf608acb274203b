//! Consistent-hash routing: a DestinationRule's `loadBalancer.consistentHash` (header, cookie,
//! source IP or query parameter) becomes the route's `hash_policy`, which the ring-hash or
//! Maglev cluster uses to pin requests to hosts. As in Istio, the subset's policy wins over the
//! top-level one, and a weighted route gets a hash policy only when every destination agrees.

use super::action::Ctx;
use crate::destination_rules;
use crate::routes::policy::duration;
use envoy_types::pb::envoy::config::route::v3::route_action::{HashPolicy, hash_policy};
use strait_model::networking::destination_rule::{ConsistentHashLb, TrafficPolicy};
use strait_model::networking::virtual_service::Destination;

fn consistent_hash(tp: Option<&TrafficPolicy>) -> Option<&ConsistentHashLb> {
    tp?.load_balancer.as_ref()?.consistent_hash.as_ref()
}

/// The hash policy for one destination, if its DestinationRule asks for consistent hashing.
pub(crate) fn for_destination(ctx: &Ctx<'_, '_>, d: &Destination) -> Option<HashPolicy> {
    let registry = ctx.scope.registry;
    let host = strait_registry::hosts::fqdn(&d.host, ctx.namespace, &registry.domain);
    let service_ns = ctx.scope.service_for(&host).map_or_else(|| ctx.namespace.to_string(), |s| s.namespace.clone());
    let applied = ctx.scope.destination_rules().lookup(
        ctx.scope.proxy,
        &host,
        &service_ns,
        destination_rules::Direction::Outbound,
    )?;
    let subset = d.subset.as_deref().filter(|s| !s.is_empty());
    let subset_policy = subset
        .and_then(|name| applied.rule.subsets.iter().find(|s| s.name == name))
        .and_then(|s| consistent_hash(s.traffic_policy.as_ref()));
    let ch = subset_policy.or_else(|| consistent_hash(applied.rule.traffic_policy.as_ref()))?;
    specifier(ch).map(|policy_specifier| HashPolicy { policy_specifier: Some(policy_specifier), terminal: false })
}

fn specifier(ch: &ConsistentHashLb) -> Option<hash_policy::PolicySpecifier> {
    use hash_policy::{ConnectionProperties, Cookie, Header, PolicySpecifier, QueryParameter};
    if let Some(name) = ch.http_header_name.as_deref().filter(|n| !n.is_empty()) {
        return Some(PolicySpecifier::Header(Header { header_name: name.to_string(), regex_rewrite: None }));
    }
    if let Some(c) = &ch.http_cookie {
        return Some(PolicySpecifier::Cookie(Cookie {
            name: c.name.clone(),
            path: c.path.clone().unwrap_or_default(),
            ttl: c.ttl.map(duration),
            ..Default::default()
        }));
    }
    if ch.use_source_ip == Some(true) {
        return Some(PolicySpecifier::ConnectionProperties(ConnectionProperties { source_ip: true }));
    }
    let name = ch.http_query_parameter_name.as_deref().filter(|n| !n.is_empty())?;
    Some(PolicySpecifier::QueryParameter(QueryParameter { name: name.to_string() }))
}

/// The route's hash policy: the destinations' common policy, or none when they differ.
pub(crate) fn for_route<'d>(ctx: &Ctx<'_, '_>, destinations: impl Iterator<Item = &'d Destination>) -> Vec<HashPolicy> {
    let mut common: Option<Option<HashPolicy>> = None;
    for d in destinations {
        let p = for_destination(ctx, d);
        match &common {
            None => common = Some(p),
            Some(c) if *c == p => {}
            Some(_) => return Vec::new(),
        }
    }
    common.flatten().into_iter().collect()
}
