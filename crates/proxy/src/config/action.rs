//! What a route does, compiled: forward to one cluster or to weighted clusters (an exact
//! smooth-WRR picker), with timeout (and the gRPC `grpc-timeout` cap), retries,
//! host/prefix/regex rewrites, request mirrors, per-route upgrade configs (WebSocket, CONNECT
//! tunnelling); or redirect; or answer directly. Also the header mutations that routes,
//! virtual hosts and weighted clusters carry.

use super::policy::{Mirror, RetryPolicy};
use super::{ConfigError, Result, duration, each, no_other_fields};
use crate::lb::Swrr;
use bytes::Bytes;
use envoy_types::pb::envoy::config::core::v3::{
    HeaderValueOption, data_source, header_value_option::HeaderAppendAction,
};
use envoy_types::pb::envoy::config::route::v3::{
    DirectResponseAction, RedirectAction, RouteAction, WeightedCluster,
    redirect_action::{PathRewriteSpecifier, RedirectResponseCode, SchemeRewriteSpecifier},
    route_action::{ClusterSpecifier, HostRewriteSpecifier, MaxStreamDuration, UpgradeConfig},
    weighted_cluster::{ClusterWeight, cluster_weight},
};
use http::{HeaderName, HeaderValue};
use regex::Regex;
use std::time::Duration;

/// Envoy's route timeout when the route does not set one.
pub const DEFAULT_ROUTE_TIMEOUT: Duration = Duration::from_secs(15);

/// Header additions and removals of one level (route, virtual host, weighted cluster).
#[derive(Debug, Default)]
pub struct HeaderMutations {
    /// Request headers to add or set.
    pub request_add: Vec<HeaderAdd>,
    /// Request headers to remove.
    pub request_remove: Vec<HeaderName>,
    /// Response headers to add or set.
    pub response_add: Vec<HeaderAdd>,
    /// Response headers to remove.
    pub response_remove: Vec<HeaderName>,
}

/// One header to add.
#[derive(Debug)]
pub struct HeaderAdd {
    /// Name.
    pub name: HeaderName,
    /// Value.
    pub value: HeaderValue,
    /// How it combines with an existing value.
    pub action: Append,
    /// Set when the value has substitution operators (`%UPSTREAM_CLUSTER%`, …): rendered per
    /// request from its completion record, as Envoy's header formatter does.
    pub template: Option<crate::format::Template>,
}

/// Envoy's `HeaderAppendAction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Append {
    /// Add another value (or the first).
    AppendOrAdd,
    /// Add only when absent.
    AddIfAbsent,
    /// Replace, or add.
    OverwriteOrAdd,
    /// Replace only when present.
    OverwriteIfExists,
}

impl HeaderMutations {
    /// Compiles the four lists of a route, virtual host or cluster weight.
    pub fn new(
        request_add: &[HeaderValueOption],
        request_remove: &[String],
        response_add: &[HeaderValueOption],
        response_remove: &[String],
    ) -> Result<Self> {
        Ok(HeaderMutations {
            request_add: each("request_headers_to_add", request_add, header_add)?,
            request_remove: each("request_headers_to_remove", request_remove, |n| header_name(n))?,
            response_add: each("response_headers_to_add", response_add, header_add)?,
            response_remove: each("response_headers_to_remove", response_remove, |n| header_name(n))?,
        })
    }

    /// True when nothing is mutated.
    pub fn is_empty(&self) -> bool {
        self.request_add.is_empty()
            && self.request_remove.is_empty()
            && self.response_add.is_empty()
            && self.response_remove.is_empty()
    }
}

fn header_name(n: &str) -> Result<HeaderName> {
    HeaderName::from_bytes(n.as_bytes()).map_err(|_| ConfigError::new("", format!("invalid header name {n:?}")))
}

