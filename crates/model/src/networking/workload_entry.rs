//! Istio `WorkloadEntry` (networking.istio.io; v1, v1beta1 and v1alpha3 share one schema): a
//! non-Kubernetes workload (VM, bare metal, external endpoint). The same type is a
//! ServiceEntry's inline endpoint and a WorkloadGroup's template, each with its own rules, so
//! validation is parameterised by [`EntryRole`].
//!
//! Rules: the CRD's CEL rules (address or network required, `unix://` socket paths, port
//! names and numbers, size limits) and Istio's `validateWorkloadEntry` (address is an IP, a
//! DNS name or a socket, depending on the role; ports known to the ServiceEntry; labels).

use crate::networking::listener::UNIX_PREFIX;
use crate::validation::{Validate, Validator, rules};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// The CRD's regex for port names (keys of `ports`).
const PORT_NAME_PATTERN: &str = "^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$";

/// `WorkloadEntry` spec.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadEntry {
    /// IP address, DNS name (ServiceEntry DNS resolution) or `unix://` socket path. May be
    /// empty when `network` is set (reached through that network's gateway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Port name → port number on this workload (overrides the service's target port).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ports: BTreeMap<String, u32>,
    /// Workload labels (selected by services and subsets).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Network the workload is in (multi-network meshes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Locality `region/zone/subzone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    /// Load balancing weight (relative to the service's other endpoints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// Service account the workload runs as (its identity for mTLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
}

