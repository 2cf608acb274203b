//! Istio `DestinationRule` (networking.istio.io; v1, v1beta1 and v1alpha3 share one schema):
//! the typed model of every field of istio/api `networking/v1alpha3/destination_rule.proto` and
//! the checks of Istio's `ValidateDestinationRule` and of the CRD schema, in Istio's wording.
//!
//! This file owns the top-level spec, subsets, [`TrafficPolicy`] (with its per-port overrides,
//! tunnel, PROXY protocol and retry budget) and the duration rule the parts share. The parts
//! live next door: `load_balancer` (simple, consistent hash, warmup), `locality` (locality and
//! zone-aware load balancing, also used by MeshConfig), `connection_pool` (TCP and HTTP
//! limits, also used by Sidecar), `outlier` (outlier detection) and `tls` (client TLS).

mod connection_pool;
mod load_balancer;
mod locality;
mod outlier;
mod tls;

pub use crate::types::{LabelSelector, PortSelector};
pub use connection_pool::{
    ConnectionKeepalive, ConnectionPoolSettings, H2UpgradePolicy, HttpSettings, TcpKeepalive, TcpSettings,
};
pub use load_balancer::{
    ConsistentHashLb, CookieAttribute, HttpCookie, LoadBalancerSettings, MagLev, RingHash, SimpleLb,
    WarmupConfiguration,
};
pub use locality::{LocalityDistribute, LocalityFailover, LocalityLoadBalancerSetting, ZoneAwareLoadBalancerSetting};
pub use outlier::OutlierDetection;
pub use tls::{ClientTlsSettings, TlsMode};

use crate::types::Duration;
use crate::validation::{Validate, Validator, rules};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// `DestinationRule` spec: policies applied to traffic for a service after routing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DestinationRule {
    /// The service the rule applies to (FQDN, short name resolved in the rule's namespace, or
    /// wildcard prefix). Required.
    #[serde(default)]
    pub host: String,
    /// Policies for all ports and subsets unless overridden.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_policy: Option<TrafficPolicy>,
    /// Named versions of the service (label sets), each with an optional policy override.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subsets: Vec<Subset>,
    /// Namespaces the rule is visible to (`.`, `*` or names); empty means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub export_to: Vec<String>,
    /// Limits the rule to the client workloads with these labels (same namespace only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_selector: Option<LabelSelector>,
}

/// A named subset of a service's endpoints, selected by labels.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Subset {
    /// Subset name (a DNS label), referenced by routes' `destination.subset`. Required.
    #[serde(default)]
    pub name: String,
    /// Endpoint labels that define the subset.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Policy for this subset; overrides the rule-level policy field by field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_policy: Option<TrafficPolicy>,
}

/// Istio `TrafficPolicy`: load balancing, connection limits, outlier detection and TLS for a
/// destination, with per-port overrides.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrafficPolicy {
    /// Load balancer algorithm and locality settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<LoadBalancerSettings>,
    /// Connection and request limits (circuit breaking).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_pool: Option<ConnectionPoolSettings>,
    /// Ejection of unhealthy hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outlier_detection: Option<OutlierDetection>,
    /// TLS towards the upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ClientTlsSettings>,
    /// Per-port overrides (at most 4096).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_level_settings: Vec<PortTrafficPolicy>,
    /// HTTP CONNECT/POST tunnelling of TCP traffic through a proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<TunnelSettings>,
    /// PROXY protocol header sent to the upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_protocol: Option<ProxyProtocol>,
    /// Limit on concurrent retries relative to active requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_budget: Option<RetryBudget>,
}

/// Istio `TrafficPolicy.PortTrafficPolicy`: a policy override for one destination port.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PortTrafficPolicy {
    /// The destination port the override applies to. Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<PortSelector>,
    /// Load balancer override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<LoadBalancerSettings>,
    /// Connection pool override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_pool: Option<ConnectionPoolSettings>,
    /// Outlier detection override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outlier_detection: Option<OutlierDetection>,
    /// TLS override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ClientTlsSettings>,
}

/// Istio `TrafficPolicy.TunnelSettings`: tunnel TCP through an HTTP proxy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TunnelSettings {
    /// `CONNECT` (default) or `POST`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Host the proxy connects to (FQDN or IP). Required.
    #[serde(default)]
    pub target_host: String,
    /// Port the proxy connects to. Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_port: Option<u32>,
}

