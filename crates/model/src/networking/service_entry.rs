//! Istio `ServiceEntry` (networking.istio.io; v1, v1beta1 and v1alpha3 share one schema):
//! services outside the platform registry (external APIs, VMs, databases) added to Istio's
//! service registry, with their ports, addresses and endpoints.
//!
//! Rules: Istio's `ValidateServiceEntry` (hosts, addresses, ports, and what each resolution
//! mode allows) and the CRD's CEL rules ("hostname cannot be wildcard", "CIDR addresses are
//! allowed only for NONE/STATIC resolution types", unique port names and numbers, …), in
//! their wording. Inline endpoints are [`WorkloadEntry`] values, checked in their role.

use super::listener::Protocol;
use super::workload_entry::{EntryRole, WorkloadEntry};
use crate::types::WorkloadSelector;
use crate::validation::{Validate, Validator, rules};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// `ServiceEntry` spec.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceEntry {
    /// Host names of the service (FQDN or wildcard prefix; not `*`). Required.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// Virtual IPs or CIDR blocks of the service (CIDRs only with NONE/STATIC resolution).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
    /// Ports of the service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ServicePort>,
    /// Inside or outside the mesh (mTLS and telemetry differ).
    #[serde(default)]
    pub location: Location,
    /// How endpoints are found.
    #[serde(default)]
    pub resolution: Resolution,
    /// Inline endpoints; exclusive with `workloadSelector`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<WorkloadEntry>,
    /// Selects Pods and WorkloadEntries (same namespace) as endpoints; exclusive with
    /// `endpoints`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_selector: Option<WorkloadSelector>,
    /// Namespaces the service is visible to (`.`, `*`, `~` or names).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub export_to: Vec<String>,
    /// SANs accepted from the endpoints' certificates (mTLS).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subject_alt_names: Vec<String>,
}

/// Istio `ServicePort`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServicePort {
    /// Port number clients use. Required.
    #[serde(default)]
    pub number: u32,
    /// Protocol (`HTTP`, `HTTPS`, `GRPC`, `HTTP2`, `MONGO`, `TCP`, `TLS`, …); empty means
    /// detected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Port name (a DNS label), unique in the entry. Required.
    #[serde(default)]
    pub name: String,
    /// Port on the endpoints, when it differs from `number`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_port: Option<u32>,
}

/// Istio `ServiceEntry.Location`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Location {
    /// Outside the mesh: no mTLS, no sidecar at the endpoints.
    #[default]
    MeshExternal,
    /// Part of the mesh (VMs with sidecars).
    MeshInternal,
}

/// Istio `ServiceEntry.Resolution`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Resolution {
    /// Forward to the original destination IP (no endpoints).
    #[default]
    None,
    /// Endpoints are the given IPs (or sockets).
    Static,
    /// Resolve the hosts (or endpoint names) and use every address.
    Dns,
    /// Resolve and use the first address only (one endpoint at most).
    DnsRoundRobin,
    /// Resolve per request through Envoy's dynamic forward proxy (wildcard hosts).
    DynamicDns,
}

impl Resolution {
    /// The name as written in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::None => "NONE",
            Resolution::Static => "STATIC",
            Resolution::Dns => "DNS",
            Resolution::DnsRoundRobin => "DNS_ROUND_ROBIN",
            Resolution::DynamicDns => "DYNAMIC_DNS",
        }
    }
}

/// Istio `IsTCP`: protocols that run over a plain TCP connection.
fn is_tcp(p: Option<Protocol>) -> bool {
    matches!(
        p,
        Some(Protocol::Tcp | Protocol::Https | Protocol::Tls | Protocol::Mongo | Protocol::Redis | Protocol::MySql)
    )
}

impl ServicePort {
    fn parsed_protocol(&self) -> Option<Protocol> {
        Protocol::parse(self.protocol.as_deref().unwrap_or(""))
    }
}

impl Validate for ServiceEntry {
    fn validate(&self, v: &mut Validator<'_>) {
        self.validate_selector(v);
        self.validate_hosts(v);
        self.validate_addresses(v);
        self.validate_ports(v);
        self.validate_resolution(v);
        self.validate_endpoints(v);
        rules::export_to(v, &self.export_to, true);
    }
}