#[allow(deprecated)]
fn header_add(o: &HeaderValueOption) -> Result<HeaderAdd> {
    let h = o.header.as_ref().ok_or_else(|| ConfigError::new("header", "a header is required"))?;
    let name = header_name(&h.key).map_err(|e| e.within("header.key"))?;
    let raw = if h.raw_value.is_empty() { h.value.as_bytes() } else { h.raw_value.as_slice() };
    // Envoy expands `%COMMAND%` in header values; an operator we do not render is a NACK
    // naming it, never literal `%…%` text sent on.
    let template = if raw.contains(&b'%') {
        let text = std::str::from_utf8(raw).map_err(|_| ConfigError::new("header.value", "invalid header value"))?;
        Some(crate::format::Template::parse(text).map_err(|e| ConfigError::new("header.value", e))?)
    } else {
        None
    };
    let value = match &template {
        Some(_) => HeaderValue::from_static(""),
        None => HeaderValue::from_bytes(raw).map_err(|_| ConfigError::new("header.value", "invalid header value"))?,
    };
    let action = match o.append.as_ref().map(|b| b.value) {
        Some(true) => Append::AppendOrAdd,
        Some(false) => Append::OverwriteOrAdd,
        None => match HeaderAppendAction::try_from(o.append_action) {
            Ok(HeaderAppendAction::AppendIfExistsOrAdd) => Append::AppendOrAdd,
            Ok(HeaderAppendAction::AddIfAbsent) => Append::AddIfAbsent,
            Ok(HeaderAppendAction::OverwriteIfExistsOrAdd) => Append::OverwriteOrAdd,
            Ok(HeaderAppendAction::OverwriteIfExists) => Append::OverwriteIfExists,
            Err(_) => return Err(ConfigError::new("append_action", "unknown append action")),
        },
    };
    Ok(HeaderAdd { name, value, action, template })
}

/// A compiled route action.
#[derive(Debug)]
pub enum Action {
    /// Proxy to a cluster.
    Forward(Forward),
    /// Answer with a redirect.
    Redirect(Redirect),
    /// Answer directly.
    Direct(Direct),
}

/// Where and how to forward.
#[derive(Debug)]
pub struct Forward {
    /// The cluster(s).
    pub targets: Targets,
    /// Whole-request timeout (None: no timeout).
    pub timeout: Option<Duration>,
    /// Retries.
    pub retry: Option<RetryPolicy>,
    /// `:authority` rewrite.
    pub host_rewrite: Option<HeaderValue>,
    /// Replaces the matched path prefix.
    pub prefix_rewrite: Option<String>,
    /// Regex substitution on the path (RE2 `\1` turned into `${1}`).
    pub regex_rewrite: Option<(Regex, String)>,
    /// The route tunnels CONNECT requests (raw TCP to the cluster).
    pub connect: bool,
    /// Per-route upgrade configs: lower-case type (`websocket`) and whether it is allowed; they
    /// override the connection manager's.
    pub upgrades: Vec<(String, bool)>,
    /// Request mirrors (shadow copies).
    pub mirrors: Vec<Mirror>,
    /// gRPC requests take their timeout from `grpc-timeout`, capped at this (zero: no cap),
    /// instead of `timeout` (Envoy's `max_grpc_timeout`).
    pub max_grpc_timeout: Option<Duration>,
    /// What ring-hash and Maglev clusters hash (`crate::lb::hash`).
    pub hash_policy: Vec<crate::lb::hash::HashPolicy>,
}

/// One cluster or weighted clusters.
#[derive(Debug)]
pub enum Targets {
    /// One cluster.
    Cluster(String),
    /// Weighted clusters with an exact picker.
    Weighted(Vec<WeightedTarget>, Swrr),
}

/// One weighted cluster.
#[derive(Debug)]
pub struct WeightedTarget {
    /// Cluster name.
    pub name: String,
    /// Its header mutations (applied before the route's).
    pub headers: HeaderMutations,
    /// Its `:authority` rewrite.
    pub host_rewrite: Option<HeaderValue>,
}