/// PROXY protocol version sent upstream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProxyProtocolVersion {
    /// Human-readable version 1 (the default).
    #[default]
    V1,
    /// Binary version 2.
    V2,
}

/// Istio `TrafficPolicy.ProxyProtocol`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProxyProtocol {
    /// Version of the header.
    #[serde(default)]
    pub version: ProxyProtocolVersion,
}

/// Istio `TrafficPolicy.RetryBudget` (Envoy's retry budget).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetryBudget {
    /// Retries allowed as a percentage of active requests (0-100; Envoy default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<f64>,
    /// Concurrent retries always allowed (Envoy default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_retry_concurrency: Option<u32>,
    /// Window over which the budget is computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_interval: Option<Duration>,
}

/// Istio `agent.ValidateDuration`: at least 1ms, in whole milliseconds (Envoy's precision).
pub(crate) fn ms_duration(v: &mut Validator<'_>, d: Duration) {
    let std = d.get();
    if std < std::time::Duration::from_millis(1) {
        v.error(format!("duration must be greater than 1ms (got {d})"));
    } else if !std.subsec_nanos().is_multiple_of(1_000_000) {
        v.error(format!("only durations to ms precision are supported (got {d})"));
    }
}

/// Validates an optional duration field with [`ms_duration`].
pub(crate) fn opt_ms_duration(v: &mut Validator<'_>, field: &str, d: Option<Duration>) {
    v.opt(field, &d, |v, d| ms_duration(v, *d));
}

impl Validate for DestinationRule {
    fn validate(&self, v: &mut Validator<'_>) {
        if self.host.is_empty() {
            v.required("host");
        } else if let Err(e) = rules::check_wildcard_domain_strict(&self.host) {
            v.error_at("host", e);
        }
        v.opt("trafficPolicy", &self.traffic_policy, |v, p| p.validate(v));
        let mut names = BTreeSet::new();
        v.each("subsets", &self.subsets, |v, subset| {
            if !subset.name.is_empty() && !names.insert(subset.name.clone()) {
                v.error_at("name", format!("duplicate subset names: {}", subset.name));
            }
            subset.validate(v);
        });
        rules::export_to(v, &self.export_to, false);
        if let Some(selector) = &self.workload_selector {
            v.field("workloadSelector", |v| {
                selector.validate(v);
                if selector.match_labels.is_empty() {
                    v.warn("workload selector specified without labels");
                }
            });
            self.validate_selector_export(v);
        }
    }
}

impl DestinationRule {
    /// A rule with a workload selector only applies in its own namespace, so Istio refuses to
    /// export it anywhere else.
    fn validate_selector_export(&self, v: &mut Validator<'_>) {
        if self.export_to.is_empty() {
            return;
        }
        let ns = v.ctx.namespace.clone();
        let targets: BTreeSet<&str> =
            self.export_to.iter().map(|e| if e == "." { ns.as_str() } else { e.as_str() }).collect();
        let message = if !targets.contains(ns.as_str()) {
            "destination rule with workload selector cannot have exportTo beyond current namespace"
        } else if targets.len() > 1 {
            "destination rule with workload selector cannot have multiple entries in exportTo"
        } else {
            return;
        };
        v.error_at("exportTo", message);
    }
}

impl Validate for Subset {
    fn validate(&self, v: &mut Validator<'_>) {
        if self.name.is_empty() {
            v.required("name");
        } else if !rules::is_dns1123_label(&self.name) {
            v.error_at("name", format!("subset name is invalid: {}", self.name));
        }
        v.field("labels", |v| rules::tag_labels(v, &self.labels));
        v.opt("trafficPolicy", &self.traffic_policy, |v, p| p.validate(v));
    }
}

impl Validate for TrafficPolicy {
    fn validate(&self, v: &mut Validator<'_>) {
        let empty = self.load_balancer.is_none()
            && self.connection_pool.is_none()
            && self.outlier_detection.is_none()
            && self.tls.is_none()
            && self.port_level_settings.is_empty()
            && self.tunnel.is_none()
            && self.proxy_protocol.is_none()
            && self.retry_budget.is_none();
        if empty {
            v.error("traffic policy must have at least one field");
        }
        if self.tunnel.is_some() && self.proxy_protocol.is_some() {
            v.error("tunnel and proxyProtocol must not be set together");
        }
        let has_outlier = self.outlier_detection.is_some();
        v.opt("outlierDetection", &self.outlier_detection, |v, o| o.validate(v));
        v.opt("connectionPool", &self.connection_pool, |v, c| c.validate(v));
        v.opt("loadBalancer", &self.load_balancer, |v, lb| lb.validate_with(v, has_outlier));
        v.opt("tls", &self.tls, |v, t| t.validate(v));
        v.field("portLevelSettings", |v| rules::max_items(v, self.port_level_settings.len(), 4096));
        v.each("portLevelSettings", &self.port_level_settings, |v, p| p.validate(v));
        v.opt("tunnel", &self.tunnel, |v, t| t.validate(v));
        v.opt("retryBudget", &self.retry_budget, |v, r| r.validate(v));
    }
}