impl ServiceEntry {
    /// Istio `ValidateAlphaWorkloadSelector` wording, plus the CRD's exclusivity rule.
    fn validate_selector(&self, v: &mut Validator<'_>) {
        let Some(selector) = &self.workload_selector else { return };
        if !self.endpoints.is_empty() {
            v.error("only one of WorkloadSelector or Endpoints can be set");
        }
        v.field("workloadSelector", |v| {
            v.field("labels", |v| {
                for (key, value) in &selector.labels {
                    v.key(key, |v| {
                        if key.is_empty() {
                            v.error(format!("empty key is not supported in selector: \"={value}\""));
                        }
                        if key.contains('*') || value.contains('*') {
                            v.error(format!("wildcard is not supported in selector: \"{key}={value}\""));
                        }
                        if value.len() > 63 {
                            v.error(format!("Too long: may not be more than 63 bytes (got {})", value.len()));
                        }
                    });
                }
            });
            if selector.labels.is_empty() {
                v.warn("service entry: workload selector specified without labels, will be applied to all services in namespace");
            }
        });
    }

    fn validate_hosts(&self, v: &mut Validator<'_>) {
        if self.hosts.is_empty() {
            v.required("hosts");
        }
        v.field("hosts", |v| rules::max_items(v, self.hosts.len(), 256));
        let dynamic = self.resolution == Resolution::DynamicDns;
        v.each("hosts", &self.hosts, |v, host| {
            if host == "*" {
                v.error("hostname cannot be wildcard");
            } else if let Err(e) = rules::check_wildcard_domain_strict(host) {
                v.error(e);
            } else if !dynamic && host.contains('*') && !host.starts_with("*.") {
                v.warn(format!("partial wildcard {host:?} not allowed"));
            }
        });
    }

    fn validate_addresses(&self, v: &mut Validator<'_>) {
        v.field("addresses", |v| rules::max_items(v, self.addresses.len(), 256));
        let cidr_ok = matches!(self.resolution, Resolution::None | Resolution::Static);
        v.each("addresses", &self.addresses, |v, address| {
            rules::max_length(v, address, 64);
            let is_cidr = address.contains('/');
            if let Err(e) = rules::parse_ip_or_cidr(address) {
                v.error(e);
            }
            if is_cidr && !cidr_ok {
                v.error(format!(
                    "CIDR addresses are allowed only for NONE/STATIC resolution types (got {address} with {})",
                    self.resolution.as_str()
                ));
            }
        });
    }

    fn validate_ports(&self, v: &mut Validator<'_>) {
        v.field("ports", |v| rules::max_items(v, self.ports.len(), 256));
        let mut names = BTreeSet::new();
        let mut numbers = BTreeSet::new();
        v.each("ports", &self.ports, |v, port| {
            v.field("name", |v| {
                if port.name.is_empty() {
                    v.error("Required value");
                } else if !names.insert(port.name.clone()) {
                    v.error(format!(
                        "Duplicate value: {{\"name\":{:?}}}: service entry port name {:?} already defined",
                        port.name, port.name
                    ));
                } else if !rules::is_dns1123_label(&port.name) {
                    v.error(format!("invalid port name: {}", port.name));
                }
                rules::max_length(v, &port.name, 256);
            });
            v.field("number", |v| {
                rules::port(v, port.number);
                if !numbers.insert(port.number) {
                    v.error(format!("port number cannot be duplicated: {}", port.number));
                }
            });
            v.opt("targetPort", &port.target_port, |v, t| rules::port(v, *t));
            v.opt("protocol", &port.protocol, |v, p| {
                if !p.is_empty() && Protocol::parse(p).is_none() {
                    v.error(format!("unsupported protocol: {p}"));
                }
                rules::max_length(v, p, 256);
            });
        });
    }

    /// What each resolution mode allows of hosts, addresses, endpoints and ports.
    fn validate_resolution(&self, v: &mut Validator<'_>) {
        match self.resolution {
            Resolution::None => {
                if !self.endpoints.is_empty() {
                    v.error_at("endpoints", "NONE mode cannot set endpoints");
                }
                if self.workload_selector.is_some() {
                    v.field("workloadSelector", |v| {
                        v.warn("workloadSelector should not be set when resolution mode is NONE")
                    });
                }
            }
            Resolution::Static => {}
            Resolution::Dns | Resolution::DnsRoundRobin => self.validate_dns(v),
            Resolution::DynamicDns => self.validate_dynamic_dns(v),
        }
        // Plain TCP cannot tell several hosts apart (no Host header, no SNI) unless the
        // hosts are ignored altogether (NONE).
        if self.resolution != Resolution::None && self.hosts.len() > 1 {
            let tcp = self.ports.iter().position(|p| {
                let proto = p.parsed_protocol();
                !proto.is_some_and(|p| p.is_http() || p.is_tls())
            });
            if let Some(i) = tcp {
                v.field("ports", |v| v.index(i, |v| v.error("multiple hosts provided with non-HTTP, non-TLS ports")));
            }
        }
    }

