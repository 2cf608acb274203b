//! HTTP match conditions ([`HttpMatchRequest`]) and the rules Istio applies to them: string
//! matches (one of exact/prefix/regex; an empty prefix only for `uri`; RE2 regexes of at most
//! 1024 bytes), header names (tokens, pseudo-headers, `@request.auth.claims.*`), source
//! labels, source namespace, match port and gateway names. The source-selector helpers are
//! shared with TLS and TCP matches.

use super::hosts;
use crate::types::StringMatch;
use crate::validation::{Validate, Validator, rules};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Istio's regex length bound: Envoy limits the RE2 program size, and the length is Istio's
/// cheap stand-in for it.
const MAX_REGEX_LEN: usize = 1024;

/// Header name prefix that matches on a JWT claim (gateways only).
const JWT_CLAIM_PREFIX: &str = "@request.auth.claims";

/// The pseudo-headers Envoy lets a route match on.
const PSEUDO_HEADERS: [&str; 5] = [":method", ":scheme", ":authority", ":path", ":status"];

/// Istio `HTTPMatchRequest`: conditions that must all hold (entries of `match[]` are ORed).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpMatchRequest {
    /// Name of the match, appended to the route's name in stats and logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// URI (path) match; an empty prefix matches everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<StringMatch>,
    /// URI scheme match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<StringMatch>,
    /// HTTP method match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<StringMatch>,
    /// Authority (Host) match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<StringMatch>,
    /// Header matches; an empty match `{}` tests presence. Keys may be
    /// `@request.auth.claims.<claim>` on gateways.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, StringMatch>,
    /// Port the request arrived on (0 = any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// Labels the calling workload must carry.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub source_labels: BTreeMap<String, String>,
    /// Gateways this match is limited to (overrides the VirtualService's list).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<String>,
    /// Query parameter matches (`exact: ""` tests presence).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query_params: BTreeMap<String, StringMatch>,
    /// Case-insensitive URI matching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_uri_case: Option<bool>,
    /// Headers that must not match (`{}` or `regex: "*"`: header absent).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub without_headers: BTreeMap<String, StringMatch>,
    /// Namespace the calling workload must run in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_namespace: Option<String>,
    /// Prefix for the stats of requests this match selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stat_prefix: Option<String>,
}

impl Validate for HttpMatchRequest {
    fn validate(&self, v: &mut Validator<'_>) {
        header_matches(v, "headers", &self.headers, false);
        header_matches(v, "withoutHeaders", &self.without_headers, true);
        // Envoy accepts an empty path prefix (match all) but no empty scheme/method/authority.
        v.opt("uri", &self.uri, |v, sm| {
            one_of(v, sm);
            regex_match(v, sm, "uri");
        });
        v.opt("scheme", &self.scheme, |v, sm| string_match(v, sm, "scheme"));
        v.opt("method", &self.method, |v, sm| string_match(v, sm, "method"));
        v.opt("authority", &self.authority, |v, sm| string_match(v, sm, "authority"));
        v.field("queryParams", |v| {
            for (name, sm) in &self.query_params {
                v.key(name, |v| string_match(v, sm, "queryParams"));
            }
        });
        match_port(v, self.port);
        v.field("sourceLabels", |v| source_labels(v, &self.source_labels));
        v.each("gateways", &self.gateways, |v, g| hosts::gateway_name(v, g));
        source_namespace(v, &self.source_namespace);
    }
}

fn header_matches(v: &mut Validator<'_>, field: &str, map: &BTreeMap<String, StringMatch>, without: bool) {
    v.field(field, |v| {
        for (name, sm) in map {
            v.key(name, |v| {
                header_match_name(v, name);
                // In withoutHeaders, `regex: "*"` is not RE2: Istio turns it into "absent".
                if !(without && sm.regex.as_deref() == Some("*")) {
                    string_match(v, sm, field);
                }
            });
        }
    });
}

/// True for `@request.auth.claims.<claim>` or `@request.auth.claims[<claim>]…`.
pub(super) fn is_jwt_claim(name: &str) -> bool {
    let Some(prefix) = name.get(..JWT_CLAIM_PREFIX.len()) else { return false };
    if !prefix.eq_ignore_ascii_case(JWT_CLAIM_PREFIX) {
        return false;
    }
    let rest = &name[JWT_CLAIM_PREFIX.len()..];
    (rest.starts_with('.') && rest.len() > 1) || (rest.starts_with('[') && rest.ends_with(']') && rest.len() > 2)
}

