//! What an HTTP route does besides forwarding: [`HttpRedirect`], [`HttpDirectResponse`] (with
//! its [`HttpBody`]), [`HttpRewrite`] (with [`RegexRewrite`]), [`Delegate`] and the mirror
//! policies of `mirrors[]`, each with Istio's rules (`validateHTTPRedirect`,
//! `validateHTTPDirectResponse`, `validateHTTPRewrite`, `validateHTTPMirrors`).

use super::destination::{self, Destination};
use super::http::mirror_percentage;
use super::matching::{self, HttpMatchRequest};
use super::policy::http_status;
use crate::types::Percent;
use crate::validation::{Validate, Validator, rules};
use serde::{Deserialize, Serialize};

/// Direct-response bodies above this size are refused (they bloat every proxy's config).
const BODY_MAX: usize = 1024 * 1024;
/// Direct-response bodies above this size earn a warning.
const BODY_WARN: usize = 100 * 1024;

/// Istio `HTTPRedirect`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpRedirect {
    /// Replace the whole path with this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Replace the authority (host) with this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    /// Redirect to this port (one of `port` / `derivePort`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// Derive the port from the scheme or the request (one of `port` / `derivePort`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub derive_port: Option<RedirectPortSelection>,
    /// Replace the scheme (`http` or `https`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// Status code of the redirect (default 301).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_code: Option<u32>,
    /// Replace the matched prefix of the path with this (needs prefix URI matches).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_rewrite: Option<String>,
}

/// Istio `HTTPRedirect.RedirectPortSelection`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RedirectPortSelection {
    /// 80 for http, 443 for https.
    #[default]
    FromProtocolDefault,
    /// The port the request arrived on.
    FromRequestPort,
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

impl HttpRedirect {
    /// Validates the redirect; `matches` are the route's matches (`prefixRewrite` needs prefix
    /// URI matches to know what to replace).
    pub(super) fn validate_with(&self, v: &mut Validator<'_>, matches: &[HttpMatchRequest]) {
        let (uri, prefix_rewrite) = (non_empty(&self.uri), non_empty(&self.prefix_rewrite));
        if uri.is_some() && prefix_rewrite.is_some() {
            v.error("redirect may only specify one of uri or prefix_rewrite");
        }
        if prefix_rewrite.is_some() && matches.iter().any(|m| m.uri.as_ref().is_some_and(|u| u.prefix.is_none())) {
            v.error_at("prefixRewrite", "redirect prefix_rewrite requires all URI matches to use prefix match type");
        }
        let port_set = self.port.is_some() || self.derive_port.is_some();
        if self.port.is_some() && self.derive_port.is_some() {
            v.error("only one of port or derivePort may be set");
        }
        if uri.is_none()
            && prefix_rewrite.is_none()
            && non_empty(&self.authority).is_none()
            && !port_set
            && non_empty(&self.scheme).is_none()
        {
            v.error("redirect must specify URI, authority, scheme, or port");
        }
        if let Some(code) = self.redirect_code.filter(|c| *c != 0) {
            v.field("redirectCode", |v| redirect_code(v, code));
        }
        if let Some(scheme) = non_empty(&self.scheme).filter(|s| *s != "http" && *s != "https") {
            v.error_at("scheme", format!("invalid redirect scheme, must be \"http\" or \"https\" (got {scheme:?})"));
        }
        if let Some(port) = self.port.filter(|p| *p > 0) {
            v.field("port", |v| rules::port(v, port));
        }
    }
}

/// Istio accepts any 3xx, but Envoy only has 301, 302, 303, 307 and 308: Istio drops the
/// action of a route with another code, so that is a warning.
fn redirect_code(v: &mut Validator<'_>, code: u32) {
    if !(300..=399).contains(&code) {
        v.error(format!("{code} is not a valid redirect code, must be 3xx"));
    } else if ![301, 302, 303, 307, 308].contains(&code) {
        v.warn(format!(
            "redirect code {code} is not supported by Envoy (use 301, 302, 303, 307 or 308); \
             the route would get no action"
        ));
    }
}

/// Istio `HTTPDirectResponse`: a fixed answer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpDirectResponse {
    /// HTTP status to return. Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u32>,
    /// Response body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<HttpBody>,
}

/// Istio `HTTPBody`: one of `string` or `bytes` (base64).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpBody {
    /// Body text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string: Option<String>,
    /// Body bytes, base64-encoded as protobuf JSON writes `bytes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<String>,
}

impl Validate for HttpDirectResponse {
    fn validate(&self, v: &mut Validator<'_>) {
        v.opt("body", &self.body, |v, b| b.validate(v));
        match self.status {
            None => v.required("status"),
            Some(s) => v.field("status", |v| http_status(v, i64::from(s))),
        }
    }
}

