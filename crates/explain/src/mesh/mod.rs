//! The mesh config a line is explained against (`strait explain -f DIR`): the registry built
//! from the loaded resources, plus the lookups the causes need — which workload an address
//! belongs to, which Service, DestinationRule, VirtualService, ServiceEntry, Sidecar and
//! PeerAuthentication apply to a host or workload, and the effective outbound policy — and the
//! ranked [`Cause`]s (`rank`, with the rules in `routing`, `no_route`, `gateway`, `upstream`,
//! `tls`, `protocol` and `policy`).

mod gateway;
mod no_route;
mod policy;
mod protocol;
pub(crate) mod rank;
mod routing;
mod tls;
mod upstream;

use k8s_openapi::api::core::v1 as core;
use serde::Serialize;
use std::collections::BTreeMap;
use strait_config::LoadReport;
use strait_model::mesh::OutboundMode;
use strait_model::networking::destination_rule::DestinationRule;
use strait_model::networking::virtual_service::VirtualService;
use strait_model::security::peer_authentication::MtlsMode;
use strait_model::{Object, Resource};
use strait_registry::store::{name_of, namespace_of};
use strait_registry::{Registry, Service, Workload, hosts};

/// How sure a cause is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// A guess from the flag alone.
    Possible,
    /// What the line's fields point to.
    Likely,
    /// The mesh config (or the line itself, unambiguously) shows it.
    Confirmed,
}

/// One likely cause, in plain words with the objects involved.
#[derive(Clone, Debug, Serialize)]
pub struct Cause {
    /// Stable identifier (`subset-not-defined`, `registry-only`, …).
    pub id: String,
    /// How sure.
    pub confidence: Confidence,
    /// Ranking score (higher first).
    #[serde(skip)]
    pub score: u32,
    /// The cause, naming the objects.
    pub summary: String,
    /// What in the line or the config supports it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
    /// What to change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// True for a flag's usual cause from the table, not found in the line or config.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub generic: bool,
    /// Checks specific to this cause (`{placeholder}` templates, merged into the explanation's).
    #[serde(skip)]
    pub checks: Vec<&'static str>,
    /// Istio fields specific to this cause (merged into the explanation's).
    #[serde(skip)]
    pub fields: Vec<&'static str>,
}

impl Cause {
    pub(crate) fn new(id: &str, confidence: Confidence, score: u32, summary: impl Into<String>) -> Cause {
        Cause {
            id: id.to_string(),
            confidence,
            score,
            summary: summary.into(),
            evidence: Vec::new(),
            fix: None,
            generic: false,
            checks: Vec::new(),
            fields: Vec::new(),
        }
    }

    pub(crate) fn evidence(mut self, e: impl Into<String>) -> Cause {
        self.evidence.push(e.into());
        self
    }

    pub(crate) fn fix(mut self, f: impl Into<String>) -> Cause {
        self.fix = Some(f.into());
        self
    }

    pub(crate) fn check(mut self, template: &'static str) -> Cause {
        self.checks.push(template);
        self
    }

    pub(crate) fn field(mut self, field: &'static str) -> Cause {
        self.fields.push(field);
        self
    }
}

/// Istio's spelling of an mTLS mode (`STRICT`).
pub(crate) fn mtls_name(m: MtlsMode) -> &'static str {
    match m {
        MtlsMode::Unset => "UNSET",
        MtlsMode::Disable => "DISABLE",
        MtlsMode::Permissive => "PERMISSIVE",
        MtlsMode::Strict => "STRICT",
    }
}

/// The mesh config: registry plus the raw resources it came from.
#[derive(Debug, Default)]
pub struct Mesh {
    /// Services, workloads, Istio config and mesh settings.
    pub registry: Registry,
    resources: Vec<Resource>,
    /// True when the config carried a MeshConfig (else the mesh defaults are a guess).
    pub has_mesh_config: bool,
}

impl Mesh {
    /// From loaded resources.
    pub fn new(resources: Vec<Resource>) -> Mesh {
        let registry = strait_registry::build::build(&resources);
        let has_mesh_config = resources.iter().any(|r| matches!(r, Resource::MeshConfig(_)));
        Mesh { registry, resources, has_mesh_config }
    }

    /// From what `strait_config::load_paths` returned (documents with errors are not in it).
    pub fn from_report(report: &LoadReport) -> Mesh {
        Mesh::new(report.resources.iter().map(|l| l.resource.clone()).collect())
    }

    /// The registry's DNS domain.
    pub fn domain(&self) -> &str {
        if self.registry.domain.is_empty() { "cluster.local" } else { &self.registry.domain }
    }

