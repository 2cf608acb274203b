//! Where a route sends traffic: [`Destination`] (host, subset, port) and the weighted
//! [`RouteDestination`] of TLS and TCP routes, with Istio's destination and weight rules.
//! Weights are relative (`weight / sum`), so only negative weights and an all-zero split of
//! several destinations are errors; a lone destination's weight is ignored.

use super::hosts;
use crate::types::PortSelector;
use crate::validation::{Validate, Validator, rules};
use serde::{Deserialize, Serialize};

/// Istio `Destination`: a service in the registry, optionally a subset and port of it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Destination {
    /// Service host (FQDN, short name resolved in the VirtualService's namespace, or a
    /// ServiceEntry host). Required.
    #[serde(default)]
    pub host: String,
    /// Subset defined in a DestinationRule for the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subset: Option<String>,
    /// Port of the host; required when the service exposes several ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<PortSelector>,
}

impl Validate for Destination {
    fn validate(&self, v: &mut Validator<'_>) {
        v.field("host", |v| {
            if self.host.is_empty() {
                v.error("Required value");
            } else if self.host == "*" {
                v.error("invalid destination host *");
            } else if let Some(e) = hosts::wildcard_domain_err(&self.host) {
                v.error(e);
            }
        });
        if let Some(subset) = self.subset.as_deref().filter(|s| !s.is_empty())
            && !rules::is_dns1123_label(subset)
        {
            v.error_at("subset", format!("subset name is invalid: {subset}"));
        }
        v.opt("port", &self.port, |v, p| p.validate(v));
    }
}

/// Istio `RouteDestination` (TLS and TCP routes): a destination and its relative weight.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteDestination {
    /// Where to send the connection. Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<Destination>,
    /// Relative weight; 0 (the default) sends nothing when there are several destinations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
}

impl Validate for RouteDestination {
    fn validate(&self, v: &mut Validator<'_>) {
        required_destination(v, &self.destination);
        weight(v, self.weight);
    }
}

/// Validates a destination that the CRD marks required (missing: Kubernetes' "Required value").
pub(super) fn required_destination(v: &mut Validator<'_>, destination: &Option<Destination>) {
    match destination {
        Some(d) => v.field("destination", |v| d.validate(v)),
        None => v.required("destination"),
    }
}

/// Records an error for a negative weight (at `weight`).
pub(super) fn weight(v: &mut Validator<'_>, weight: Option<i32>) {
    if let Some(w) = weight.filter(|w| *w < 0) {
        v.error_at("weight", format!("weight {w} < 0"));
    }
}

/// Records an error at the current path (the route list) when several destinations all
/// weigh 0: Envoy would have nowhere to send traffic.
pub(super) fn total_weight(v: &mut Validator<'_>, weights: impl ExactSizeIterator<Item = Option<i32>>) {
    let count = weights.len();
    let total: i64 = weights.map(|w| i64::from(w.unwrap_or(0))).sum();
    if count > 1 && total == 0 {
        v.error("total destination weight = 0");
    }
}