impl Validate for PortTrafficPolicy {
    fn validate(&self, v: &mut Validator<'_>) {
        match &self.port {
            Some(port) => v.field("port", |v| port.validate(v)),
            None => v.error_at("port", "portTrafficPolicy must have valid port"),
        }
        if self.outlier_detection.is_none()
            && self.connection_pool.is_none()
            && self.load_balancer.is_none()
            && self.tls.is_none()
        {
            v.error("port traffic policy must have at least one field");
        }
        let has_outlier = self.outlier_detection.is_some();
        v.opt("outlierDetection", &self.outlier_detection, |v, o| o.validate(v));
        v.opt("connectionPool", &self.connection_pool, |v, c| c.validate(v));
        v.opt("loadBalancer", &self.load_balancer, |v, lb| lb.validate_with(v, has_outlier));
        v.opt("tls", &self.tls, |v, t| t.validate(v));
    }
}

impl Validate for TunnelSettings {
    fn validate(&self, v: &mut Validator<'_>) {
        if let Some(p) = self.protocol.as_deref().filter(|p| !p.is_empty() && *p != "CONNECT" && *p != "POST") {
            v.error_at("protocol", format!("tunnel protocol must be \"CONNECT\" or \"POST\", got {p:?}"));
        }
        if self.target_host.is_empty() {
            v.required("targetHost");
        } else if self.target_host.parse::<std::net::IpAddr>().is_err()
            && let Err(e) = rules::check_fqdn_strict(&self.target_host)
        {
            v.error_at(
                "targetHost",
                format!(
                    "tunnel target host must be valid FQDN or IP address: {e}; {} is not a valid IP",
                    self.target_host
                ),
            );
        }
        match self.target_port {
            None => v.required("targetPort"),
            Some(p) if !(1..=65535).contains(&p) => v.error_at(
                "targetPort",
                format!("tunnel target port is invalid: port number {p} must be in the range 1..65535"),
            ),
            Some(_) => {}
        }
    }
}

impl Validate for RetryBudget {
    fn validate(&self, v: &mut Validator<'_>) {
        v.opt("percent", &self.percent, |v, p| rules::openapi_range(v, *p, Some(0.0), Some(100.0)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::validate_spec;
    use serde_json::json;

    fn issues(doc: serde_json::Value) -> Vec<String> {
        let dr: DestinationRule = serde_json::from_value(doc).expect("decodes");
        validate_spec(&dr, "default").iter().map(ToString::to_string).collect()
    }

    #[test]
    fn durations_need_millisecond_precision() {
        let got = issues(json!({"host": "a", "trafficPolicy": {"outlierDetection": {"interval": "1500us"}}}));
        assert!(got[0].contains("only durations to ms precision"), "{got:?}");
        let got = issues(json!({"host": "a", "trafficPolicy": {"outlierDetection": {"interval": "0s"}}}));
        assert!(got[0].contains("duration must be greater than 1ms"), "{got:?}");
    }

    #[test]
    fn selector_rules_keep_the_rule_at_home() {
        let got =
            issues(json!({"host": "a", "workloadSelector": {"matchLabels": {"app": "x"}}, "exportTo": ["other"]}));
        assert_eq!(
            got,
            vec![
                "spec.exportTo: destination rule with workload selector cannot have exportTo beyond current namespace"
            ]
        );
        let got = issues(json!({"host": "a", "workloadSelector": {"matchLabels": {"app": "x"}}, "exportTo": ["."]}));
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn tunnel_needs_target() {
        let got = issues(json!({"host": "a", "trafficPolicy": {"tunnel": {"protocol": "GET"}}}));
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got.contains(&"spec.trafficPolicy.tunnel.targetPort: Required value".to_string()));
    }
}