/// Istio `ValidateHTTPHeaderNameOrJwtClaimRoute`.
fn header_match_name(v: &mut Validator<'_>, name: &str) {
    if name.is_empty() {
        v.error("header name cannot be empty");
    } else if !is_jwt_claim(name) && !PSEUDO_HEADERS.contains(&name) && !rules::is_header_name(name) {
        v.error(format!("header name {name} is not a valid header name"));
    }
}

/// The oneof of `StringMatch`: at most one kind (the CRD's schema rejects two). None is fine:
/// Istio reads an empty match as "present" for headers and query parameters.
fn one_of(v: &mut Validator<'_>, sm: &StringMatch) {
    let set = [sm.exact.is_some(), sm.prefix.is_some(), sm.regex.is_some()];
    if set.iter().filter(|b| **b).count() > 1 {
        v.error("only one of exact, prefix or regex may be set");
    }
}

/// Istio `validateStringMatch`: no empty prefix, and a valid regex. `place` names the field
/// in messages as Istio does (`"headers": …`).
pub(super) fn string_match(v: &mut Validator<'_>, sm: &StringMatch, place: &str) {
    one_of(v, sm);
    if sm.prefix.as_deref() == Some("") {
        v.error_at("prefix", format!("{place:?}: prefix string match should not be empty"));
    }
    regex_match(v, sm, place);
}

/// Istio `validateStringMatchRegexp`: checks `regex` if set.
pub(super) fn regex_match(v: &mut Validator<'_>, sm: &StringMatch, place: &str) {
    if let Some(re) = &sm.regex {
        v.field("regex", |v| regex(v, re, place, true));
    }
}

/// Istio `validateStringRegexp`: RE2 syntax, at most 1024 bytes, compiled under
/// [`rules::compile_regex`]'s size limits. `non_empty` adds Istio's empty-match check.
pub(super) fn regex(v: &mut Validator<'_>, re: &str, place: &str, non_empty: bool) {
    if re.is_empty() {
        if non_empty {
            v.error(format!("{place:?}: regex string match should not be empty"));
        }
    } else if re.len() > MAX_REGEX_LEN {
        v.error(format!("{place:?}: regex is too large, max length allowed is {MAX_REGEX_LEN}"));
    } else if let Err(e) = rules::compile_regex(re) {
        v.error(format!(
            "{place:?}: {e}; Istio uses RE2 style regex-based match (https://github.com/google/re2/wiki/Syntax)"
        ));
    }
}

/// A match `port` of 0 means "any"; anything else must be a real port.
pub(super) fn match_port(v: &mut Validator<'_>, port: Option<u32>) {
    if let Some(p) = port.filter(|p| *p != 0) {
        v.field("port", |v| rules::port(v, p));
    }
}

/// Istio `labels.Instance.Validate` for `sourceLabels` (Kubernetes label syntax, so no
/// wildcards).
pub(super) fn source_labels(v: &mut Validator<'_>, labels: &BTreeMap<String, String>) {
    for (key, value) in labels {
        v.key(key, |v| {
            if !rules::is_label_key(key) {
                v.error(format!("invalid tag key: {key:?}"));
            }
            if !rules::is_label_value(value) {
                v.error(format!("invalid tag value: {value:?}"));
            }
        });
    }
}

/// `sourceNamespace` must be a namespace name (DNS-1123 label).
pub(super) fn source_namespace(v: &mut Validator<'_>, ns: &Option<String>) {
    if let Some(ns) = ns.as_deref().filter(|ns| !ns.is_empty())
        && !rules::is_dns1123_label(ns)
    {
        v.error_at("sourceNamespace", format!("sourceNamespace match {ns} is invalid"));
    }
}

#[cfg(test)]
mod tests {
    use super::is_jwt_claim;

    #[test]
    fn jwt_claim_names() {
        assert!(is_jwt_claim("@request.auth.claims.groups"));
        assert!(is_jwt_claim("@request.auth.claims[nested][key]"));
        assert!(is_jwt_claim("@Request.Auth.Claims.sub"));
        assert!(!is_jwt_claim("@request.auth.claims."));
        assert!(!is_jwt_claim("@request.auth.claims[]"));
        assert!(!is_jwt_claim("x-user"));
    }
}
