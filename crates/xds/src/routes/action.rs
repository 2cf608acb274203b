//! What a route does (Istio's `applyHTTPRouteDestination`, `ApplyRedirect`,
//! `ApplyDirectResponse`, `TranslateHeadersOperations`): forward to one cluster or weighted
//! clusters (`outbound|PORT|SUBSET|HOST`), rewrite, mirror, redirect or answer directly, and the
//! header operations at route and destination level.

use super::policy::{fraction, per_hundred, per_million};
use super::virtual_hosts::{dns_domain, fqdn};
use crate::names;
use crate::scope::Scope;
use envoy_types::pb::envoy::config::core::v3::{
    DataSource, HeaderValue, HeaderValueOption, data_source::Specifier, header_value_option::HeaderAppendAction,
};
use envoy_types::pb::envoy::config::route::v3::{
    DirectResponseAction, RedirectAction, RouteAction, WeightedCluster,
    redirect_action::{PathRewriteSpecifier, RedirectResponseCode, SchemeRewriteSpecifier},
    route_action::{ClusterSpecifier, HostRewriteSpecifier, RequestMirrorPolicy},
    weighted_cluster::{ClusterWeight, cluster_weight},
};
use envoy_types::pb::envoy::r#type::matcher::v3::RegexMatchAndSubstitute;
use envoy_types::pb::google::protobuf::{BoolValue, UInt32Value};
use strait_model::networking::virtual_service::{
    Destination, HeaderOperations, Headers, HttpDirectResponse, HttpRedirect, HttpRoute, HttpRouteDestination,
    RedirectPortSelection,
};

/// Where routes are being built: the VirtualService's namespace and the route config's port.
pub(crate) struct Ctx<'s, 'a> {
    /// The proxy's view.
    pub scope: &'s Scope<'a>,
    /// Namespace of the VirtualService (short hosts resolve there).
    pub namespace: &'s str,
    /// The port of the route config (default destination port).
    pub port: u32,
}

impl Ctx<'_, '_> {
    /// The cluster for a destination (Istio's `GetDestinationCluster`): the explicit port, else
    /// the service's only port, else the route config's port.
    pub(crate) fn cluster(&self, d: &Destination) -> String {
        let host = fqdn(&d.host, self.namespace, dns_domain(self.scope));
        let port = match d.port.as_ref().map(|p| p.number).filter(|n| *n != 0) {
            Some(n) => n,
            None => match self.scope.service_for(&host) {
                Some(svc) if svc.ports.len() == 1 => svc.ports[0].number,
                _ => self.port,
            },
        };
        names::outbound_cluster(port, d.subset.as_deref().unwrap_or_default(), &host)
    }
}

/// Header operations translated for Envoy, plus the authority they set (a host rewrite).
#[derive(Default)]
pub(crate) struct HeaderOps {
    pub request_add: Vec<HeaderValueOption>,
    pub request_remove: Vec<String>,
    pub response_add: Vec<HeaderValueOption>,
    pub response_remove: Vec<String>,
    pub authority: Option<String>,
}

fn is_internal(name: &str) -> bool {
    name.starts_with(':') || name.eq_ignore_ascii_case("host")
}

fn options(ops: &HeaderOperations, authority: &mut Option<String>) -> Vec<HeaderValueOption> {
    let mut out = Vec::new();
    // `set` then `add`, each sorted by name; a `set` authority wins over an `add` one, as in Istio.
    for (map, action) in
        [(&ops.set, HeaderAppendAction::OverwriteIfExistsOrAdd), (&ops.add, HeaderAppendAction::AppendIfExistsOrAdd)]
    {
        for (key, value) in map {
            if key.eq_ignore_ascii_case(":authority") || key.eq_ignore_ascii_case("host") {
                if action == HeaderAppendAction::OverwriteIfExistsOrAdd || authority.is_none() {
                    *authority = Some(value.clone());
                }
                continue;
            }
            if is_internal(key) {
                continue;
            }
            out.push(HeaderValueOption {
                header: Some(HeaderValue { key: key.clone(), value: value.clone(), ..Default::default() }),
                append_action: action as i32,
                ..Default::default()
            });
        }
    }
    out
}