    /// The workload (pod or WorkloadEntry) with this IP.
    pub fn workload_by_ip(&self, ip: &str) -> Option<&Workload> {
        self.registry.workloads.iter().find(|w| w.ip == ip)
    }

    /// The service a host names: an exact hostname, `name.namespace`, or a short name completed
    /// with `ns` (else any namespace).
    pub fn service(&self, host: &str, ns: Option<&str>) -> Option<&Service> {
        let services = &self.registry.services;
        if let Some(s) = services.iter().find(|s| s.hostname == host) {
            return Some(s);
        }
        let domain = self.domain();
        let dotted = format!("{host}.svc.{domain}");
        if let Some(s) = services.iter().find(|s| s.hostname == dotted) {
            return Some(s);
        }
        if host.contains('.') {
            return services.iter().find(|s| hosts::host_matches(&s.hostname, host));
        }
        let in_ns = ns.map(|ns| hosts::fqdn(host, ns, domain));
        in_ns
            .and_then(|h| services.iter().find(|s| s.hostname == h))
            .or_else(|| services.iter().find(|s| s.hostname.split('.').next() == Some(host)))
    }

    /// The service whose VIP is `ip` (and has `port`, when given).
    pub fn service_by_address(&self, ip: &str, port: Option<u32>) -> Option<&Service> {
        self.registry.services.iter().find(|s| {
            s.addresses.iter().any(|a| a == ip || cidr_contains(a, ip)) && port.is_none_or(|p| s.port(p).is_some())
        })
    }

    /// DestinationRules whose host covers `host` (the FQDN), any namespace.
    pub fn destination_rules(&self, host: &str) -> Vec<&Object<DestinationRule>> {
        let domain = self.domain();
        let rules = &self.registry.config.destination_rules;
        rules
            .iter()
            .filter(|d| hosts::host_matches(&hosts::fqdn(&d.spec.host, namespace_of(d), domain), host))
            .collect()
    }

    /// VirtualServices with a host covering `host` (FQDN or as written).
    pub fn virtual_services(&self, host: &str) -> Vec<&Object<VirtualService>> {
        let domain = self.domain();
        let short = host.split('.').next().unwrap_or(host);
        self.registry
            .config
            .virtual_services
            .iter()
            .filter(|v| {
                v.spec.hosts.iter().any(|h| {
                    let full = hosts::fqdn(h, namespace_of(v), domain);
                    hosts::host_matches(&full, host) || (!host.contains('.') && h == short)
                })
            })
            .collect()
    }

    /// True when a DestinationRule is visible to clients in `client_ns` (`exportTo`).
    pub fn dr_visible(&self, dr: &Object<DestinationRule>, client_ns: &str) -> bool {
        let default = &self.registry.mesh.default_destination_rule_export_to;
        strait_registry::build::visibility(&dr.spec.export_to, default, namespace_of(dr)).visible_to(client_ns)
    }

    /// The outbound policy for a client, with where it comes from: the workload's Sidecar, its
    /// namespace's default Sidecar, the root namespace's, else MeshConfig.
    pub fn outbound_mode(&self, client: Option<&Workload>) -> (OutboundMode, String) {
        let root = self.registry.mesh.effective_root_namespace().to_string();
        let sidecars = &self.registry.config.sidecars;
        let applies = |s: &&Object<strait_model::networking::sidecar::Sidecar>| match client {
            Some(w) => {
                namespace_of(s) == w.namespace
                    && s.spec.workload_selector.as_ref().is_none_or(|sel| selects(&sel.labels, &w.labels))
            }
            None => false,
        };
        let in_ns = sidecars.iter().filter(applies).max_by_key(|s| s.spec.workload_selector.is_some());
        let chosen =
            in_ns.or_else(|| sidecars.iter().find(|s| namespace_of(s) == root && s.spec.workload_selector.is_none()));
        if let Some(s) = chosen
            && let Some(policy) = &s.spec.outbound_traffic_policy
        {
            // A Sidecar's policy defaults to REGISTRY_ONLY when it names no mode.
            let mode = policy.mode.unwrap_or(OutboundMode::RegistryOnly);
            return (mode, format!("Sidecar {}/{}", namespace_of(s), name_of(s)));
        }
        let source = if self.has_mesh_config { "MeshConfig" } else { "the default (no MeshConfig in the config)" };
        (self.registry.mesh.effective_outbound_mode(), source.to_string())
    }