impl Validate for HttpBody {
    fn validate(&self, v: &mut Validator<'_>) {
        if self.string.is_some() && self.bytes.is_some() {
            v.error("only one of string or bytes may be set");
        }
        let mut size = self.string.as_ref().map_or(0, String::len);
        if let Some(b64) = &self.bytes {
            match base64_len(b64) {
                Some(n) => size = size.max(n),
                None => v.error_at("bytes", "bytes must be base64-encoded"),
            }
        }
        if size > BODY_MAX {
            v.error("large direct_responses may impact control plane performance, must be less than 1MB");
        } else if size > BODY_WARN {
            v.warn("large direct_responses may impact control plane performance");
        }
    }
}

/// Decoded length of standard or URL-safe base64 (padding optional), or `None` if invalid.
fn base64_len(s: &str) -> Option<usize> {
    let data = s.trim_end_matches('=');
    let valid = s.len() - data.len() <= 2
        && data.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'-' | b'_'))
        && data.len() % 4 != 1;
    valid.then_some(data.len() * 3 / 4)
}

/// Istio `HTTPRewrite`: changes applied before forwarding.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpRewrite {
    /// Replace the matched part of the path (the prefix, or the whole path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Replace the authority (host) header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    /// Rewrite the path with a regex and substitution (`\1` groups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri_regex_rewrite: Option<RegexRewrite>,
}

/// Istio `RegexRewrite`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegexRewrite {
    /// RE2 pattern matched against the path.
    #[serde(rename = "match", default, skip_serializing_if = "Option::is_none")]
    pub match_: Option<String>,
    /// Substitution, with `\N` for capture groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewrite: Option<String>,
}

impl Validate for HttpRewrite {
    fn validate(&self, v: &mut Validator<'_>) {
        let uri = non_empty(&self.uri).is_some();
        if uri && self.uri_regex_rewrite.is_some() {
            v.error("rewrite may only contain one of URI or UriRegexRewrite");
        }
        if !uri && self.uri_regex_rewrite.is_none() && non_empty(&self.authority).is_none() {
            v.error(
                "rewrite must specify at least one of URI, UriRegexRewrite, or authority. \
                 Only one of URI or UriRegexRewrite may be specified",
            );
        }
        v.opt("uriRegexRewrite", &self.uri_regex_rewrite, |v, r| r.validate(v));
    }
}

impl Validate for RegexRewrite {
    fn validate(&self, v: &mut Validator<'_>) {
        let (pattern, rewrite) = (non_empty(&self.match_), non_empty(&self.rewrite));
        if pattern.is_none() || rewrite.is_none() {
            v.error(
                "UriRegexRewrite has errors: UriRegexRewrite requires both Rewrite and Match fields to be specified",
            );
        }
        if let Some(re) = pattern {
            v.field("match", |v| matching::regex(v, re, "HTTPRewrite.UriRegexRewrite.Match", false));
        }
    }
}

/// Istio `Delegate`: the VirtualService that supplies this route's rules.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Delegate {
    /// Name of the delegate VirtualService. Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its namespace (default: this VirtualService's namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl Validate for Delegate {
    /// Istio checks nothing here; a nameless delegate or a malformed namespace could never
    /// resolve, so both are reported.
    fn validate(&self, v: &mut Validator<'_>) {
        match non_empty(&self.name) {
            None => v.required("name"),
            Some(name) if !rules::is_dns1123_subdomain(name) => {
                v.error_at("name", format!("delegate name {name:?} is not a valid resource name"));
            }
            Some(_) => {}
        }
        if let Some(ns) = non_empty(&self.namespace).filter(|ns| !rules::is_k8s_dns1123_label(ns)) {
            v.error_at("namespace", format!("delegate namespace {ns:?} is not a valid namespace name"));
        }
    }
}

/// Istio `HTTPMirrorPolicy`: one mirror destination with its share of traffic.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpMirrorPolicy {
    /// Where to mirror. Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<Destination>,
    /// Share of requests mirrored (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentage: Option<Percent>,
}

impl Validate for HttpMirrorPolicy {
    fn validate(&self, v: &mut Validator<'_>) {
        destination::required_destination(v, &self.destination);
        if let Some(p) = &self.percentage {
            v.field("percentage", |v| v.field("value", |v| mirror_percentage(v, "mirror percentage", p)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::base64_len;

    #[test]
    fn base64_lengths() {
        assert_eq!(base64_len("aGVsbG8="), Some(5));
        assert_eq!(base64_len("aGVsbG8"), Some(5));
        assert_eq!(base64_len("aGVsbG8h"), Some(6));
        assert_eq!(base64_len("a"), None);
        assert_eq!(base64_len("a$=="), None);
    }
}