/// Translates `headers.request/response {set, add, remove}`.
pub(crate) fn header_ops(h: Option<&Headers>) -> HeaderOps {
    let mut out = HeaderOps::default();
    let Some(h) = h else { return out };
    let removals = |ops: &HeaderOperations| ops.remove.iter().filter(|k| !is_internal(k)).cloned().collect();
    if let Some(req) = &h.request {
        out.request_add = options(req, &mut out.authority);
        out.request_remove = removals(req);
    }
    if let Some(resp) = &h.response {
        out.response_add = options(resp, &mut None);
        out.response_remove = removals(resp);
    }
    out
}

/// The forwarding action of an HTTP route (destinations, rewrite, mirrors), with the
/// route-level header authority. Destination-level header ops of a single destination are
/// returned for the caller to add to the route.
pub(crate) fn forward(ctx: &Ctx<'_, '_>, http: &HttpRoute, authority: Option<String>) -> (RouteAction, HeaderOps) {
    let mut action = RouteAction::default();
    let mut authority = authority;
    if let Some(rw) = &http.rewrite {
        if let Some(re) = &rw.uri_regex_rewrite {
            action.regex_rewrite = Some(RegexMatchAndSubstitute {
                pattern: Some(super::matching::regex(re.match_.as_deref().unwrap_or_default())),
                substitution: re.rewrite.clone().unwrap_or_default(),
            });
        } else if let Some(uri) = rw.uri.as_deref().filter(|u| !u.is_empty()) {
            action.prefix_rewrite = uri.to_string();
        }
        if let Some(a) = rw.authority.as_deref().filter(|a| !a.is_empty()) {
            authority = Some(a.to_string());
        }
    }
    action.request_mirror_policies = mirrors(ctx, http);
    let mut dest_ops = HeaderOps::default();
    let live: Vec<&HttpRouteDestination> = http.route.iter().filter(|d| d.weight.unwrap_or(0) > 0).collect();
    if http.route.len() == 1 || live.is_empty() {
        let first = http.route.first();
        let cluster = first.and_then(|d| d.destination.as_ref()).map(|d| ctx.cluster(d));
        action.cluster_specifier = Some(ClusterSpecifier::Cluster(cluster.unwrap_or_else(|| "UnknownService".into())));
        dest_ops = header_ops(first.and_then(|d| d.headers.as_ref()));
        if authority.is_none() {
            authority = dest_ops.authority.take();
        }
    } else {
        let clusters = live.into_iter().map(|d| weighted(ctx, d)).collect();
        action.cluster_specifier =
            Some(ClusterSpecifier::WeightedClusters(WeightedCluster { clusters, ..Default::default() }));
    }
    action.host_rewrite_specifier = authority.map(HostRewriteSpecifier::HostRewriteLiteral);
    let live_or_first = http.route.iter().filter(|d| http.route.len() == 1 || d.weight.unwrap_or(0) > 0);
    action.hash_policy = super::hash::for_route(ctx, live_or_first.filter_map(|d| d.destination.as_ref()));
    (action, dest_ops)
}

fn weighted(ctx: &Ctx<'_, '_>, d: &HttpRouteDestination) -> ClusterWeight {
    let ops = header_ops(d.headers.as_ref());
    ClusterWeight {
        name: d.destination.as_ref().map(|d| ctx.cluster(d)).unwrap_or_default(),
        weight: Some(UInt32Value { value: u32::try_from(d.weight.unwrap_or(0)).unwrap_or(0) }),
        request_headers_to_add: ops.request_add,
        request_headers_to_remove: ops.request_remove,
        response_headers_to_add: ops.response_add,
        response_headers_to_remove: ops.response_remove,
        host_rewrite_specifier: ops.authority.map(cluster_weight::HostRewriteSpecifier::HostRewriteLiteral),
        ..Default::default()
    }
}