/// A redirect.
#[derive(Debug)]
pub struct Redirect {
    /// New scheme.
    pub scheme: Option<String>,
    /// New host.
    pub host: Option<String>,
    /// New port (0: keep).
    pub port: u32,
    /// New path or prefix.
    pub path: Option<PathRedirect>,
    /// Status code.
    pub status: u16,
    /// Drop the query string.
    pub strip_query: bool,
}

/// How a redirect changes the path.
#[derive(Debug)]
pub enum PathRedirect {
    /// Replace the whole path.
    Path(String),
    /// Replace the matched prefix.
    Prefix(String),
}

/// A direct response.
#[derive(Debug)]
pub struct Direct {
    /// Status.
    pub status: u16,
    /// Body.
    pub body: Option<Bytes>,
}

fn value(field: &str, s: &str) -> Result<HeaderValue> {
    HeaderValue::from_str(s).map_err(|_| ConfigError::new(field, "invalid header value"))
}

impl TryFrom<&RouteAction> for Forward {
    type Error = ConfigError;

    #[allow(deprecated)]
    fn try_from(a: &RouteAction) -> Result<Self> {
        let targets = match &a.cluster_specifier {
            Some(ClusterSpecifier::Cluster(c)) => Targets::Cluster(c.clone()),
            Some(ClusterSpecifier::WeightedClusters(w)) => weighted(w).map_err(|e| e.within("weighted_clusters"))?,
            _ => return Err(ConfigError::new("cluster_specifier", "a cluster or weighted clusters are required")),
        };
        let timeout = match duration("timeout", a.timeout.as_ref())? {
            None => Some(DEFAULT_ROUTE_TIMEOUT),
            Some(d) if d.is_zero() => None,
            Some(d) => Some(d),
        };
        let retry = match &a.retry_policy {
            Some(p) => Some(RetryPolicy::try_from(p).map_err(|e| e.within("retry_policy"))?),
            None => None,
        };
        let host_rewrite = match &a.host_rewrite_specifier {
            Some(HostRewriteSpecifier::HostRewriteLiteral(h)) => Some(value("host_rewrite_literal", h)?),
            Some(_) => return Err(ConfigError::unsupported("host_rewrite_specifier")),
            None => None,
        };
        let regex_rewrite = match &a.regex_rewrite {
            Some(r) => {
                let pattern =
                    r.pattern.as_ref().ok_or_else(|| ConfigError::new("regex_rewrite.pattern", "required"))?;
                let re = Regex::new(&pattern.regex)
                    .map_err(|e| ConfigError::new("regex_rewrite.pattern", format!("invalid regex: {e}")))?;
                Some((re, re2_substitution(&r.substitution)))
            }
            None => None,
        };
        let upgrades = each("upgrade_configs", &a.upgrade_configs, upgrade)?;
        let connect = upgrades.iter().any(|(t, enabled)| t == "connect" && *enabled);
        // Istio's "no timeout" sets max_stream_duration and the gRPC caps to zero: nothing to do.
        let zero = |d: &Option<envoy_types::pb::google::protobuf::Duration>| {
            d.as_ref().is_none_or(|d| *d == Default::default())
        };
        if let Some(MaxStreamDuration { max_stream_duration, grpc_timeout_header_max, grpc_timeout_header_offset }) =
            &a.max_stream_duration
            && !(zero(max_stream_duration) && zero(grpc_timeout_header_max) && zero(grpc_timeout_header_offset))
        {
            return Err(ConfigError::unsupported("max_stream_duration"));
        }
        let hash_policy = crate::lb::hash::compile(&a.hash_policy).map_err(|e| e.within("hash_policy"))?;
        let mirrors = each("request_mirror_policies", &a.request_mirror_policies, |m| Mirror::try_from(m))?;
        let max_grpc_timeout = duration("max_grpc_timeout", a.max_grpc_timeout.as_ref())?;
        let rest = RouteAction {
            cluster_specifier: None,
            timeout: None,
            max_grpc_timeout: None,
            request_mirror_policies: Vec::new(),
            retry_policy: None,
            host_rewrite_specifier: None,
            prefix_rewrite: String::new(),
            regex_rewrite: None,
            upgrade_configs: Vec::new(),
            max_stream_duration: None,
            hash_policy: Vec::new(),
            ..a.clone()
        };
        no_other_fields(&rest)?;
        Ok(Forward {
            targets,
            timeout,
            retry,
            host_rewrite,
            prefix_rewrite: (!a.prefix_rewrite.is_empty()).then(|| a.prefix_rewrite.clone()),
            regex_rewrite,
            connect,
            upgrades,
            mirrors,
            max_grpc_timeout,
            hash_policy,
        })
    }
}

