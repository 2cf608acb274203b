//! Which DestinationRule applies to a host as seen by one proxy, the way istiod finds it
//! (`PushContext.destinationRule`, `SidecarScope.DestinationRule`): rules of the proxy's own
//! namespace first (of the root namespace's private rules when the proxy lives there), then
//! rules exported by the service's namespace, then rules exported by the mesh root namespace.
//! Within a pool an exact `host` beats the most specific wildcard (`*.example.com` beats `*`),
//! short hosts are resolved in the rule's namespace (`reviews` → `reviews.NS.svc.DOMAIN`), rules
//! for the same host are merged (subsets appended, first top-level policy wins), and a rule
//! with a `workloadSelector` (never exported) wins for the proxies it selects, outbound only.

use std::collections::BTreeMap;
use strait_model::Object;
use strait_model::networking::destination_rule::DestinationRule;
pub use strait_registry::hosts::host_matches;
use strait_registry::store::{name_of, namespace_of};
use strait_registry::{Proxy, Registry};

/// Which side of the proxy the rule is wanted for: `workloadSelector` only counts outbound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Client side (outbound clusters).
    Outbound,
    /// Server side (inbound clusters: connection pool only).
    Inbound,
}

/// The DestinationRule in force for one host: one rule, or several of one namespace merged.
#[derive(Clone, Debug, PartialEq)]
pub struct Applied {
    /// Namespace of the rule(s).
    pub namespace: String,
    /// Names of the merged rules; the first one's top-level policy is the one in force.
    pub names: Vec<String>,
    /// The merged rule, with `host` resolved to a FQDN.
    pub rule: DestinationRule,
}

/// One rule with what the lookup needs precomputed.
struct Entry<'a> {
    object: &'a Object<DestinationRule>,
    namespace: &'a str,
    host: String,
    export: Vec<String>,
}

/// A rule (or merged rules) in a pool, with the bookkeeping the merge needs.
struct Consolidated {
    applied: Applied,
    export: Vec<String>,
    selector: Option<BTreeMap<String, String>>,
}

/// All DestinationRules of a registry, sorted as Istio sorts them, ready for lookups.
pub struct Index<'a> {
    entries: Vec<Entry<'a>>,
    root: String,
    default_private: bool,
}

impl<'a> Index<'a> {
    /// Indexes the registry's DestinationRules.
    pub fn new(registry: &'a Registry) -> Self {
        let domain = if registry.domain.is_empty() { "cluster.local" } else { registry.domain.as_str() };
        let mut entries: Vec<Entry<'a>> = registry
            .config
            .destination_rules
            .iter()
            .map(|object| {
                let namespace = namespace_of(object);
                let export = match object.spec.workload_selector {
                    // Rules with a workloadSelector are never exported (push_context.go).
                    Some(_) => vec![".".to_string()],
                    None => object.spec.export_to.clone(),
                };
                Entry {
                    object,
                    namespace,
                    host: strait_registry::hosts::fqdn(&object.spec.host, namespace, domain),
                    export,
                }
            })
            .collect();
        // Selector rules first, then oldest first, then by name and namespace: the first rule's
        // top-level traffic policy wins a merge.
        entries.sort_by(|a, b| {
            (a.object.spec.workload_selector.is_none(), &a.object.metadata.creation_timestamp, name_of(a.object))
                .cmp(&(
                    b.object.spec.workload_selector.is_none(),
                    &b.object.metadata.creation_timestamp,
                    name_of(b.object),
                ))
                .then_with(|| a.namespace.cmp(b.namespace))
        });
        let mesh = &registry.mesh;
        Index {
            entries,
            root: mesh.effective_root_namespace().to_string(),
            default_private: mesh.default_destination_rule_export_to.iter().any(|e| e == "."),
        }
    }

    /// The rule for `host` (owned by `service_namespace`) as seen by `proxy`.
    pub fn lookup(&self, proxy: &Proxy, host: &str, service_namespace: &str, direction: Direction) -> Option<Applied> {
        let client = proxy.id.namespace.as_str();
        let local: Vec<&Entry<'a>> = if client != self.root {
            self.entries.iter().filter(|e| e.namespace == client && in_local_pool(&e.export, e.namespace)).collect()
        } else {
            self.entries.iter().filter(|e| e.namespace == self.root && self.private_only(e)).collect()
        };
        let found = self
            .pick(&local, host, None)
            .or_else(|| self.pick(&self.exported(service_namespace), host, Some(client)))
            .or_else(|| self.pick(&self.exported(&self.root), host, Some(client)))?;
        select(found, proxy, direction)
    }

    fn private_only(&self, e: &Entry<'_>) -> bool {
        (e.export.is_empty() && self.default_private)
            || (e.export.len() == 1 && (e.export[0] == "." || e.export[0] == e.namespace))
    }

    fn exported(&self, namespace: &str) -> Vec<&Entry<'a>> {
        self.entries.iter().filter(|e| e.namespace == namespace && !self.private_only(e)).collect()
    }

    /// The merged rules of `pool` for the most specific host matching `host`; with `client`,
    /// only those exported to that namespace.
    fn pick(&self, pool: &[&Entry<'a>], host: &str, client: Option<&str>) -> Option<Vec<Consolidated>> {
        let best = most_specific(pool.iter().map(|e| e.host.as_str()), host)?;
        let merged = merge(pool.iter().filter(|e| e.host == best).copied());
        let visible: Vec<Consolidated> = match client {
            None => merged,
            Some(ns) => merged.into_iter().filter(|c| exported_to(&c.export, ns)).collect(),
        };
        (!visible.is_empty()).then_some(visible)
    }
}

