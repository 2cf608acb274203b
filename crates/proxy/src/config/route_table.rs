//! Route configurations: `RouteConfiguration` → [`RouteTable`]: virtual hosts with a domain
//! index built the way Envoy searches it (exact names, then the longest `*suffix`, then the
//! longest `prefix*`, then `*`), each with its ordered routes (match, action, header
//! mutations, per-route fault and CORS policy; virtual hosts may carry a CORS policy too).

use super::action::{Action, Direct, Forward, HeaderMutations, Redirect};
use super::hcm::{CORS_FILTER, FAULT_FILTER};
use super::matcher::RouteMatch;
use super::policy::{Cors, Fault};
use super::{ConfigError, Result, each, no_other_fields};
use envoy_types::pb::envoy::config::route::v3::{
    Route as EnvoyRoute, RouteConfiguration, VirtualHost as EnvoyVirtualHost, route,
};
use std::collections::HashMap;

/// A compiled route configuration.
#[derive(Debug)]
pub struct RouteTable {
    /// Its name (`http_proxy`, `9080`, `inbound|9080||`).
    pub name: String,
    /// Virtual hosts in config order.
    pub vhosts: Vec<VirtualHost>,
    /// Config-level header mutations (applied last).
    pub headers: HeaderMutations,
    index: DomainIndex,
    /// `ignore_port_in_host_matching` (Istio sets it on gateways): `Host: a.com:8080` matches
    /// the domain `a.com`.
    ignore_port: bool,
}

/// A compiled virtual host.
#[derive(Debug)]
pub struct VirtualHost {
    /// Its name (`reviews.default.svc.cluster.local:9080`, `allow_any`).
    pub name: String,
    /// Routes, first match wins.
    pub routes: Vec<Route>,
    /// Header mutations of the virtual host.
    pub headers: HeaderMutations,
    /// Send `x-envoy-attempt-count` upstream.
    pub attempt_count: bool,
    /// CORS policy of the virtual host (a route's own policy takes precedence field by field).
    pub cors: Option<Cors>,
    /// `require_tls` (Istio's `httpsRedirect`): a request not made over https is answered with
    /// this route, whatever its path (Envoy's SSL redirect: 301 to `https://` + `Host` + path).
    pub ssl_redirect: Option<Route>,
}

/// A compiled route.
#[derive(Debug)]
pub struct Route {
    /// Its name (the access log's `%ROUTE_NAME%`).
    pub name: String,
    /// When it applies.
    pub matcher: RouteMatch,
    /// What it does.
    pub action: Action,
    /// Its header mutations.
    pub headers: HeaderMutations,
    /// Fault injection (only when the listener runs the fault filter).
    pub fault: Option<Fault>,
    /// CORS policy.
    pub cors: Option<Cors>,
}

/// Domain → virtual host index, searched in Envoy's order.
#[derive(Debug, Default)]
struct DomainIndex {
    exact: HashMap<String, usize>,
    /// `*suffix` wildcards, longest suffix first.
    suffixes: Vec<(String, usize)>,
    /// `prefix*` wildcards, longest prefix first.
    prefixes: Vec<(String, usize)>,
    any: Option<usize>,
}

impl RouteTable {
    /// The virtual host for a request authority (`Host`), matched case-insensitively.
    pub fn vhost(&self, authority: &str) -> Option<&VirtualHost> {
        let index = &self.index;
        let authority = if self.ignore_port { strip_port(authority) } else { authority };
        let found = if authority.bytes().any(|b| b.is_ascii_uppercase()) {
            index.find(&authority.to_ascii_lowercase())
        } else {
            index.find(authority)
        };
        found.and_then(|i| self.vhosts.get(i))
    }
}

impl DomainIndex {
    fn find(&self, host: &str) -> Option<usize> {
        if let Some(i) = self.exact.get(host) {
            return Some(*i);
        }
        // A wildcard stands for at least one character, as in Envoy.
        let suffix = self.suffixes.iter().find(|(s, _)| host.len() > s.len() && host.ends_with(s.as_str()));
        if let Some((_, i)) = suffix {
            return Some(*i);
        }
        let prefix = self.prefixes.iter().find(|(p, _)| host.len() > p.len() && host.starts_with(p.as_str()));
        prefix.map(|(_, i)| *i).or(self.any)
    }

