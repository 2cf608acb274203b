//! The CORS filter (`envoy.filters.http.cors`), as Envoy 1.40's `CorsFilter` behaves: the
//! route's policy and its virtual host's combine field by field (the route's first); a request
//! with an `Origin` is a CORS request when the first policy is enabled; an allowed origin
//! (some `allow_origin_string_match` admits it, or admits `*`) is echoed back in
//! `access-control-allow-origin` (never `*`), with `access-control-allow-credentials: true`
//! and `access-control-expose-headers` when the policy sets them, on whatever the request gets
//! from the router (upstream response, local reply, redirect). A preflight (`OPTIONS` with
//! `Access-Control-Request-Method`) is answered here — 200, details `cors_response`, with the
//! allowed methods and headers (`*` echoes what was asked) and max age — unless its origin is
//! not allowed and the policy forwards such preflights (Envoy's and Istio's default), in which
//! case it goes upstream untouched. Fault aborts happen before this filter, so they never get
//! CORS headers (as in Envoy, where the fault filter runs first).

use crate::config::policy::Cors;
use crate::route::matching::string_matches;
use http::{HeaderMap, HeaderName, HeaderValue, Method, header};

const REQUEST_PRIVATE_NETWORK: HeaderName = HeaderName::from_static("access-control-request-private-network");
const ALLOW_PRIVATE_NETWORK: HeaderName = HeaderName::from_static("access-control-allow-private-network");

/// What the filter decided for a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing to do (no policy, disabled, no `Origin`, or an origin not allowed).
    Pass,
    /// Answer the preflight with 200 and these headers.
    Preflight(HeaderMap),
    /// Forward, then add these headers to the response.
    Respond(Echo),
}

/// The headers an allowed origin gets on its response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Echo {
    origin: HeaderValue,
    credentials: bool,
    expose: Option<HeaderValue>,
}

impl Echo {
    /// Sets the CORS response headers (over any the upstream sent).
    pub fn apply(&self, h: &mut HeaderMap) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, self.origin.clone());
        if self.credentials {
            h.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
        }
        if let Some(e) = &self.expose {
            h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, e.clone());
        }
    }
}

/// The policies that apply to a route, the route's first.
#[derive(Debug, Clone, Copy)]
pub struct Policies<'a>([Option<&'a Cors>; 2]);

impl<'a> Policies<'a> {
    /// The route's and the virtual host's policies.
    pub fn new(route: Option<&'a Cors>, vhost: Option<&'a Cors>) -> Self {
        Policies(if route.is_some() { [route, vhost] } else { [vhost, None] })
    }

    fn iter(&self) -> impl Iterator<Item = &'a Cors> {
        self.0.into_iter().flatten()
    }

    /// The first policy's value of a field that is set.
    fn text(&self, f: impl Fn(&'a Cors) -> &'a str) -> &'a str {
        self.iter().map(f).find(|s| !s.is_empty()).unwrap_or_default()
    }

    fn flag(&self, f: impl Fn(&Cors) -> Option<bool>) -> Option<bool> {
        self.iter().find_map(f)
    }

    /// Envoy's `isOriginAllowed`: the first policy with origins decides.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        let origins = self.iter().map(|p| &p.allow_origins).find(|o| !o.is_empty());
        origins.is_some_and(|list| list.iter().any(|m| string_matches(m, "*") || string_matches(m, origin)))
    }

    /// The verdict for a request; `roll(per_million)` draws the policy's enablement.
    pub fn decide(&self, method: &Method, h: &HeaderMap, roll: impl Fn(u32) -> bool) -> Verdict {
        let Some(first) = self.0[0] else { return Verdict::Pass };
        let enabled = roll(first.enabled);
        if !enabled {
            // Shadow mode only counts (stats), and an off policy does nothing.
            return Verdict::Pass;
        }
        let Some(origin) = h.get(header::ORIGIN).filter(|o| !o.is_empty()) else { return Verdict::Pass };
        let allowed = self.origin_allowed(&String::from_utf8_lossy(origin.as_bytes()));
        let echo = allowed.then(|| self.echo(origin));
        let requested = h.get(header::ACCESS_CONTROL_REQUEST_METHOD).filter(|m| !m.is_empty());
        let forward = self.flag(|p| p.forward_not_matching_preflights).unwrap_or(true);
        match requested {
            Some(requested) if method == Method::OPTIONS && (allowed || !forward) => {
                Verdict::Preflight(self.preflight(echo.as_ref(), requested, h))
            }
            _ => echo.map_or(Verdict::Pass, Verdict::Respond),
        }
    }

    fn echo(&self, origin: &HeaderValue) -> Echo {
        let expose = self.text(|p| &p.expose_headers);
        Echo {
            origin: origin.clone(),
            credentials: self.flag(|p| p.allow_credentials).unwrap_or(false),
            expose: (!expose.is_empty()).then(|| HeaderValue::from_str(expose).ok()).flatten(),
        }
    }

    /// The preflight answer's headers, in Envoy's order (its encoder pass adds the expose
    /// headers last).
    fn preflight(&self, echo: Option<&Echo>, requested: &HeaderValue, h: &HeaderMap) -> HeaderMap {
        let mut out = HeaderMap::new();
        if let Some(e) = echo {
            out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, e.origin.clone());
        }
        if self.flag(|p| p.allow_credentials).unwrap_or(false) {
            out.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
        }
        let echoed = |config: &str, asked: Option<&HeaderValue>| match config {
            "" => None,
            "*" => asked.cloned(),
            list => HeaderValue::from_str(list).ok(),
        };
        if let Some(v) = echoed(self.text(|p| &p.allow_methods), Some(requested)) {
            out.insert(header::ACCESS_CONTROL_ALLOW_METHODS, v);
        }
        let asked_headers = h.get(header::ACCESS_CONTROL_REQUEST_HEADERS);
        if let Some(v) = echoed(self.text(|p| &p.allow_headers), asked_headers) {
            out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
        }
        if let Some(v) = echoed(self.text(|p| &p.max_age), None) {
            out.insert(header::ACCESS_CONTROL_MAX_AGE, v);
        }
        let private = h.get(REQUEST_PRIVATE_NETWORK).is_some_and(|v| v == "true");
        if private && self.flag(|p| p.allow_private_network_access).unwrap_or(false) {
            out.insert(ALLOW_PRIVATE_NETWORK, HeaderValue::from_static("true"));
        }
        if let Some(e) = echo {
            e.apply(&mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests;
