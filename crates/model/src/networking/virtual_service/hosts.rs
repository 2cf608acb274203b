//! Host-name rules of a VirtualService: the `hosts` list (syntax, `*` only on gateways,
//! overlapping duplicates), SNI hosts of TLS matches (syntax and coverage by `hosts`), gateway
//! references (`mesh`, `<namespace>/<name>`, legacy FQDN) and Istio's wildcard matching of
//! host names (`*.foo.com` covers `bar.foo.com`).

use super::VirtualService;
use crate::validation::{Validator, rules};
use std::net::IpAddr;

/// Prefix of the SNI names Istio generates for AUTO_PASSTHROUGH gateways
/// (`outbound_.<port>_._.<host>`), accepted as hosts of gateway-bound VirtualServices.
const AUTO_SNI_PREFIX: &str = "outbound";
const AUTO_SNI_FORMAT: &str = "outbound_.<PORT>_._.<HOSTNAME>";

/// Istio rejects an all-numeric top-level label (`foo.123`): such a name can only be a
/// mistyped IP address.
fn numeric_tld(domain: &str, rest: &str) -> Option<String> {
    let tld = rest.rsplit('.').next().unwrap_or(rest);
    (!tld.is_empty() && tld.bytes().all(|c| c.is_ascii_digit()))
        .then(|| format!("domain name {domain:?} invalid (top level domain {tld:?} cannot be all-numeric)"))
}

/// Istio `ValidateWildcardDomain`: a DNS name whose first label may be a wildcard.
pub(super) fn wildcard_domain_err(domain: &str) -> Option<String> {
    if let Err(e) = rules::check_wildcard_domain(domain) {
        return Some(e);
    }
    domain.split_once('.').and_then(|(_, rest)| numeric_tld(domain, rest))
}

/// Istio `ValidateFQDN`: a DNS name with no wildcard and no numeric top-level label.
fn fqdn_err(name: &str) -> Option<String> {
    if let Err(e) = rules::check_fqdn(name) {
        return Some(e);
    }
    numeric_tld(name, name)
}

/// Istio `ValidateWildcardDomainForVirtualServiceBoundToGateway`: like
/// [`wildcard_domain_err`], but when the VirtualService has SNI matches it also accepts the
/// auto-generated `outbound_.<port>_._.<host>` names.
fn gateway_host_err(sni: bool, domain: &str) -> Option<String> {
    if domain.len() > 255 || domain.is_empty() {
        return wildcard_domain_err(domain);
    }
    if !(sni && domain.starts_with("outbound_")) {
        return wildcard_domain_err(domain);
    }
    let parts: Vec<&str> = domain.split('_').collect();
    if parts.len() < 4 {
        return Some(format!("domain name {domain} invalid, should follow '{AUTO_SNI_FORMAT}' format"));
    }
    let (direction, port, host) = (parts[0], parts[1].trim_matches('.'), parts[3].trim_matches('.'));
    if direction != AUTO_SNI_PREFIX {
        return Some(format!("domain name {domain:?} invalid (label {direction:?} invalid)"));
    }
    if !port.bytes().any(|c| c.is_ascii_digit()) {
        return Some(format!(
            "domain name {domain:?} invalid (label {port:?} invalid). should follow {AUTO_SNI_FORMAT} format"
        ));
    }
    if !host.bytes().any(|c| c.is_ascii_alphabetic()) {
        return Some(format!(
            "domain name {domain:?} invalid (label {host:?} invalid). should follow {AUTO_SNI_FORMAT} format"
        ));
    }
    None
}

fn is_ip(s: &str) -> bool {
    s.parse::<IpAddr>().is_ok()
}

/// Istio `host.Name.Matches`: the two names overlap (either covers the other).
pub fn host_matches(a: &str, b: &str) -> bool {
    match (a.strip_prefix('*'), b.strip_prefix('*')) {
        (Some(sa), Some(sb)) => {
            if a.len() < b.len() {
                sb.ends_with(sa)
            } else {
                sa.ends_with(sb)
            }
        }
        (Some(sa), None) => b.ends_with(sa),
        (None, Some(sb)) => a.ends_with(sb),
        (None, None) => a == b,
    }
}

/// Istio `host.Name.SubsetOf`: every name `a` matches is also matched by `b`.
pub(super) fn host_subset_of(a: &str, b: &str) -> bool {
    match (a.strip_prefix('*'), b.strip_prefix('*')) {
        (Some(sa), Some(sb)) => a.len() >= b.len() && sa.ends_with(sb),
        (Some(_), None) => false,
        (None, Some(sb)) => a.ends_with(sb),
        (None, None) => a == b,
    }
}