    fn validate_dns(&self, v: &mut Validator<'_>) {
        let mode = self.resolution.as_str();
        if self.endpoints.is_empty()
            && let Some((i, e)) =
                self.hosts.iter().enumerate().find_map(|(i, h)| rules::check_fqdn_strict(h).err().map(|e| (i, e)))
        {
            v.field("hosts", |v| {
                v.index(i, |v| {
                    v.error(format!("hosts must be FQDN or contain only prefix wildcards if no endpoints are provided for resolution mode {mode}, {e}"))
                })
            });
        }
        if self.resolution == Resolution::DnsRoundRobin && self.endpoints.len() > 1 {
            v.error_at(
                "endpoints",
                format!("DNS_ROUND_ROBIN mode cannot have multiple endpoints (got {})", self.endpoints.len()),
            );
        }
        let tcp_port = self.ports.iter().any(|p| is_tcp(p.parsed_protocol()));
        if !self.addresses.is_empty() && tcp_port && self.hosts.len() > 1 {
            v.warn("service entry can not have more than one host specified simultaneously with address and tcp port");
        }
    }

    fn validate_dynamic_dns(&self, v: &mut Validator<'_>) {
        let mode = self.resolution.as_str();
        v.each("hosts", &self.hosts, |v, host| {
            if !host.starts_with('*') {
                v.error(format!("host must be wildcarded for resolution mode {mode}"));
            }
        });
        if !self.addresses.is_empty() {
            v.error_at("addresses", format!("addresses cannot be set for resolution type {mode}. HTTP route domains will only be generated from the hosts field values"));
        }
        if !self.endpoints.is_empty() {
            v.error_at("endpoints", format!("endpoints cannot be set for resolution type {mode}. Destination IP address determined from hosts field values"));
        }
        v.each("ports", &self.ports, |v, port| {
            let ok = matches!(
                port.parsed_protocol(),
                Some(Protocol::Http | Protocol::Tls | Protocol::Grpc | Protocol::Http2)
            );
            if !ok {
                v.error_at(
                    "protocol",
                    format!("only HTTP, TLS, GRPC, and HTTP2 protocols are supported for resolution type {mode}"),
                );
            }
        });
    }

    fn validate_endpoints(&self, v: &mut Validator<'_>) {
        v.field("endpoints", |v| rules::max_items(v, self.endpoints.len(), 4096));
        let port_names: BTreeSet<String> = self.ports.iter().map(|p| p.name.clone()).collect();
        let role = match self.resolution {
            Resolution::Static => EntryRole::StaticEndpoint(&port_names),
            Resolution::Dns | Resolution::DnsRoundRobin => EntryRole::DnsEndpoint(&port_names),
            Resolution::None | Resolution::DynamicDns => EntryRole::OtherEndpoint,
        };
        v.each("endpoints", &self.endpoints, |v, e| e.validate_as(v, role));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::validate_spec;
    use serde_json::json;

    fn issues(doc: serde_json::Value) -> Vec<String> {
        let se: ServiceEntry = serde_json::from_value(doc).expect("decodes");
        validate_spec(&se, "default").iter().map(ToString::to_string).collect()
    }

    #[test]
    fn resolution_rules() {
        let got = issues(json!({"hosts": ["a.com"], "addresses": ["10.0.0.0/8"], "resolution": "DNS"}));
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].starts_with("spec.addresses[0]: CIDR addresses are allowed only for NONE/STATIC resolution types")
        );
        let got = issues(json!({"hosts": ["a.com"], "endpoints": [{"address": "1.1.1.1"}]}));
        assert_eq!(got, vec!["spec.endpoints: NONE mode cannot set endpoints"]);
        assert!(
            issues(json!({"hosts": ["a.com"], "resolution": "DNS_ROUND_ROBIN", "endpoints": [{"address": "b.com"}]}))
                .is_empty()
        );
    }

    #[test]
    fn ports_are_unique() {
        let got =
            issues(json!({"hosts": ["a.com"], "ports": [{"number": 1, "name": "a"}, {"number": 1, "name": "a"}]}));
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].starts_with("spec.ports[1].name: Duplicate value: {\"name\":\"a\"}"), "{got:?}");
        assert_eq!(got[1], "spec.ports[1].number: port number cannot be duplicated: 1");
    }
}
