//! Host names as Istio resolves them in config: a short name (`reviews`) is completed with the
//! config's namespace and the cluster domain; anything with a dot, an IP or `*` is taken as
//! written (Istio's `ResolveShortnameToFQDN`). And the lookup of the registry service a host
//! names, as seen from a namespace.

use crate::{Registry, Service};
use std::net::IpAddr;

/// True when a (possibly wildcard) host `pattern` covers `host`: `*` covers everything,
/// `*.example.com` covers any name ending in `.example.com` (not `example.com` itself), anything
/// else must be equal. Used for VirtualService, DestinationRule and Sidecar egress hosts.
pub fn host_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix('*') {
        Some("") => true,
        Some(suffix) => host.len() > suffix.len() && host.ends_with(suffix),
        None => pattern == host,
    }
}

/// The fully qualified host for `host` written in config of `namespace`: `reviews` in
/// `default` is `reviews.default.svc.cluster.local`; `reviews.default`, `*.example.com`, `*`
/// and IP addresses are returned unchanged (Istio only completes names without a dot).
pub fn fqdn(host: &str, namespace: &str, domain: &str) -> String {
    if host.is_empty() || host == "*" || host.contains('.') || host.parse::<IpAddr>().is_ok() {
        return host.to_string();
    }
    let mut out = host.to_string();
    if !namespace.is_empty() {
        out = format!("{out}.{namespace}");
    }
    if !domain.is_empty() {
        out = format!("{out}.svc.{domain}");
    }
    out
}

/// The service with exactly this hostname that a proxy in `from_ns` may see, preferring one
/// owned by `from_ns` (Istio's rule when several namespaces define the same host).
pub fn service_for<'a>(reg: &'a Registry, host: &str, from_ns: &str) -> Option<&'a Service> {
    let mut visible = reg.services.iter().filter(|s| s.hostname == host && s.visibility.visible_to(from_ns));
    let first = visible.next()?;
    if first.namespace == from_ns {
        return Some(first);
    }
    Some(visible.find(|s| s.namespace == from_ns).unwrap_or(first))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Origin, Resolution, Visibility};

    #[test]
    fn fqdn_table() {
        let cases = [
            ("reviews", "default", "cluster.local", "reviews.default.svc.cluster.local"),
            ("reviews", "shop", "example.org", "reviews.shop.svc.example.org"),
            ("reviews.default", "shop", "cluster.local", "reviews.default"),
            ("reviews.default.svc.cluster.local", "shop", "cluster.local", "reviews.default.svc.cluster.local"),
            ("*.example.com", "default", "cluster.local", "*.example.com"),
            ("*", "default", "cluster.local", "*"),
            ("10.0.0.1", "default", "cluster.local", "10.0.0.1"),
            ("::1", "default", "cluster.local", "::1"),
            ("", "default", "cluster.local", ""),
            ("reviews", "", "", "reviews"),
        ];
        for (host, ns, domain, want) in cases {
            assert_eq!(fqdn(host, ns, domain), want, "{host} {ns} {domain}");
        }
    }

    fn svc(host: &str, ns: &str, visibility: Visibility) -> Service {
        Service {
            hostname: host.into(),
            namespace: ns.into(),
            origin: Origin::ServiceEntry { internal: false },
            resolution: Resolution::Dns,
            addresses: vec![],
            ports: vec![],
            endpoints: vec![],
            visibility,
            labels: Default::default(),
        }
    }

    #[test]
    fn service_for_prefers_own_namespace_and_honours_visibility() {
        let reg = Registry {
            services: vec![
                svc("api.example.com", "a", Visibility::Public),
                svc("api.example.com", "b", Visibility::Public),
                svc("db.example.com", "a", Visibility::Namespaces(vec!["a".into()])),
            ],
            ..Registry::default()
        };
        let ns_of = |host: &str, from: &str| service_for(&reg, host, from).map(|s| s.namespace.clone());
        assert_eq!(ns_of("api.example.com", "b").as_deref(), Some("b"));
        assert_eq!(ns_of("api.example.com", "a").as_deref(), Some("a"));
        assert_eq!(ns_of("api.example.com", "c").as_deref(), Some("a"));
        assert_eq!(ns_of("db.example.com", "a").as_deref(), Some("a"));
        assert_eq!(ns_of("db.example.com", "b"), None);
        assert_eq!(ns_of("nope.example.com", "a"), None);
    }
}
