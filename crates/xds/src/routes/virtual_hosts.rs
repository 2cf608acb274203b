//! Virtual hosts of the outbound route configs: the domains a service answers to (Istio's
//! `generateVirtualHostDomains`: the FQDN, the Kubernetes short forms a client in the proxy's
//! namespace can use, the VIPs, each bare and with `:PORT`), the catch-all `allow_any` /
//! `block_all` host, and which VirtualServices apply to a host as seen from the proxy.

use crate::names;
use crate::scope::Scope;
use envoy_types::pb::envoy::config::route::v3::{
    DirectResponseAction, Route, RouteAction, RouteMatch, VirtualHost, route, route_action::ClusterSpecifier,
    route_match::PathSpecifier,
};
use envoy_types::pb::google::protobuf::Duration;
use std::collections::{BTreeSet, HashMap};
use strait_model::Object;
use strait_model::mesh::OutboundMode;
use strait_model::networking::virtual_service::VirtualService;
use strait_registry::hosts::host_matches;
use strait_registry::store::{name_of, namespace_of};
use strait_registry::{Origin, Service};

/// The cluster DNS suffix (`cluster.local` unless the registry says otherwise).
pub(crate) fn dns_domain<'a>(scope: &'a Scope<'_>) -> &'a str {
    if scope.registry.domain.is_empty() { "cluster.local" } else { &scope.registry.domain }
}

/// Resolves a VirtualService/destination host: a name without a dot is a Kubernetes service in
/// the VirtualService's namespace (`reviews` → `reviews.NS.svc.cluster.local`).
pub(crate) fn fqdn(host: &str, namespace: &str, domain: &str) -> String {
    strait_registry::hosts::fqdn(host, namespace, domain)
}

/// True when the VirtualService's `exportTo` lets a proxy in `ns` see it (empty = everyone).
fn exported_to(vs: &Object<VirtualService>, ns: &str) -> bool {
    let own = namespace_of(vs);
    vs.spec.export_to.is_empty() || vs.spec.export_to.iter().any(|e| e == "*" || e == ns || (e == "." && own == ns))
}

/// VirtualServices bound to the mesh, visible from the proxy, with a host covering `hostname`,
/// in (namespace, name) order: their HTTP rules are merged in that order.
pub(crate) fn virtual_services_for<'a>(scope: &Scope<'a>, hostname: &str) -> Vec<&'a Object<VirtualService>> {
    scope.virtual_services().lookup(hostname)
}

/// The mesh-bound VirtualServices visible to one proxy, in (namespace, name) order, with their
/// hosts resolved once: exact hosts in a map, wildcard hosts in a (short) list.
pub(crate) struct VsIndex<'a> {
    ordered: Vec<&'a Object<VirtualService>>,
    exact: HashMap<String, Vec<usize>>,
    wildcard: Vec<(String, usize)>,
}

impl<'a> VsIndex<'a> {
    pub(crate) fn new(scope: &Scope<'a>) -> Self {
        let ns = &scope.proxy.id.namespace;
        let domain = dns_domain(scope);
        let mut ordered: Vec<_> = scope
            .registry
            .config
            .virtual_services
            .iter()
            .filter(|vs| vs.spec.applies_to_mesh() && exported_to(vs, ns))
            .collect();
        ordered.sort_by(|a, b| (namespace_of(a), name_of(a)).cmp(&(namespace_of(b), name_of(b))));
        let (mut exact, mut wildcard) = (HashMap::<String, Vec<usize>>::new(), Vec::new());
        for (i, vs) in ordered.iter().enumerate() {
            for h in &vs.spec.hosts {
                let host = fqdn(h, namespace_of(vs), domain);
                if host.starts_with('*') {
                    wildcard.push((host, i));
                } else {
                    exact.entry(host).or_default().push(i);
                }
            }
        }
        Self { ordered, exact, wildcard }
    }

    /// The VirtualServices with a host covering `hostname`, in (namespace, name) order.
    pub(crate) fn lookup(&self, hostname: &str) -> Vec<&'a Object<VirtualService>> {
        let mut hits: Vec<usize> = self.exact.get(hostname).cloned().unwrap_or_default();
        hits.extend(self.wildcard.iter().filter(|(p, _)| host_matches(p, hostname)).map(|(_, i)| *i));
        hits.sort_unstable();
        hits.dedup();
        hits.into_iter().map(|i| self.ordered[i]).collect()
    }
}

/// `addr` or `[addr]` for IPv6, as it appears in a Host header.
fn host_form(addr: &str) -> String {
    if addr.contains(':') { format!("[{addr}]") } else { addr.to_string() }
}

