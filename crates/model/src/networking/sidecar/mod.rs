//! Istio `Sidecar` (networking.istio.io; v1, v1beta1 and v1alpha3 share one schema): the typed
//! model of istio/api `networking/v1alpha3/sidecar.proto` and the checks of Istio's
//! `ValidateSidecar`, in Istio's wording.
//!
//! This file owns the types and the top-level rules (workload selector, empty configuration,
//! outbound traffic policy, inbound connection pool). Ingress listeners are checked in
//! `ingress`, egress listeners in `egress`; host, protocol and bind rules shared with Gateway
//! live in [`super::listener`]; connection pools are DestinationRule's type and rules.

mod egress;
mod ingress;

use super::destination_rule::ConnectionPoolSettings;
pub use super::server_tls::{ServerTlsSettings, TlsMode, TlsProtocol};
use super::virtual_service::Destination;
use crate::types::WorkloadSelector;
use crate::validation::{Validate, Validator, rules};
use serde::{Deserialize, Serialize};

/// `Sidecar` spec: which inbound ports and outbound hosts a workload's proxy is configured for.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Sidecar {
    /// Workloads this applies to; none means every workload of the namespace (one such
    /// Sidecar per namespace; in the root namespace it is the mesh-wide default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_selector: Option<WorkloadSelector>,
    /// Explicit inbound listeners.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<IstioIngressListener>,
    /// Outbound listeners and the hosts they import.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<IstioEgressListener>,
    /// Default connection pool for every inbound port (DestinationRule's type).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbound_connection_pool: Option<ConnectionPoolSettings>,
    /// What to do with traffic to hosts the sidecar does not know.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_traffic_policy: Option<OutboundTrafficPolicy>,
}

/// An inbound listener on the sidecar.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IstioIngressListener {
    /// The port traffic arrives on. Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<SidecarPort>,
    /// IP to bind (no Unix sockets for ingress).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
    /// How traffic reaches the listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture_mode: Option<CaptureMode>,
    /// Where to forward: `127.0.0.1:PORT`, `[::1]:PORT`, `0.0.0.0:PORT`, `[::]:PORT` or
    /// `unix:///path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_endpoint: Option<String>,
    /// TLS termination for traffic from outside the mesh (SIMPLE or MUTUAL only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ServerTlsSettings>,
    /// Connection pool for this port; overrides `inboundConnectionPool` (DestinationRule's type).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_pool: Option<ConnectionPoolSettings>,
}

/// An outbound listener on the sidecar.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IstioEgressListener {
    /// The port; omitted for the catch-all listener (which must come last). 0 with a Unix
    /// socket bind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<SidecarPort>,
    /// IP or `unix://` socket to bind; needs a port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
    /// How traffic reaches the listener (`DEFAULT` or `NONE` for Unix sockets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture_mode: Option<CaptureMode>,
    /// Imported hosts, `namespace/dnsName` (`./*`, `*/*`, `~/*`, `istio-system/*`, `~ns/*`
    /// to exclude). Required.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
}

/// A sidecar listener's port.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SidecarPort {
    /// Port number (0 for a Unix socket egress listener).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<u32>,
    /// Protocol name; empty means protocol sniffing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Port name (a DNS label when set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Deprecated; has no effect and is rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_port: Option<u32>,
}

impl SidecarPort {
    /// The port number (0 when unset).
    pub fn number(&self) -> u32 {
        self.number.unwrap_or(0)
    }

    /// The protocol name ("" when unset).
    pub fn protocol(&self) -> &str {
        self.protocol.as_deref().unwrap_or("")
    }
}

/// How traffic is captured into a listener.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CaptureMode {
    /// The environment's default.
    #[default]
    Default,
    /// iptables redirection.
    Iptables,
    /// No capture: the application talks to the listener directly.
    None,
}

/// The same modes as the mesh-wide policy (`ALLOW_ANY_DYNAMIC_DNS` is accepted by the decoder
/// only so validation can give Istio's error for it on a Sidecar).
pub use crate::mesh::OutboundMode;

/// `outboundTrafficPolicy` of a Sidecar.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutboundTrafficPolicy {
    /// `REGISTRY_ONLY` (when unset) or `ALLOW_ANY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<OutboundMode>,
    /// Egress proxy for unknown traffic; only with `ALLOW_ANY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress_proxy: Option<Destination>,
}

