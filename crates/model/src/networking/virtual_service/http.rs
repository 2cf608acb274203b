//! HTTP routes ([`HttpRoute`], [`HttpRouteDestination`]) and Istio's `validateHTTPRoute`:
//! which actions may be combined (route, redirect, directResponse, delegate), the weighted
//! destinations, mirrors and mirror percentages, header manipulation and the single place the
//! authority may be rewritten. The actions themselves are in `actions`, retries, faults and
//! CORS in `policy`.

use super::actions::{Delegate, HttpDirectResponse, HttpMirrorPolicy, HttpRedirect, HttpRewrite};
use super::destination::{self, Destination};
use super::headers::{self, Headers};
use super::matching::HttpMatchRequest;
use super::policy::{self, CorsPolicy, HttpFaultInjection, HttpRetry};
use crate::types::{Duration, Percent};
use crate::validation::{Validate, Validator};
use serde::{Deserialize, Serialize};

/// Istio `HTTPRoute`: match conditions and what to do with matching requests.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpRoute {
    /// Name used in logs and stats (joined with the match's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Conditions (ORed); none means "match everything".
    #[serde(rename = "match", default, skip_serializing_if = "Vec::is_empty")]
    pub match_: Vec<HttpMatchRequest>,
    /// Weighted destinations to forward to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub route: Vec<HttpRouteDestination>,
    /// Answer with a redirect instead of forwarding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect: Option<HttpRedirect>,
    /// Answer with a fixed response instead of forwarding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direct_response: Option<HttpDirectResponse>,
    /// Hand matching requests to another (delegate) VirtualService.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegate: Option<Delegate>,
    /// Rewrite the path or authority before forwarding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewrite: Option<HttpRewrite>,
    /// Request timeout (off by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Retry policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<HttpRetry>,
    /// Fault injection (delays and aborts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<HttpFaultInjection>,
    /// Mirror traffic to this destination (fire and forget).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<Destination>,
    /// Several mirror destinations, each with its own percentage.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mirrors: Vec<HttpMirrorPolicy>,
    /// Deprecated integer percentage of `mirror`; use `mirrorPercentage`.
    #[serde(alias = "mirror_percent", default, skip_serializing_if = "Option::is_none")]
    pub mirror_percent: Option<u32>,
    /// Percentage of traffic `mirror` receives (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror_percentage: Option<Percent>,
    /// Cross-origin resource sharing policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors_policy: Option<CorsPolicy>,
    /// Header manipulation for all destinations of this route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Headers>,
    /// Removed from Istio's API (WebSocket upgrades are always allowed). Old configs still
    /// carry it and the API server prunes it rather than refusing them, so it is accepted,
    /// ignored and warned about.
    #[serde(default, skip_serializing)]
    pub websocket_upgrade: Option<bool>,
}

/// Istio `HTTPRouteDestination`: a destination, its relative weight and header changes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpRouteDestination {
    /// Where to forward. Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<Destination>,
    /// Relative weight; 0 (the default) sends nothing when there are several destinations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
    /// Header manipulation for traffic sent to this destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Headers>,
}

impl Validate for HttpRouteDestination {
    fn validate(&self, v: &mut Validator<'_>) {
        destination::required_destination(v, &self.destination);
        destination::weight(v, self.weight);
        v.opt("headers", &self.headers, |v, h| h.validate(v));
    }
}

impl HttpRoute {
    /// Validates the route; `in_delegate` is true inside a delegate VirtualService (no hosts).
    pub(super) fn validate_in(&self, v: &mut Validator<'_>, in_delegate: bool) {
        self.validate_actions(v, in_delegate);
        v.each("match", &self.match_, |v, m| m.validate(v));
        v.opt("headers", &self.headers, |v, h| h.validate(v));
        self.validate_authority_rewrite(v);
        v.opt("corsPolicy", &self.cors_policy, |v, c| c.validate(v));
        v.opt("fault", &self.fault, |v, f| f.validate(v));
        self.validate_mirroring(v);
        v.opt("redirect", &self.redirect, |v, r| r.validate_with(v, &self.match_));
        v.opt("directResponse", &self.direct_response, |v, d| d.validate(v));
        v.opt("delegate", &self.delegate, |v, d| d.validate(v));
        v.opt("retries", &self.retries, |v, r| r.validate(v));
        v.opt("rewrite", &self.rewrite, |v, r| r.validate(v));
        v.field("route", |v| {
            for (i, dest) in self.route.iter().enumerate() {
                v.index(i, |v| dest.validate(v));
            }
            destination::total_weight(v, self.route.iter().map(|d| d.weight));
        });
        v.opt("timeout", &self.timeout, |v, d| policy::duration(v, *d));
        if self.websocket_upgrade.is_some() {
            v.field("websocketUpgrade", |v| {
                v.warn(
                    "websocketUpgrade was removed from the API and is ignored: WebSocket upgrades are always allowed",
                );
            });
        }
    }