/// One per-route upgrade config: its lower-case type and whether it is enabled (the default).
fn upgrade(u: &UpgradeConfig) -> Result<(String, bool)> {
    let kind = u.upgrade_type.to_ascii_lowercase();
    if u.connect_config.as_ref().is_some_and(|c| *c != Default::default()) {
        return Err(ConfigError::unsupported("connect_config"));
    }
    Ok((kind, u.enabled.as_ref().is_none_or(|b| b.value)))
}

#[allow(deprecated)]
fn weighted(w: &WeightedCluster) -> Result<Targets> {
    let targets = each("clusters", &w.clusters, weighted_target)?;
    let weights = w.clusters.iter().map(|c| c.weight.as_ref().map_or(0, |v| v.value));
    let picker = Swrr::new(weights).ok_or_else(|| ConfigError::new("clusters", "no cluster has a positive weight"))?;
    let rest = WeightedCluster { clusters: Vec::new(), total_weight: None, ..w.clone() };
    no_other_fields(&rest)?;
    Ok(Targets::Weighted(targets, picker))
}

fn weighted_target(c: &ClusterWeight) -> Result<WeightedTarget> {
    let headers = HeaderMutations::new(
        &c.request_headers_to_add,
        &c.request_headers_to_remove,
        &c.response_headers_to_add,
        &c.response_headers_to_remove,
    )?;
    let host_rewrite = match &c.host_rewrite_specifier {
        Some(cluster_weight::HostRewriteSpecifier::HostRewriteLiteral(h)) => Some(value("host_rewrite_literal", h)?),
        None => None,
    };
    let rest = ClusterWeight {
        name: String::new(),
        weight: None,
        request_headers_to_add: Vec::new(),
        request_headers_to_remove: Vec::new(),
        response_headers_to_add: Vec::new(),
        response_headers_to_remove: Vec::new(),
        host_rewrite_specifier: None,
        ..c.clone()
    };
    no_other_fields(&rest)?;
    Ok(WeightedTarget { name: c.name.clone(), headers, host_rewrite })
}

/// RE2's `\1` back-references in Rust regex's `${1}` syntax (and a literal `$` escaped).
fn re2_substitution(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek().is_some_and(char::is_ascii_digit) => {
                out.push_str("${");
                while let Some(d) = chars.next_if(char::is_ascii_digit) {
                    out.push(d);
                }
                out.push('}');
            }
            '\\' if chars.peek() == Some(&'\\') => {
                chars.next();
                out.push('\\');
            }
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out
}

impl TryFrom<&RedirectAction> for Redirect {
    type Error = ConfigError;