    /// The mTLS mode a server workload accepts on `port`, and the PeerAuthentication deciding it
    /// (workload selector > namespace > root namespace; PERMISSIVE when none).
    pub fn mtls_mode(
        &self,
        ns: &str,
        labels: &BTreeMap<String, String>,
        port: Option<u32>,
    ) -> (MtlsMode, Option<String>) {
        let root = self.registry.mesh.effective_root_namespace();
        let pas = &self.registry.config.peer_authentications;
        let workload = pas.iter().find(|p| {
            namespace_of(p) == ns && p.spec.selector.as_ref().is_some_and(|s| selects(&s.match_labels, labels))
        });
        let namespace = pas.iter().find(|p| namespace_of(p) == ns && p.spec.selector.is_none());
        let mesh = pas.iter().find(|p| namespace_of(p) == root && p.spec.selector.is_none());
        for pa in [workload, namespace, mesh].into_iter().flatten() {
            let by_port = port.and_then(|p| pa.spec.port_level_mtls.as_ref()?.get(&p.to_string()).map(|m| m.mode));
            let mode = by_port.or(pa.spec.mtls.as_ref().map(|m| m.mode)).unwrap_or(MtlsMode::Unset);
            if mode != MtlsMode::Unset {
                return (mode, Some(format!("PeerAuthentication {}/{}", namespace_of(pa), name_of(pa))));
            }
        }
        (MtlsMode::Permissive, None)
    }

    /// `holdApplicationUntilProxyStarts` for a workload: its pod or Deployment annotation
    /// `proxy.istio.io/config`, else MeshConfig `defaultConfig` (None when nothing sets it).
    pub fn hold_application(&self, workload: Option<&Workload>) -> Option<bool> {
        let from_annotation = |ann: Option<&BTreeMap<String, String>>| {
            let cfg = ann?.get("proxy.istio.io/config")?;
            let compact: String = cfg.chars().filter(|c| !c.is_whitespace() && *c != '"').collect();
            compact.find("holdApplicationUntilProxyStarts:").map(|i| compact[i + 32..].starts_with("true"))
        };
        if let Some(w) = workload {
            for r in &self.resources {
                let ann = match r {
                    Resource::Pod(p) if p.metadata.name.as_deref() == Some(&w.name) => p.metadata.annotations.as_ref(),
                    Resource::Deployment(d) if d.metadata.namespace.as_deref() == Some(&w.namespace) => {
                        let t = d.spec.as_ref().and_then(|s| s.template.metadata.as_ref());
                        let labels = t.and_then(|m| m.labels.clone()).unwrap_or_default();
                        if labels.is_empty() || !selects(&labels, &w.labels) {
                            continue;
                        }
                        t.and_then(|m| m.annotations.as_ref())
                    }
                    _ => continue,
                };
                if let Some(hold) = from_annotation(ann) {
                    return Some(hold);
                }
            }
        }
        self.registry.mesh.default_config.as_ref().and_then(|c| c.hold_application_until_proxy_starts)
    }

    /// The Kubernetes Service object `ns/name`.
    pub fn k8s_service(&self, ns: &str, name: &str) -> Option<&core::Service> {
        self.resources.iter().find_map(|r| match r {
            Resource::Service(s)
                if s.metadata.name.as_deref() == Some(name)
                    && s.metadata.namespace.as_deref().unwrap_or("default") == ns =>
            {
                Some(s)
            }
            _ => None,
        })
    }

    /// Pods and Deployments in `ns` whose (template) labels the selector selects, as
    /// `Kind name` strings.
    pub fn selected_workloads(&self, ns: &str, selector: &BTreeMap<String, String>) -> Vec<String> {
        let mut out = Vec::new();
        for r in &self.resources {
            let (kind, meta, labels) = match r {
                Resource::Pod(p) => ("Pod", &p.metadata, p.metadata.labels.clone()),
                Resource::Deployment(d) => {
                    let t = d.spec.as_ref().and_then(|s| s.template.metadata.as_ref());
                    ("Deployment", &d.metadata, t.and_then(|m| m.labels.clone()))
                }
                _ => continue,
            };
            let in_ns = meta.namespace.as_deref().unwrap_or("default") == ns;
            if in_ns && labels.is_some_and(|l| selects(selector, &l)) {
                out.push(format!("{kind} {}", meta.name.as_deref().unwrap_or_default()));
            }
        }
        out
    }

    /// All resources (for rules that need kinds the registry does not keep).
    pub fn resources(&self) -> &[Resource] {
        &self.resources
    }
}

/// True when every selector label is on the workload (an empty selector selects nothing here).
pub(crate) fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// True when `cidr` (`10.0.0.0/8`, `2001:2::/48`) contains `ip`.
pub(crate) fn cidr_contains(cidr: &str, ip: &str) -> bool {
    use std::net::IpAddr;
    let Some((net, bits)) = cidr.split_once('/') else { return false };
    let (Ok(net), Ok(ip), Ok(bits)) = (net.parse::<IpAddr>(), ip.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}
