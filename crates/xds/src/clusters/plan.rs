//! Which outbound clusters exist for a scope, and the traffic policy each gets: computed once
//! here so CDS ([`super::build`]) and EDS ([`crate::endpoints::build`]) always agree on the
//! names and the discovery type.

use super::policy;
use crate::destination_rules::{Applied, Direction};
use crate::names;
use crate::scope::Scope;
use std::collections::BTreeMap;
use strait_model::networking::destination_rule::{SimpleLb, TrafficPolicy};
use strait_registry::{NodeType, Protocol, Resolution, Service, ServicePort};

/// How a cluster finds its endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Discovery {
    /// Endpoints over EDS (`Static` resolution).
    Eds,
    /// All addresses of DNS names (`Dns`).
    StrictDns,
    /// The first address of a DNS name (`DnsRoundRobin`).
    LogicalDns,
    /// The original destination (`Passthrough`, or LB `PASSTHROUGH`).
    OriginalDst,
}

/// One outbound cluster to build.
pub struct Plan<'a> {
    /// `outbound|PORT|SUBSET|HOST`.
    pub name: String,
    /// The service.
    pub service: &'a Service,
    /// The service port.
    pub port: &'a ServicePort,
    /// Subset name ("" for the default cluster).
    pub subset: String,
    /// Labels the subset selects (empty: all endpoints).
    pub subset_labels: BTreeMap<String, String>,
    /// The effective traffic policy (port level and subset merged).
    pub policy: Option<TrafficPolicy>,
    /// Discovery type.
    pub discovery: Discovery,
    /// The DestinationRule in force, if any.
    pub rule: Option<std::rc::Rc<Applied>>,
}

/// The outbound clusters of the scope, in service then port then subset order.
pub fn outbound<'a>(scope: &Scope<'a>) -> Vec<Plan<'a>> {
    let index = scope.destination_rules();
    let mut out = Vec::new();
    for service in scope.services() {
        let rule =
            index.lookup(scope.proxy, &service.hostname, &service.namespace, Direction::Outbound).map(std::rc::Rc::new);
        for port in service.ports.iter().filter(|p| p.protocol != Protocol::Udp) {
            out.extend(for_port(scope, service, port, rule.as_ref()));
        }
    }
    out
}

/// The default cluster and one per subset for one service port.
fn for_port<'a>(
    scope: &Scope<'a>,
    service: &'a Service,
    port: &'a ServicePort,
    rule: Option<&std::rc::Rc<Applied>>,
) -> Vec<Plan<'a>> {
    let base = base_discovery(service.resolution, scope.proxy.id.node_type);
    let top = rule.and_then(|r| r.rule.traffic_policy.as_ref());
    let (policy, _) = policy::for_port(top, port.number);
    let mut plans = vec![Plan {
        name: names::outbound_cluster(port.number, "", &service.hostname),
        service,
        port,
        subset: String::new(),
        subset_labels: BTreeMap::new(),
        discovery: discovery(base, policy.as_ref()),
        policy,
        rule: rule.cloned(),
    }];
    for subset in rule.map(|r| r.rule.subsets.as_slice()).unwrap_or_default() {
        let policy = policy::for_subset(top, subset.traffic_policy.as_ref(), port.number);
        plans.push(Plan {
            name: names::outbound_cluster(port.number, &subset.name, &service.hostname),
            service,
            port,
            subset: subset.name.clone(),
            subset_labels: subset.labels.clone(),
            discovery: discovery(base, policy.as_ref()),
            policy,
            rule: rule.cloned(),
        });
    }
    plans
}

/// Istio's `convertResolution`: gateways cannot use passthrough clusters, so they get EDS.
fn base_discovery(resolution: Resolution, node: NodeType) -> Discovery {
    match resolution {
        Resolution::Static => Discovery::Eds,
        Resolution::Dns => Discovery::StrictDns,
        Resolution::DnsRoundRobin => Discovery::LogicalDns,
        Resolution::Passthrough if node == NodeType::Router => Discovery::Eds,
        Resolution::Passthrough => Discovery::OriginalDst,
    }
}

/// LB `PASSTHROUGH` turns any cluster into ORIGINAL_DST.
fn discovery(base: Discovery, policy: Option<&TrafficPolicy>) -> Discovery {
    let simple = policy.and_then(|p| p.load_balancer.as_ref()).and_then(|lb| lb.simple);
    if simple == Some(SimpleLb::Passthrough) { Discovery::OriginalDst } else { base }
}