/// Validates `hosts`: syntax (gateway rules when only gateways apply the routes), IPs, `*`
/// only on gateways, and overlapping duplicates (checked only when every host is valid, as
/// Istio does, so one typo does not cascade).
pub(super) fn validate_hosts(v: &mut Validator<'_>, vs: &VirtualService) {
    let (to_gateway, to_mesh, sni) = (vs.bound_to_gateway_only(), vs.applies_to_mesh(), vs.has_sni_hosts());
    let mut all_valid = true;
    v.field("hosts", |v| {
        for (i, host) in vs.hosts.iter().enumerate() {
            let err = if to_gateway { gateway_host_err(sni, host) } else { wildcard_domain_err(host) };
            v.index(i, |v| match err {
                Some(e) if !is_ip(host) => {
                    v.error(e);
                    all_valid = false;
                }
                None if to_mesh && host == "*" => {
                    v.error("wildcard host * is not allowed for virtual services bound to the mesh gateway");
                    all_valid = false;
                }
                _ => {}
            });
        }
        if !all_valid {
            return;
        }
        for (j, later) in vs.hosts.iter().enumerate() {
            for earlier in vs.hosts[..j].iter().filter(|e| host_matches(e, later)) {
                v.index(j, |v| v.error(format!("duplicate hosts in virtual service: {earlier} & {later}")));
            }
        }
    });
}

/// Validates one SNI host of a TLS match: syntax (an IP is only a warning: SNI forbids it,
/// but some clients send one) and coverage by one of the VirtualService's hosts.
pub(super) fn sni_host(v: &mut Validator<'_>, sni: &str, vs: &VirtualService) {
    // Istio applies the gateway syntax whenever `mesh` is not listed explicitly.
    let err = if vs.lists_mesh() { wildcard_domain_err(sni) } else { gateway_host_err(true, sni) };
    if let Some(e) = err {
        if is_ip(sni) {
            v.warn(format!("using an IP address ({sni:?}) goes against SNI spec and most clients do not support this"));
        } else {
            v.error(e);
        }
        return;
    }
    if !vs.hosts.iter().any(|h| host_subset_of(sni, h)) {
        v.error(format!(
            "SNI host {sni:?} is not a compatible subset of any of the virtual service hosts: [{}]",
            vs.hosts.join(", ")
        ));
    }
}

/// Validates a gateway reference: `<namespace>/<name>` with DNS-1123 labels, or a bare name
/// (`mesh`, or a legacy `name.namespace[.svc.cluster.local]` FQDN, which earns a warning).
pub(super) fn gateway_name(v: &mut Validator<'_>, name: &str) {
    let Some((ns, gw)) = name.split_once('/') else {
        if let Some((first, rest)) = name.split_once('.') {
            let ns = rest.split('.').next().unwrap_or(rest);
            v.warn(format!(
                "using legacy gatewayName format {name:?}; prefer the <namespace>/<name> format: \"{ns}/{first}\""
            ));
        }
        if let Some(e) = fqdn_err(name) {
            v.error(e);
        }
        return;
    };
    if ns.is_empty() || gw.is_empty() {
        v.error("config namespace and gateway name cannot be empty");
    }
    if !rules::is_dns1123_label(ns) {
        v.error(format!("invalid value for namespace: {ns:?}"));
    }
    if !rules::is_dns1123_label(gw) {
        v.error(format!("invalid value for gateway name: {gw:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_matching_follows_istio() {
        assert!(host_matches("*.com", "foo.com"));
        assert!(host_matches("bar.com", "*.com"));
        assert!(!host_matches("*.foo.com", "foo.com"));
        assert!(host_matches("*", "*.com"));
        assert!(host_matches("*.foo.bar", "*.bar"));
        assert!(host_subset_of("a.foo.com", "*.foo.com"));
        assert!(host_subset_of("*.a.foo.com", "*.foo.com"));
        assert!(!host_subset_of("*.foo.com", "a.foo.com"));
        assert!(!host_subset_of("*.com", "*.foo.com"));
    }

    #[test]
    fn domains() {
        assert_eq!(wildcard_domain_err("reviews"), None);
        assert_eq!(wildcard_domain_err("*-foo.baz"), None);
        assert!(wildcard_domain_err("foo.123").is_some_and(|e| e.contains("all-numeric")));
        assert!(wildcard_domain_err("1.2.3.4").is_some());
        assert_eq!(gateway_host_err(true, "outbound_.15010_._.istiod.istio-system.svc.cluster.local"), None);
        assert!(gateway_host_err(true, "outbound_.x_._.foo").is_some());
        assert!(gateway_host_err(false, "outbound_.80_._.foo").is_some());
        assert!(fqdn_err("123").is_some());
        assert_eq!(fqdn_err("mesh"), None);
    }
}