impl Validate for OutboundTrafficPolicy {
    /// Istio `validateSidecarOutboundTrafficPolicy`.
    fn validate(&self, v: &mut Validator<'_>) {
        let mode = self.mode.unwrap_or_default();
        if mode == OutboundMode::AllowAnyDynamicDns {
            v.error_at(
                "mode",
                "sidecar: ALLOW_ANY_DYNAMIC_DNS mode is only supported in MeshConfig, not in Sidecar resource",
            );
            return;
        }
        let Some(proxy) = &self.egress_proxy else { return };
        if mode != OutboundMode::AllowAny {
            v.error_at(
                "egressProxy",
                "sidecar: egress_proxy must be set only with ALLOW_ANY outbound_traffic_policy mode",
            );
            return;
        }
        v.field("egressProxy", |v| {
            // A wildcard passes Destination's own host rule but an egress proxy must be an FQDN.
            if let Err(e) = rules::check_fqdn_strict(&proxy.host)
                && rules::check_wildcard_domain_strict(&proxy.host).is_ok()
                && proxy.host != "*"
            {
                v.error_at("host", e);
            }
            if proxy.port.is_none() {
                v.error_at("port", "sidecar: egress_proxy port must be non-nil");
            }
            proxy.validate(v);
        });
    }
}

/// Istio `ValidateAlphaWorkloadSelector` plus the CRD's limits (256 labels, values ≤ 63).
fn workload_selector(v: &mut Validator<'_>, selector: &WorkloadSelector) {
    if selector.labels.is_empty() {
        v.warn("sidecar: workload selector specified without labels, will be applied to all services in namespace");
    }
    v.field("labels", |v| {
        if selector.labels.len() > 256 {
            let path = v.path().to_string();
            v.error(format!("{path} in body should have at most 256 properties"));
        }
        for (key, value) in &selector.labels {
            v.key(key, |v| {
                if key.is_empty() {
                    v.error(format!("empty key is not supported in selector: \"{key}={value}\""));
                }
                if key.contains('*') || value.contains('*') {
                    v.error(format!("wildcard is not supported in selector: \"{key}={value}\""));
                }
                rules::max_length(v, value, 63);
            });
        }
    });
}

impl Validate for Sidecar {
    /// Istio `ValidateSidecar`.
    fn validate(&self, v: &mut Validator<'_>) {
        v.opt("workloadSelector", &self.workload_selector, workload_selector);
        if self.egress.is_empty()
            && self.ingress.is_empty()
            && self.outbound_traffic_policy.is_none()
            && self.inbound_connection_pool.is_none()
        {
            v.error("sidecar: empty configuration provided");
        }
        ingress::validate(v, &self.ingress);
        v.opt("inboundConnectionPool", &self.inbound_connection_pool, |v, cp| cp.validate(v));
        egress::validate(v, &self.egress);
        v.opt("outboundTrafficPolicy", &self.outbound_traffic_policy, |v, p| p.validate(v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::validate_spec;
    use serde_json::json;

    fn issues(doc: serde_json::Value) -> String {
        let sc: Sidecar = serde_json::from_value(doc).expect("decodes");
        validate_spec(&sc, "bar").iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
    }

    #[test]
    fn egress_proxy_rules() {
        let proxy = json!({"host": "foo.bar", "subset": "shiny", "port": {"number": 5000}});
        let ok = json!({"outboundTrafficPolicy": {"mode": "ALLOW_ANY", "egressProxy": proxy}});
        assert_eq!(issues(ok), "");
        let out = issues(json!({"outboundTrafficPolicy": {"egressProxy": proxy}}));
        assert!(
            out.contains(
                "spec.outboundTrafficPolicy.egressProxy: sidecar: egress_proxy must be set only with ALLOW_ANY"
            )
        );
        let out = issues(json!({"outboundTrafficPolicy": {"mode": "ALLOW_ANY", "egressProxy": {"host": "*.bar"}}}));
        assert!(out.contains("egressProxy.host: domain name"), "{out}");
        assert!(out.contains("egressProxy.port: sidecar: egress_proxy port must be non-nil"), "{out}");
    }

    #[test]
    fn selector_and_empty() {
        assert_eq!(issues(json!({})), "spec: sidecar: empty configuration provided");
        let out = issues(json!({"workloadSelector": {"labels": {"app": "a*"}}, "egress": [{"hosts": ["*/*"]}]}));
        assert!(out.contains("spec.workloadSelector.labels[app]: wildcard is not supported in selector"), "{out}");
    }
}