    fn try_from(r: &RedirectAction) -> Result<Self> {
        let status = match RedirectResponseCode::try_from(r.response_code) {
            Ok(RedirectResponseCode::MovedPermanently) => 301,
            Ok(RedirectResponseCode::Found) => 302,
            Ok(RedirectResponseCode::SeeOther) => 303,
            Ok(RedirectResponseCode::TemporaryRedirect) => 307,
            Ok(RedirectResponseCode::PermanentRedirect) => 308,
            Err(_) => return Err(ConfigError::new("response_code", "unknown redirect code")),
        };
        let scheme = match &r.scheme_rewrite_specifier {
            Some(SchemeRewriteSpecifier::HttpsRedirect(true)) => Some("https".to_string()),
            Some(SchemeRewriteSpecifier::SchemeRedirect(s)) if !s.is_empty() => Some(s.to_ascii_lowercase()),
            _ => None,
        };
        let path = match &r.path_rewrite_specifier {
            Some(PathRewriteSpecifier::PathRedirect(p)) => Some(PathRedirect::Path(p.clone())),
            Some(PathRewriteSpecifier::PrefixRewrite(p)) => Some(PathRedirect::Prefix(p.clone())),
            Some(_) => return Err(ConfigError::unsupported("path_rewrite_specifier")),
            None => None,
        };
        let host = (!r.host_redirect.is_empty()).then(|| r.host_redirect.clone());
        Ok(Redirect { scheme, host, port: r.port_redirect, path, status, strip_query: r.strip_query })
    }
}

impl TryFrom<&DirectResponseAction> for Direct {
    type Error = ConfigError;

    fn try_from(d: &DirectResponseAction) -> Result<Self> {
        let status = u16::try_from(d.status)
            .ok()
            .filter(|s| (200..600).contains(s))
            .ok_or_else(|| ConfigError::new("status", "must be 200-599"))?;
        let body = match d.body.as_ref().and_then(|b| b.specifier.as_ref()) {
            Some(data_source::Specifier::InlineString(s)) => Some(Bytes::from(s.clone())),
            Some(data_source::Specifier::InlineBytes(b)) => Some(Bytes::from(b.clone())),
            Some(_) => return Err(ConfigError::unsupported("body")),
            None => None,
        };
        if d.body_format.is_some() {
            return Err(ConfigError::unsupported("body_format"));
        }
        Ok(Direct { status, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn re2_substitutions_become_rust_syntax() {
        assert_eq!(re2_substitution(r"/v2/\1/\12"), "/v2/${1}/${12}");
        assert_eq!(re2_substitution(r"a$b\\c"), r"a$$b\c");
    }

    #[test]
    fn route_timeout_defaults_like_envoy() {
        let a = RouteAction { cluster_specifier: Some(ClusterSpecifier::Cluster("c".into())), ..Default::default() };
        assert_eq!(Forward::try_from(&a).expect("compiles").timeout, Some(DEFAULT_ROUTE_TIMEOUT));
        let none = RouteAction { timeout: Some(Default::default()), ..a };
        assert_eq!(Forward::try_from(&none).expect("compiles").timeout, None);
    }

    #[test]
    fn upgrades_mirrors_and_the_grpc_cap_compile() {
        use envoy_types::pb::envoy::config::route::v3::route_action::RequestMirrorPolicy;
        use envoy_types::pb::google::protobuf::{BoolValue, Duration as PbDuration};
        let upgrade = |t: &str, enabled: Option<bool>| UpgradeConfig {
            upgrade_type: t.into(),
            enabled: enabled.map(|value| BoolValue { value }),
            ..Default::default()
        };
        #[allow(deprecated)]
        let a = RouteAction {
            cluster_specifier: Some(ClusterSpecifier::Cluster("c".into())),
            upgrade_configs: vec![upgrade("WebSocket", None), upgrade("CONNECT", Some(false))],
            max_grpc_timeout: Some(PbDuration { seconds: 0, nanos: 500_000_000 }),
            request_mirror_policies: vec![RequestMirrorPolicy { cluster: "shadow".into(), ..Default::default() }],
            ..Default::default()
        };
        let f = Forward::try_from(&a).expect("compiles");
        assert_eq!(f.upgrades, [("websocket".to_string(), true), ("connect".to_string(), false)]);
        assert!(!f.connect, "a disabled CONNECT config does not tunnel");
        assert_eq!(f.max_grpc_timeout, Some(Duration::from_millis(500)));
        assert_eq!(f.mirrors.len(), 1);
    }
}