/// Finds the rule for `host` in one call (builds an [`Index`]; prefer the index for many hosts).
pub fn lookup(registry: &Registry, proxy: &Proxy, host: &str, service_namespace: &str) -> Option<Applied> {
    Index::new(registry).lookup(proxy, host, service_namespace, Direction::Outbound)
}

/// Exact host first, else the longest wildcard that covers it.
fn most_specific<'h>(hosts: impl Iterator<Item = &'h str>, host: &str) -> Option<String> {
    let mut best: Option<&str> = None;
    for candidate in hosts {
        if candidate == host {
            return Some(candidate.to_string());
        }
        if candidate.starts_with('*') && host_matches(candidate, host) && best.is_none_or(|b| candidate.len() > b.len())
        {
            best = Some(candidate);
        }
    }
    best.map(str::to_string)
}

fn in_local_pool(export: &[String], namespace: &str) -> bool {
    export.is_empty() || export.iter().any(|e| e == "*" || e == "." || e == namespace)
}

fn exported_to(export: &[String], client: &str) -> bool {
    export.is_empty() || export.iter().any(|e| e == "*" || e == client)
}

fn same_set(a: &[String], b: &[String]) -> bool {
    a.iter().all(|x| b.contains(x)) && b.iter().all(|x| a.contains(x))
}

/// Istio's `mergeDestinationRule` (with the enhanced merge on): rules with equal exportTo and
/// compatible selectors are merged; others stay separate.
fn merge<'e, 'a: 'e>(entries: impl Iterator<Item = &'e Entry<'a>>) -> Vec<Consolidated> {
    let mut out: Vec<Consolidated> = Vec::new();
    for e in entries {
        let selector = e.object.spec.workload_selector.as_ref().map(|s| s.match_labels.clone());
        let mut separately = true;
        for m in &mut out {
            if same_set(&e.export, &m.export) {
                separately = false;
            } else if !m.export.is_empty() && m.export.iter().all(|x| e.export.contains(x)) {
                // A wider exportTo merges into the narrower rule and also stands alone.
                separately = true;
            } else {
                separately = true;
                continue;
            }
            let both_with = selector.is_some() && m.selector.is_some();
            if both_with && selector != m.selector {
                separately = true;
                continue;
            }
            if (selector.is_none() && m.selector.is_none()) || both_with {
                separately = false;
            }
            absorb(&mut m.applied, e);
        }
        if separately {
            let mut rule = e.object.spec.clone();
            rule.host = e.host.clone();
            out.push(Consolidated {
                applied: Applied {
                    namespace: e.namespace.to_string(),
                    names: vec![name_of(e.object).to_string()],
                    rule,
                },
                export: e.export.clone(),
                selector,
            });
        }
    }
    out
}

/// Adds `e`'s subsets (new names only) and, if none yet, its top-level policy.
fn absorb(applied: &mut Applied, e: &Entry<'_>) {
    applied.names.push(name_of(e.object).to_string());
    for subset in &e.object.spec.subsets {
        if !applied.rule.subsets.iter().any(|s| s.name == subset.name) {
            applied.rule.subsets.push(subset.clone());
        }
    }
    if applied.rule.traffic_policy.is_none() {
        applied.rule.traffic_policy.clone_from(&e.object.spec.traffic_policy);
    }
}

/// `SidecarScope.DestinationRule`: a selector rule of the proxy's namespace that selects it
/// wins (outbound), else the rule without selector.
fn select(found: Vec<Consolidated>, proxy: &Proxy, direction: Direction) -> Option<Applied> {
    let mut catch_all = None;
    for c in found {
        match &c.selector {
            None => catch_all = Some(c.applied),
            Some(labels) => {
                let selects = labels.iter().all(|(k, v)| proxy.labels.get(k) == Some(v));
                if direction == Direction::Outbound && c.applied.namespace == proxy.id.namespace && selects {
                    return Some(c.applied);
                }
            }
        }
    }
    catch_all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_resolve_and_match_like_istio() {
        assert_eq!(
            strait_registry::hosts::fqdn("reviews", "bookinfo", "cluster.local"),
            "reviews.bookinfo.svc.cluster.local"
        );
        assert_eq!(strait_registry::hosts::fqdn("*.example.com", "x", "cluster.local"), "*.example.com");
        assert_eq!(strait_registry::hosts::fqdn("*", "x", "cluster.local"), "*");
        assert!(host_matches("*.example.com", "a.b.example.com"));
        assert!(!host_matches("*.example.com", "example.com"));
        assert!(host_matches("*", "anything"));
        let hosts = ["*", "*.com", "*.example.com", "other.example.com"];
        assert_eq!(most_specific(hosts.into_iter(), "a.example.com").as_deref(), Some("*.example.com"));
        assert_eq!(most_specific(hosts.into_iter(), "other.example.com").as_deref(), Some("other.example.com"));
        assert_eq!(most_specific(["*.org"].into_iter(), "a.com"), None);
    }
}
