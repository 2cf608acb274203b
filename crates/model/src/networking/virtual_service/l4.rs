//! Layer-4 routes: [`TlsRoute`] (unterminated TLS, matched on SNI) and [`TcpRoute`], with
//! their match attributes and Istio's `validateTLSRoute` / `validateTCPRoute` rules: TLS
//! routes need matches with SNI hosts that the VirtualService's hosts cover; both need
//! destinations; subnets, ports, source labels and gateways are checked like elsewhere.

use super::VirtualService;
use super::destination::{self, RouteDestination};
use super::hosts;
use super::matching;
use crate::validation::{Validate, Validator, rules};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Istio `TLSRoute`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TlsRoute {
    /// Conditions (ORed). Required: at least one, with SNI hosts.
    #[serde(rename = "match", default, skip_serializing_if = "Vec::is_empty")]
    pub match_: Vec<TlsMatchAttributes>,
    /// Weighted destinations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub route: Vec<RouteDestination>,
}

/// Istio `TLSMatchAttributes`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TlsMatchAttributes {
    /// SNI values to match (wildcards allowed). Required.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sni_hosts: Vec<String>,
    /// Destination IPs or CIDR blocks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destination_subnets: Vec<String>,
    /// Port the connection arrived on (0 = any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// Labels the calling workload must carry.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub source_labels: BTreeMap<String, String>,
    /// Gateways this match is limited to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<String>,
    /// Namespace the calling workload must run in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_namespace: Option<String>,
}

/// Istio `TCPRoute`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TcpRoute {
    /// Conditions (ORed); none means "match everything".
    #[serde(rename = "match", default, skip_serializing_if = "Vec::is_empty")]
    pub match_: Vec<L4MatchAttributes>,
    /// Weighted destinations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub route: Vec<RouteDestination>,
}

/// Istio `L4MatchAttributes`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct L4MatchAttributes {
    /// Destination IPs or CIDR blocks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destination_subnets: Vec<String>,
    /// Port the connection arrived on (0 = any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// Source IP or CIDR block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_subnet: Option<String>,
    /// Labels the calling workload must carry.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub source_labels: BTreeMap<String, String>,
    /// Gateways this match is limited to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<String>,
    /// Namespace the calling workload must run in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_namespace: Option<String>,
}

/// Istio `agent.ValidateIPSubnet`: a CIDR block (one `/`) or a plain IP address.
fn ip_subnet(v: &mut Validator<'_>, subnet: &str) {
    if subnet.matches('/').count() == 1 {
        if rules::parse_ip_or_cidr(subnet).is_err() {
            v.error(format!("{subnet} is not a valid CIDR block"));
        }
    } else if subnet.parse::<std::net::IpAddr>().is_err() {
        v.error(format!("{subnet} is not a valid IP"));
    }
}

/// The source selectors TLS and TCP matches share.
fn source_selectors(
    v: &mut Validator<'_>,
    subnets: &[String],
    port: Option<u32>,
    labels: &BTreeMap<String, String>,
    gateways: &[String],
    namespace: &Option<String>,
) {
    v.each("destinationSubnets", subnets, |v, s| ip_subnet(v, s));
    matching::match_port(v, port);
    v.field("sourceLabels", |v| matching::source_labels(v, labels));
    v.each("gateways", gateways, |v, g| hosts::gateway_name(v, g));
    matching::source_namespace(v, namespace);
}

/// Validates `route` of a TLS or TCP route: present, each destination valid, weights sane.
fn route_destinations(v: &mut Validator<'_>, route: &[RouteDestination], what: &str) {
    if route.is_empty() {
        v.error_at("route", format!("{what} route is required"));
        return;
    }
    v.field("route", |v| {
        for (i, dest) in route.iter().enumerate() {
            v.index(i, |v| dest.validate(v));
        }
        destination::total_weight(v, route.iter().map(|d| d.weight));
    });
}

impl TlsRoute {
    /// Validates the route; SNI hosts are checked against the VirtualService `vs`.
    pub(super) fn validate_in(&self, v: &mut Validator<'_>, vs: &VirtualService) {
        if self.match_.is_empty() {
            v.error_at("match", "TLS route must have at least one match condition");
        }
        v.each("match", &self.match_, |v, m| m.validate_in(v, vs));
        route_destinations(v, &self.route, "TLS");
    }
}

impl TlsMatchAttributes {
    fn validate_in(&self, v: &mut Validator<'_>, vs: &VirtualService) {
        if self.sni_hosts.is_empty() {
            v.error_at("sniHosts", "TLS match must have at least one SNI host");
        }
        v.each("sniHosts", &self.sni_hosts, |v, sni| hosts::sni_host(v, sni, vs));
        source_selectors(
            v,
            &self.destination_subnets,
            self.port,
            &self.source_labels,
            &self.gateways,
            &self.source_namespace,
        );
    }
}

impl Validate for TcpRoute {
    fn validate(&self, v: &mut Validator<'_>) {
        v.each("match", &self.match_, |v, m| m.validate(v));
        route_destinations(v, &self.route, "TCP");
    }
}

impl Validate for L4MatchAttributes {
    fn validate(&self, v: &mut Validator<'_>) {
        source_selectors(
            v,
            &self.destination_subnets,
            self.port,
            &self.source_labels,
            &self.gateways,
            &self.source_namespace,
        );
        // Istio leaves sourceSubnet unchecked; a malformed one could never match anything.
        v.opt("sourceSubnet", &self.source_subnet, |v, s| {
            if !s.is_empty() {
                ip_subnet(v, s);
            }
        });
    }
}