/// Where a [`WorkloadEntry`] appears, which decides the address rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryRole<'a> {
    /// A `WorkloadEntry` resource: IP, DNS name or socket.
    Standalone,
    /// An endpoint of a STATIC ServiceEntry: IP or socket; ports named by the service.
    StaticEndpoint(&'a BTreeSet<String>),
    /// An endpoint of a DNS or DNS_ROUND_ROBIN ServiceEntry: IP or DNS name; ports named by
    /// the service.
    DnsEndpoint(&'a BTreeSet<String>),
    /// An endpoint of a ServiceEntry whose resolution takes no endpoints (the ServiceEntry
    /// reports that); only the schema rules apply.
    OtherEndpoint,
    /// A WorkloadGroup template: the address is filled in at registration, so it is optional.
    Template,
}

impl Validate for WorkloadEntry {
    fn validate(&self, v: &mut Validator<'_>) {
        self.validate_as(v, EntryRole::Standalone);
    }
}

impl WorkloadEntry {
    /// The address, or "" when unset.
    pub fn address(&self) -> &str {
        self.address.as_deref().unwrap_or("")
    }

    /// True for a `unix://` socket address.
    pub fn is_unix(&self) -> bool {
        self.address().starts_with(UNIX_PREFIX)
    }

    /// Validates the entry in `role`.
    pub fn validate_as(&self, v: &mut Validator<'_>, role: EntryRole<'_>) {
        self.validate_address(v, role);
        self.validate_ports(v, role);
        v.field("labels", |v| {
            rules::tag_labels(v, &self.labels);
            if self.labels.len() > 256 {
                let path = v.path().to_string();
                v.error(format!("Too many: {}: {path} in body should have at most 256 properties", self.labels.len()));
            }
        });
        v.opt("network", &self.network, |v, n| rules::max_length(v, n, 2048));
        v.opt("locality", &self.locality, |v, l| rules::max_length(v, l, 2048));
        v.opt("serviceAccount", &self.service_account, |v, s| rules::max_length(v, s, 253));
    }

    fn validate_address(&self, v: &mut Validator<'_>, role: EntryRole<'_>) {
        let address = self.address();
        let network = self.network.as_deref().unwrap_or("");
        if address.is_empty() {
            match role {
                EntryRole::Template => {}
                _ if network.is_empty() => v.error_at("address", "Address is required"),
                EntryRole::DnsEndpoint(_) => {
                    v.error_at("address", "endpoint address \"\" is not a valid FQDN or an IP address")
                }
                EntryRole::OtherEndpoint => {}
                _ => v.field("address", |v| v.warn(format!("address is unset with network {network:?}"))),
            }
            return;
        }
        v.field("address", |v| {
            rules::max_length(v, address, 256);
            if let Some(path) = address.strip_prefix(UNIX_PREFIX) {
                unix_socket(v, path);
                if let EntryRole::DnsEndpoint(_) = role {
                    v.error(format!("endpoint address {address:?} is not a valid FQDN or an IP address"));
                }
            } else if address.parse::<IpAddr>().is_err() {
                match role {
                    EntryRole::Standalone | EntryRole::DnsEndpoint(_) if rules::check_fqdn_strict(address).is_err() => {
                        v.error(format!("endpoint address {address:?} is not a valid FQDN or an IP address"))
                    }
                    EntryRole::StaticEndpoint(_) => {
                        v.error(format!("endpoint address {address:?} is not a valid IP address"))
                    }
                    _ => {}
                }
            }
        });
        if let EntryRole::StaticEndpoint(ports) = role
            && self.is_unix()
            && ports.len() != 1
        {
            v.error_at("address", "exactly 1 service port required for unix endpoints");
        }
    }

    fn validate_ports(&self, v: &mut Validator<'_>, role: EntryRole<'_>) {
        let known = match role {
            EntryRole::StaticEndpoint(p) | EntryRole::DnsEndpoint(p) => Some(p),
            _ => None,
        };
        v.field("ports", |v| {
            if self.is_unix() && !self.ports.is_empty() {
                v.error("UDS may not include ports");
            }
            if self.ports.len() > 128 {
                let path = v.path().to_string();
                v.error(format!("Too many: {}: {path} in body should have at most 128 properties", self.ports.len()));
            }
            for (name, number) in &self.ports {
                if !is_port_name(name) {
                    v.error(format!("Invalid value: {name:?}: port name must be valid (1-62 alphanumerics or '-', matching '{PORT_NAME_PATTERN}')"));
                }
                v.key(name, |v| {
                    rules::port(v, *number);
                    if known.is_some_and(|k| !k.contains(name)) {
                        v.error(format!("endpoint port {number} is not defined by the service entry (it has no port named {name:?})"));
                    }
                });
            }
        });
    }
}

/// The CRD's port name rule: shorter than 63 characters, alphanumerics and inner dashes.
pub fn is_port_name(name: &str) -> bool {
    name.len() < 63 && rules::is_dns1123_label(name)
}

/// The CRD's rules for the path after `unix://`: absolute or abstract (`@name`), not a directory.
fn unix_socket(v: &mut Validator<'_>, path: &str) {
    if !(path.starts_with('/') || path.starts_with('@')) {
        v.error(format!("UDS must be an absolute path or abstract socket, got {path:?}"));
    }
    if path.ends_with('/') {
        v.error(format!("UDS may not be a dir, got {path:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::validate_spec;
    use serde_json::json;

    fn issues(doc: serde_json::Value) -> Vec<String> {
        let we: WorkloadEntry = serde_json::from_value(doc).expect("decodes");
        validate_spec(&we, "default").iter().map(ToString::to_string).collect()
    }

    #[test]
    fn addresses() {
        assert!(issues(json!({"address": "1.2.3.4"})).is_empty());
        assert!(issues(json!({"address": "example.com"})).is_empty());
        assert!(issues(json!({"address": "unix:///var/run/x.sock"})).is_empty());
        assert_eq!(issues(json!({})), vec!["spec.address: Address is required"]);
        assert!(issues(json!({"address": "invaliddns.com:9443"}))[0].contains("not a valid FQDN or an IP address"));
        let got = issues(json!({"network": "n1"}));
        assert_eq!(got, vec!["spec.address: address is unset with network \"n1\""]);
    }

    #[test]
    fn ports() {
        let got = issues(json!({"address": "unix://@sock", "ports": {"http": 80}}));
        assert_eq!(got, vec!["spec.ports: UDS may not include ports"]);
        let got = issues(json!({"address": "1.1.1.1", "ports": {"a_b": 0}}));
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].starts_with("spec.ports: Invalid value: \"a_b\""), "{got:?}");
        assert!(got[1].starts_with("spec.ports[a_b]: port must be between 1-65535"), "{got:?}");
    }
}