    fn insert(&mut self, domain: &str, vhost: usize) -> std::result::Result<(), String> {
        let d = domain.to_ascii_lowercase();
        let fresh = if d == "*" {
            self.any.replace(vhost).is_none()
        } else if let Some(suffix) = d.strip_prefix('*') {
            push_unique(&mut self.suffixes, suffix, vhost)
        } else if let Some(prefix) = d.strip_suffix('*') {
            push_unique(&mut self.prefixes, prefix, vhost)
        } else {
            self.exact.insert(d.clone(), vhost).is_none()
        };
        if fresh { Ok(()) } else { Err(format!("domain {domain:?} appears in two virtual hosts")) }
    }

    fn finish(&mut self) {
        self.suffixes.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
        self.prefixes.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
    }
}

/// `host:port` → `host` (`[v6]:port` → `[v6]`); anything else unchanged.
fn strip_port(authority: &str) -> &str {
    match authority.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            if host.starts_with('[') && !host.ends_with(']') { authority } else { host }
        }
        _ => authority,
    }
}

fn push_unique(list: &mut Vec<(String, usize)>, s: &str, vhost: usize) -> bool {
    if list.iter().any(|(x, _)| x == s) {
        return false;
    }
    list.push((s.to_string(), vhost));
    true
}

impl TryFrom<&RouteConfiguration> for RouteTable {
    type Error = ConfigError;

    fn try_from(rc: &RouteConfiguration) -> Result<Self> {
        let vhosts = each("virtual_hosts", &rc.virtual_hosts, |v| VirtualHost::try_from(v))?;
        let mut index = DomainIndex::default();
        for (i, vh) in rc.virtual_hosts.iter().enumerate() {
            for domain in &vh.domains {
                index
                    .insert(domain, i)
                    .map_err(|e| ConfigError::new("domains", e).within(format!("[{i}]")).within("virtual_hosts"))?;
            }
        }
        index.finish();
        let headers = HeaderMutations::new(
            &rc.request_headers_to_add,
            &rc.request_headers_to_remove,
            &rc.response_headers_to_add,
            &rc.response_headers_to_remove,
        )?;
        let rest = RouteConfiguration {
            name: String::new(),
            virtual_hosts: Vec::new(),
            // We never reject a route for naming an unknown cluster: it gets 503 NC at request
            // time, which is what `validate_clusters: false` asks for.
            validate_clusters: None,
            request_headers_to_add: Vec::new(),
            request_headers_to_remove: Vec::new(),
            response_headers_to_add: Vec::new(),
            response_headers_to_remove: Vec::new(),
            metadata: None,
            ignore_port_in_host_matching: false,
            ..rc.clone()
        };
        no_other_fields(&rest)?;
        let ignore_port = rc.ignore_port_in_host_matching;
        Ok(RouteTable { name: rc.name.clone(), vhosts, headers, index, ignore_port })
    }
}

impl TryFrom<&EnvoyVirtualHost> for VirtualHost {
    type Error = ConfigError;

    fn try_from(vh: &EnvoyVirtualHost) -> Result<Self> {
        let routes = each("routes", &vh.routes, |r| Route::try_from(r))?;
        let mut cors = None;
        for (name, any) in &vh.typed_per_filter_config {
            let field = format!("typed_per_filter_config[{name}]");
            match name.as_str() {
                CORS_FILTER => cors = Some(Cors::from_any(any).map_err(|e| e.within(field))?),
                _ => return Err(ConfigError::unsupported(field)),
            }
        }
        let headers = HeaderMutations::new(
            &vh.request_headers_to_add,
            &vh.request_headers_to_remove,
            &vh.response_headers_to_add,
            &vh.response_headers_to_remove,
        )?;
        let rest = EnvoyVirtualHost {
            name: String::new(),
            domains: Vec::new(),
            routes: Vec::new(),
            request_headers_to_add: Vec::new(),
            request_headers_to_remove: Vec::new(),
            response_headers_to_add: Vec::new(),
            response_headers_to_remove: Vec::new(),
            include_request_attempt_count: false,
            typed_per_filter_config: Default::default(),
            metadata: None,
            require_tls: 0,
            ..vh.clone()
        };
        no_other_fields(&rest)?;
        Ok(VirtualHost {
            name: vh.name.clone(),
            routes,
            headers,
            attempt_count: vh.include_request_attempt_count,
            cors,
            ssl_redirect: ssl_redirect(vh.require_tls)?,
        })
    }
}

