//! Helpers shared by the analyzers, as Istio's `analyzers/util` package and the Kubernetes label
//! selector semantics they rely on: label selectors (`k=v,k2=v2` strings, an empty selector
//! selects everything), host names (short name → FQDN, `*.` wildcards matching either way), and
//! the scoped host map every "does this host exist" check uses (`InitServiceEntryHostMap`).

use std::collections::{BTreeMap, HashMap};

/// The cluster domain Istio's analyzers assume.
pub const CLUSTER_LOCAL: &str = "svc.cluster.local";
/// The `exportTo` value for every namespace.
pub const EXPORT_ALL: &str = "*";
/// The `exportTo` value for the object's own namespace.
pub const EXPORT_LOCAL: &str = ".";
/// The implicit gateway of sidecars.
pub const MESH_GATEWAY: &str = "mesh";

/// `k1=v1,k2=v2` in key order, as `labels.SelectorFromSet(m).String()`.
pub fn selector_string(selector: &BTreeMap<String, String>) -> String {
    selector.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

/// True when every `selector` label is on `labels` (an empty selector selects everything).
pub fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Istio's `ConvertHostToFQDN`: a name without a dot (and not a wildcard) is completed with the
/// namespace and `svc.cluster.local`.
pub fn fqdn(namespace: &str, host: &str) -> String {
    if !host.starts_with('*') && !host.contains('.') {
        format!("{host}.{namespace}.{CLUSTER_LOCAL}")
    } else {
        host.to_string()
    }
}

/// `(namespace, name)` of `name.namespace.svc.cluster.local`, if the host has that shape.
pub fn service_of_fqdn(host: &str) -> Option<(String, String)> {
    let rest = host.strip_suffix(".svc.cluster.local")?;
    let (name, ns) = rest.rsplit_once('.')?;
    (!name.is_empty() && !ns.is_empty()).then(|| (ns.to_string(), name.to_string()))
}

/// Istio's `GetResourceNameFromHost`: the Service a host names, the short name resolved in
/// `default_ns`.
pub fn resource_name_from_host(default_ns: &str, host: &str) -> (String, String) {
    service_of_fqdn(host).unwrap_or_else(|| (default_ns.to_string(), host.to_string()))
}

/// Istio's `host.Name.Matches` (the model's, so validation and analysis agree).
pub use strait_model::networking::virtual_service::host_matches;

/// True when `export_to` exports to every namespace (empty or containing `*`).
pub fn exports_to_all(export_to: &[String]) -> bool {
    export_to.is_empty() || export_to.iter().any(|e| e == EXPORT_ALL)
}

/// A port of a host entry (ServiceEntry port or Kubernetes Service port).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPort {
    /// Port number.
    pub number: u32,
    /// Port name.
    pub name: String,
    /// Declared protocol (ServiceEntry) or L4 protocol (Service).
    pub protocol: String,
}

/// What the host map knows about a host: its ports and, for ServiceEntries, the workload
/// selector.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostEntry {
    /// Ports.
    pub ports: Vec<HostPort>,
    /// `workloadSelector.labels` of a ServiceEntry (empty for Services).
    pub workload_labels: BTreeMap<String, String>,
}

/// Hosts by `(scope, fqdn)`, where scope is `*` or the namespace they are visible in.
#[derive(Debug, Default)]
pub struct HostMap(HashMap<(String, String), HostEntry>);

impl HostMap {
    /// Adds `host` of namespace `ns` visible in `scope`.
    pub fn insert(&mut self, scope: &str, ns: &str, host: &str, entry: HostEntry) {
        self.0.insert((scope.to_string(), fqdn(ns, host)), entry);
    }

    fn get(&self, scope: &str, ns: &str, host: &str) -> Option<&HostEntry> {
        self.0.get(&(scope.to_string(), fqdn(ns, host)))
    }

    /// Istio's `GetDestinationHost`: the entry for `host` as config in `source_ns` with
    /// `export_to` sees it, exact names first, then wildcard entries (in a stable order where
    /// Istio's map iteration is random).
    pub fn destination(&self, source_ns: &str, export_to: &[String], host: &str) -> Option<&HostEntry> {
        if let Some(e) = self.get(EXPORT_ALL, source_ns, host) {
            return Some(e);
        }
        if export_to.is_empty() {
            if let Some(e) = self.get(source_ns, source_ns, host) {
                return Some(e);
            }
        } else {
            for e in export_to {
                let scope = if e == EXPORT_LOCAL { source_ns } else { e.as_str() };
                if let Some(entry) = self.get(scope, source_ns, host) {
                    return Some(entry);
                }
            }
        }
        let host_tail = host.strip_prefix('*').unwrap_or(host);
        let mut wildcards: Vec<_> = self
            .0
            .iter()
            .filter(|((scope, se_host), _)| se_host.starts_with('*') && (scope == EXPORT_ALL || scope == source_ns))
            .collect();
        wildcards.sort_by(|a, b| a.0.cmp(b.0));
        wildcards.into_iter().find(|((_, se_host), _)| host_tail.ends_with(&se_host[1..])).map(|(_, e)| e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(fqdn("default", "reviews"), "reviews.default.svc.cluster.local");
        assert_eq!(fqdn("default", "reviews.other"), "reviews.other");
        assert_eq!(service_of_fqdn("reviews.default.svc.cluster.local"), Some(("default".into(), "reviews".into())));
        assert!(host_matches("*.example.com", "a.example.com"));
        assert!(host_matches("a.example.com", "*.example.com"));
        assert!(host_matches("*", "x"));
        assert!(!host_matches("a.example.com", "b.example.com"));
    }

    #[test]
    fn selectors() {
        let sel: BTreeMap<_, _> = [("b".to_string(), "2".to_string()), ("a".into(), "1".into())].into();
        assert_eq!(selector_string(&sel), "a=1,b=2");
        assert!(selects(&BTreeMap::new(), &sel));
        assert!(selects(&sel, &sel));
    }
}