    fn display_name(&self) -> String {
        self.name.as_deref().map(|n| format!("{n} ")).unwrap_or_default()
    }

    /// Istio `validateHTTPRouteConflict`: a root route (with `delegate`) only delegates; every
    /// other route has exactly one of route, redirect or directResponse, and redirects and
    /// direct responses do not mix with faults or rewrites.
    fn validate_actions(&self, v: &mut Validator<'_>, in_delegate: bool) {
        if self.delegate.is_some() && !in_delegate {
            let name = self.display_name();
            if self.redirect.is_some() {
                v.error_at("redirect", format!("root HTTP route {name}must not specify redirect"));
            }
            if !self.route.is_empty() {
                v.error_at("route", format!("root HTTP route {name}must not specify route"));
            }
            if self.direct_response.is_some() {
                v.error_at("directResponse", format!("root HTTP route {name}must not specify direct_response"));
            }
            return;
        }
        if in_delegate && self.delegate.is_some() {
            v.error_at("delegate", "delegate HTTP route cannot contain delegate");
        }
        let (fault, rewrite) = (self.fault.is_some(), self.rewrite.is_some());
        if self.redirect.is_some() {
            if !self.route.is_empty() {
                v.error_at("route", "HTTP route cannot contain both route and redirect");
            }
            if fault {
                v.error_at("fault", "HTTP route cannot contain both fault and redirect");
            }
            if rewrite {
                v.error_at("rewrite", "HTTP route rule cannot contain both rewrite and redirect");
            }
            if self.direct_response.is_some() {
                v.error_at("directResponse", "HTTP route rule cannot contain both direct_response and redirect");
            }
        } else if self.direct_response.is_some() {
            if !self.route.is_empty() {
                v.error_at("route", "HTTP route cannot contain both route and direct_response");
            }
            if fault {
                v.error_at("fault", "HTTP route cannot contain both fault and direct_response");
            }
            if rewrite {
                v.error_at("rewrite", "HTTP route rule cannot contain both rewrite and direct_response");
            }
        } else if self.route.is_empty() {
            v.error("HTTP route, redirect or direct_response is required");
        }
        if self.mirror.is_some() && !self.mirrors.is_empty() {
            v.error_at("mirrors", "HTTP route cannot contain both mirror and mirrors");
        }
    }

    /// Istio `validateAuthorityRewrite`: the authority may be rewritten in one place only
    /// (`rewrite.authority`, or one `:authority`/`host` entry of the route's request headers).
    fn validate_authority_rewrite(&self, v: &mut Validator<'_>) {
        let mut current = self.rewrite.as_ref().and_then(|r| r.authority.clone()).filter(|a| !a.is_empty());
        let Some(ops) = self.headers.as_ref().and_then(|h| h.request.as_ref()) else { return };
        for (field, map) in [("set", &ops.set), ("add", &ops.add)] {
            for (name, value) in map.iter().filter(|(k, _)| headers::is_authority_header(k)) {
                if let Some(have) = &current {
                    let msg = format!(
                        "authority header cannot be set multiple times: have {have:?}, attempting to set {value:?}"
                    );
                    v.field("headers", |v| v.field("request", |v| v.field(field, |v| v.key(name, |v| v.error(msg)))));
                }
                current = Some(value.clone());
            }
        }
    }

    /// Mirror destinations and percentages (`mirrorPercent` is the deprecated integer form).
    fn validate_mirroring(&self, v: &mut Validator<'_>) {
        if let Some(p) = self.mirror_percent {
            v.field("mirrorPercent", |v| {
                if p > 100 {
                    v.error(format!("mirror_percent must have a max value of 100 (it has {p})"));
                }
                v.warn("using deprecated setting \"mirrorPercent\", use \"mirrorPercentage\" instead");
            });
        }
        if let Some(p) = &self.mirror_percentage {
            v.field("mirrorPercentage", |v| v.field("value", |v| mirror_percentage(v, "mirror_percentage", p)));
        }
        v.opt("mirror", &self.mirror, |v, d| d.validate(v));
        v.each("mirrors", &self.mirrors, |v, m| m.validate(v));
    }
}

/// Istio's range check of mirror percentages (`what` names the field in the message).
pub(super) fn mirror_percentage(v: &mut Validator<'_>, what: &str, p: &Percent) {
    if p.value > 100.0 {
        v.error(format!("{what} must have a max value of 100 (it has {:.6})", p.value));
    }
    if p.value < 0.0 {
        v.error(format!("{what} must have a min value of 0 (it has {:.6})", p.value));
    }
}
