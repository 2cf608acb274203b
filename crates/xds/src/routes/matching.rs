//! HTTP match conditions → Envoy `RouteMatch` (Istio's `TranslateRouteMatch`): the path
//! (exact / prefix / RE2 `safe_regex`, `ignoreUriCase`), headers and `withoutHeaders`
//! (inverted), method / authority / scheme as pseudo-headers, query parameters, and the
//! source selectors (`sourceLabels`, `sourceNamespace`, `gateways`) that decide whether a match
//! applies to this sidecar at all.

use envoy_types::pb::envoy::config::route::v3::{
    HeaderMatcher, QueryParameterMatcher, RouteMatch, header_matcher::HeaderMatchSpecifier,
    query_parameter_matcher::QueryParameterMatchSpecifier, route_match::PathSpecifier,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{RegexMatcher, StringMatcher, string_matcher::MatchPattern};
use envoy_types::pb::google::protobuf::BoolValue;
use strait_model::networking::virtual_service::{HttpMatchRequest, MESH_GATEWAY, StringMatch};
use strait_registry::Proxy;

/// Envoy's RE2 matcher for `re` (full match, as Istio's regex semantics).
pub(crate) fn regex(re: &str) -> RegexMatcher {
    RegexMatcher { regex: re.to_string(), engine_type: None }
}

/// An Istio StringMatch as an Envoy StringMatcher (None when no kind is set).
pub(crate) fn string_matcher(sm: &StringMatch) -> Option<StringMatcher> {
    let pattern = if let Some(e) = &sm.exact {
        MatchPattern::Exact(e.clone())
    } else if let Some(p) = &sm.prefix {
        MatchPattern::Prefix(p.clone())
    } else {
        MatchPattern::SafeRegex(regex(sm.regex.as_deref()?))
    };
    Some(StringMatcher { match_pattern: Some(pattern), ignore_case: false })
}

/// Istio turns an empty match and `regex: "*"` (not RE2) into "present".
fn is_presence(sm: &StringMatch) -> bool {
    (sm.exact.is_none() && sm.prefix.is_none() && sm.regex.is_none()) || sm.regex.as_deref() == Some("*")
}

fn header(name: &str, sm: &StringMatch) -> HeaderMatcher {
    let spec = if is_presence(sm) {
        Some(HeaderMatchSpecifier::PresentMatch(true))
    } else {
        string_matcher(sm).map(HeaderMatchSpecifier::StringMatch)
    };
    HeaderMatcher { name: name.to_string(), header_match_specifier: spec, ..Default::default() }
}

/// JWT-claim "headers" are gateway-only (IST0149); a sidecar has nothing to match them on.
fn is_claim(name: &str) -> bool {
    name.to_ascii_lowercase().starts_with("@request.auth.claims")
}

/// Translates one match (None = match everything under `/`).
pub(crate) fn route_match(m: Option<&HttpMatchRequest>) -> RouteMatch {
    let mut out = RouteMatch { path_specifier: Some(PathSpecifier::Prefix("/".into())), ..Default::default() };
    let Some(m) = m else { return out };
    out.headers = m.headers.iter().filter(|(k, _)| !is_claim(k)).map(|(k, sm)| header(k, sm)).collect();
    for (name, sm) in m.without_headers.iter().filter(|(k, _)| !is_claim(k)) {
        let mut h = header(name, sm);
        h.invert_match = true;
        // Envoy refuses treat_missing_header_as_empty together with present_match.
        h.treat_missing_header_as_empty = !is_presence(sm);
        out.headers.push(h);
    }
    out.headers.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(uri) = &m.uri {
        out.path_specifier = Some(if let Some(e) = &uri.exact {
            PathSpecifier::Path(e.clone())
        } else if let Some(re) = &uri.regex {
            PathSpecifier::SafeRegex(regex(re))
        } else {
            PathSpecifier::Prefix(uri.prefix.clone().unwrap_or_else(|| "/".into()))
        });
    }
    out.case_sensitive = Some(BoolValue { value: !m.ignore_uri_case.unwrap_or(false) });
    for (name, sm) in [(":method", &m.method), (":authority", &m.authority), (":scheme", &m.scheme)] {
        if let Some(sm) = sm {
            out.headers.push(header(name, sm));
        }
    }
    out.query_parameters = m.query_params.iter().map(|(k, sm)| query_param(k, sm)).collect();
    out
}

fn query_param(name: &str, sm: &StringMatch) -> QueryParameterMatcher {
    let spec = if is_presence(sm) {
        Some(QueryParameterMatchSpecifier::PresentMatch(true))
    } else {
        string_matcher(sm).map(QueryParameterMatchSpecifier::StringMatch)
    };
    QueryParameterMatcher { name: name.to_string(), query_parameter_match_specifier: spec }
}

/// True when the match's source selectors admit this proxy (Istio's `sourceMatchHTTP`): its
/// labels include `sourceLabels`, its namespace is `sourceNamespace`, and `gateways`, when
/// set, names `mesh`.
pub(crate) fn source_matches(m: Option<&HttpMatchRequest>, proxy: &Proxy) -> bool {
    let Some(m) = m else { return true };
    let labels = m.source_labels.iter().all(|(k, v)| proxy.labels.get(k) == Some(v));
    let gateways = m.gateways.is_empty() || m.gateways.iter().any(|g| g == MESH_GATEWAY);
    let ns = m.source_namespace.as_deref().is_none_or(|ns| ns.is_empty() || ns == proxy.id.namespace);
    labels && gateways && ns
}