/// `mirror` (+ `mirrorPercentage` / `mirrorPercent`, default 100%) and `mirrors[]`.
fn mirrors(ctx: &Ctx<'_, '_>, http: &HttpRoute) -> Vec<RequestMirrorPolicy> {
    let policy = |cluster: String, p| RequestMirrorPolicy {
        cluster,
        runtime_fraction: Some(fraction(p)),
        trace_sampled: Some(BoolValue { value: false }),
        ..Default::default()
    };
    let mut out = Vec::new();
    if let Some(m) = &http.mirror {
        let pct = match (&http.mirror_percentage, http.mirror_percent) {
            (Some(p), _) => (p.value > 0.0).then(|| per_million(p)),
            (None, Some(p)) => (p > 0).then(|| per_hundred(p)),
            (None, None) => Some(per_hundred(100)),
        };
        out.extend(pct.map(|p| policy(ctx.cluster(m), p)));
    }
    for m in &http.mirrors {
        let pct = match &m.percentage {
            Some(p) => (p.value > 0.0).then(|| per_million(p)),
            None => Some(per_hundred(100)),
        };
        if let (Some(p), Some(d)) = (pct, &m.destination) {
            out.push(policy(ctx.cluster(d), p));
        }
    }
    out
}

/// The redirect action; None for a code Envoy cannot send (Istio leaves such routes without an
/// action, which Envoy rejects, so the route is dropped instead).
pub(crate) fn redirect(r: &HttpRedirect, port: u32) -> Option<RedirectAction> {
    let response_code = match r.redirect_code.unwrap_or(0) {
        0 | 301 => RedirectResponseCode::MovedPermanently,
        302 => RedirectResponseCode::Found,
        303 => RedirectResponseCode::SeeOther,
        307 => RedirectResponseCode::TemporaryRedirect,
        308 => RedirectResponseCode::PermanentRedirect,
        _ => return None,
    };
    let mut out = RedirectAction {
        host_redirect: r.authority.clone().unwrap_or_default(),
        response_code: response_code as i32,
        ..Default::default()
    };
    if let Some(p) = r.prefix_rewrite.as_deref().filter(|p| !p.is_empty()) {
        out.path_rewrite_specifier = Some(PathRewriteSpecifier::PrefixRewrite(p.to_string()));
    } else if let Some(uri) = r.uri.as_deref().filter(|u| !u.is_empty()) {
        out.path_rewrite_specifier = Some(PathRewriteSpecifier::PathRedirect(uri.to_string()));
    }
    let scheme = r.scheme.clone().filter(|s| !s.is_empty());
    if r.port.is_some() || r.derive_port.is_some() {
        out.port_redirect = match (r.port, r.derive_port) {
            (Some(p), _) => p,
            (None, Some(RedirectPortSelection::FromRequestPort)) => port,
            _ => 0,
        };
        let effective = scheme.as_deref().unwrap_or("http");
        if (out.port_redirect == 80 && effective == "http") || (out.port_redirect == 443 && effective == "https") {
            out.port_redirect = 0;
        }
    }
    out.scheme_rewrite_specifier = scheme.map(SchemeRewriteSpecifier::SchemeRedirect);
    Some(out)
}

/// The direct response action.
pub(crate) fn direct_response(d: &HttpDirectResponse) -> DirectResponseAction {
    let body = d.body.as_ref().and_then(|b| {
        let spec = match (&b.string, &b.bytes) {
            (Some(s), _) => Specifier::InlineString(s.clone()),
            (None, Some(b64)) => Specifier::InlineBytes(decode_base64(b64)?),
            (None, None) => return None,
        };
        Some(DataSource { specifier: Some(spec), ..Default::default() })
    });
    DirectResponseAction { status: d.status.unwrap_or(200), body, ..Default::default() }
}

/// Standard or URL-safe base64, padding optional (the model validated it).
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    };
    let data = s.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(data.len() * 3 / 4);
    for chunk in data.chunks(4) {
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            acc |= value(*c)? << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::decode_base64;

    #[test]
    fn base64_decodes() {
        assert_eq!(decode_base64("aGVsbG8=").as_deref(), Some(&b"hello"[..]));
        assert_eq!(decode_base64("aGVsbG8h").as_deref(), Some(&b"hello!"[..]));
        assert_eq!(decode_base64("a$"), None);
    }
}