/// Every Host header value that reaches `svc` on `port`, in Istio's order: FQDN, short forms,
/// VIPs, each bare then `:PORT`.
pub(crate) fn domains(scope: &Scope<'_>, svc: &Service, port: u32) -> Vec<String> {
    let mut names = vec![svc.hostname.clone()];
    if svc.origin == Origin::Kubernetes {
        names.extend(kube_short_forms(&svc.hostname, &scope.proxy.id.namespace, dns_domain(scope)));
    }
    let vips = svc.addresses.iter().filter(|a| !a.contains('/') && a.as_str() != "0.0.0.0" && a.as_str() != "::");
    names.extend(vips.map(|a| host_form(a)));
    names.into_iter().flat_map(|n| [n.clone(), format!("{n}:{port}")]).collect()
}

/// `name`, `name.ns.svc`, `name.ns` for a client in the same namespace; only the
/// namespace-qualified forms from elsewhere (a bare `name` would clash across namespaces).
fn kube_short_forms(hostname: &str, proxy_ns: &str, domain: &str) -> Vec<String> {
    let Some(base) = hostname.strip_suffix(&format!(".svc.{domain}")) else { return Vec::new() };
    let Some((name, ns)) = base.split_once('.') else { return Vec::new() };
    if ns.contains('.') {
        return Vec::new();
    }
    if ns == proxy_ns {
        vec![name.to_string(), format!("{base}.svc"), base.to_string()]
    } else {
        vec![base.to_string(), format!("{base}.svc")]
    }
}

/// Drops domains already claimed by an earlier virtual host (Envoy rejects a route config with
/// a domain twice) and virtual hosts left with none.
pub(crate) fn dedupe_domains(vhosts: Vec<VirtualHost>) -> Vec<VirtualHost> {
    let mut seen = BTreeSet::new();
    vhosts
        .into_iter()
        .filter_map(|mut vh| {
            vh.domains.retain(|d| seen.insert(d.to_ascii_lowercase()));
            (!vh.domains.is_empty()).then_some(vh)
        })
        .collect()
}

/// No timeout (Istio's `Notimeout`).
pub(crate) fn no_timeout() -> Duration {
    Duration { seconds: 0, nanos: 0 }
}

/// Sets the route timeout and caps gRPC's `grpc-timeout` at the same value (0 = none). Istio
/// still uses the deprecated `max_grpc_timeout` (its replacement regressed), so we do too.
#[allow(deprecated)]
pub(crate) fn set_timeout(act: &mut RouteAction, timeout: Duration) {
    act.timeout = Some(timeout);
    act.max_grpc_timeout = Some(timeout);
}

/// The catch-all virtual host for hosts no service claims: `allow_any` → PassthroughCluster
/// under ALLOW_ANY, `block_all` → 502 under REGISTRY_ONLY.
pub(crate) fn catch_all(scope: &Scope<'_>) -> VirtualHost {
    let allow = scope.outbound_mode() != OutboundMode::RegistryOnly;
    let name = if allow { names::ALLOW_ANY_VHOST } else { names::BLOCK_ALL_VHOST };
    let action = if allow {
        let mut act = RouteAction {
            cluster_specifier: Some(ClusterSpecifier::Cluster(names::PASSTHROUGH_CLUSTER.into())),
            ..Default::default()
        };
        set_timeout(&mut act, no_timeout());
        route::Action::Route(act)
    } else {
        route::Action::DirectResponse(DirectResponseAction { status: 502, ..Default::default() })
    };
    VirtualHost {
        name: name.into(),
        domains: vec!["*".into()],
        routes: vec![Route {
            name: name.into(),
            r#match: Some(prefix_all()),
            action: Some(action),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// `prefix: /`.
pub(crate) fn prefix_all() -> RouteMatch {
    RouteMatch { path_specifier: Some(PathSpecifier::Prefix("/".into())), ..Default::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_resolve_and_match() {
        assert_eq!(fqdn("reviews", "default", "cluster.local"), "reviews.default.svc.cluster.local");
        assert_eq!(fqdn("a.b", "default", "cluster.local"), "a.b");
        assert!(host_matches("*.default.svc.cluster.local", "r.default.svc.cluster.local"));
        assert!(!host_matches("*.other.svc.cluster.local", "r.default.svc.cluster.local"));
        assert!(host_matches("*", "x"));
        assert_eq!(kube_short_forms("r.ns.svc.cluster.local", "other", "cluster.local"), ["r.ns", "r.ns.svc"]);
        assert!(kube_short_forms("example.com", "ns", "cluster.local").is_empty());
    }
}