/// The route of `require_tls`: ALL, or EXTERNAL_ONLY (the same here: no request is internal,
/// see `crate::http::xff`).
fn ssl_redirect(require_tls: i32) -> Result<Option<Route>> {
    use envoy_types::pb::envoy::config::route::v3::{
        RedirectAction, RouteMatch as EnvoyRouteMatch, redirect_action::SchemeRewriteSpecifier, route_match,
        virtual_host::TlsRequirementType,
    };
    match TlsRequirementType::try_from(require_tls) {
        Ok(TlsRequirementType::None) => Ok(None),
        Ok(TlsRequirementType::All | TlsRequirementType::ExternalOnly) => {
            let redirect = RedirectAction {
                scheme_rewrite_specifier: Some(SchemeRewriteSpecifier::HttpsRedirect(true)),
                ..Default::default()
            };
            let any = EnvoyRouteMatch {
                path_specifier: Some(route_match::PathSpecifier::Prefix("/".into())),
                ..Default::default()
            };
            let r = EnvoyRoute {
                r#match: Some(any),
                action: Some(route::Action::Redirect(redirect)),
                ..Default::default()
            };
            Route::try_from(&r).map(Some)
        }
        Err(_) => Err(ConfigError::unsupported("require_tls")),
    }
}

impl TryFrom<&EnvoyRoute> for Route {
    type Error = ConfigError;

    fn try_from(r: &EnvoyRoute) -> Result<Self> {
        let m = r.r#match.as_ref().ok_or_else(|| ConfigError::new("match", "a match is required"))?;
        let matcher = RouteMatch::try_from(m).map_err(|e| e.within("match"))?;
        let action = match &r.action {
            Some(route::Action::Route(a)) => Action::Forward(Forward::try_from(a).map_err(|e| e.within("route"))?),
            Some(route::Action::Redirect(a)) => {
                Action::Redirect(Redirect::try_from(a).map_err(|e| e.within("redirect"))?)
            }
            Some(route::Action::DirectResponse(a)) => {
                Action::Direct(Direct::try_from(a).map_err(|e| e.within("direct_response"))?)
            }
            _ => return Err(ConfigError::new("action", "route, redirect or direct_response is required")),
        };
        let (mut fault, mut cors) = (None, None);
        for (name, any) in &r.typed_per_filter_config {
            let field = format!("typed_per_filter_config[{name}]");
            match name.as_str() {
                FAULT_FILTER => fault = Some(Fault::from_any(any).map_err(|e| e.within(field))?),
                CORS_FILTER => cors = Some(Cors::from_any(any).map_err(|e| e.within(field))?),
                _ => return Err(ConfigError::unsupported(field)),
            }
        }
        let headers = HeaderMutations::new(
            &r.request_headers_to_add,
            &r.request_headers_to_remove,
            &r.response_headers_to_add,
            &r.response_headers_to_remove,
        )?;
        let rest = EnvoyRoute {
            name: String::new(),
            r#match: None,
            action: None,
            typed_per_filter_config: Default::default(),
            request_headers_to_add: Vec::new(),
            request_headers_to_remove: Vec::new(),
            response_headers_to_add: Vec::new(),
            response_headers_to_remove: Vec::new(),
            // Tracing operation names and stats prefixes: no tracing or per-route stats yet.
            decorator: None,
            stat_prefix: String::new(),
            metadata: None,
            ..r.clone()
        };
        no_other_fields(&rest)?;
        Ok(Route { name: r.name.clone(), matcher, action, headers, fault, cors })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(domains: &[&[&str]]) -> DomainIndex {
        let mut ix = DomainIndex::default();
        for (i, ds) in domains.iter().enumerate() {
            for d in *ds {
                ix.insert(d, i).expect("unique");
            }
        }
        ix.finish();
        ix
    }

    #[test]
    fn domains_are_searched_in_envoys_order() {
        let ix = index(&[&["reviews:9080", "reviews"], &["*.example.com"], &["*.b.example.com"], &["api.*"], &["*"]]);
        let table = [
            ("reviews:9080", Some(0)),
            ("reviews", Some(0)),
            ("a.example.com", Some(1)),
            ("x.b.example.com", Some(2)),
            ("api.internal", Some(3)),
            ("example.com", Some(4)),
            ("reviews:9081", Some(4)),
        ];
        for (host, want) in table {
            assert_eq!(ix.find(host), want, "{host}");
        }
        assert_eq!(index(&[&["a"]]).find("b"), None);
    }

    #[test]
    fn ports_are_stripped_for_ignore_port_in_host_matching() {
        let table = [("a.com:8080", "a.com"), ("a.com", "a.com"), ("[::1]:80", "[::1]"), ("[::1]", "[::1]")];
        for (authority, want) in table {
            assert_eq!(strip_port(authority), want, "{authority}");
        }
    }

    #[test]
    fn duplicate_domains_are_refused() {
        let mut ix = DomainIndex::default();
        ix.insert("a", 0).expect("first");
        assert!(ix.insert("A", 1).is_err());
    }
}
