//! Causes that are policies doing their job: fault injection, route timeouts, authorization
//! (RBAC, JWT, ext-authz), rate limits, HTTP/1.0 clients refused with 426, refused upgrades, and
//! clients that gave up. With the config, the VirtualService or AuthorizationPolicy responsible
//! is named with its values.

use super::rank::Ctx;
use super::routing::obj;
use super::{Cause, Confidence, Mesh};
use crate::details::rbac_policy;
use strait_model::Object;
use strait_model::networking::virtual_service::VirtualService;
use strait_model::security::authorization_policy::Action;
use strait_registry::store::namespace_of;

pub(super) fn rules(c: &Ctx<'_>, out: &mut Vec<Cause>) {
    fault(c, out);
    timeout(c, out);
    authorization(c, out);
    http10(c, out);
    client_gone(c, out);
    simple(c, out);
}

fn details<'a>(c: &Ctx<'a>) -> &'a str {
    c.f.line.details.as_deref().unwrap_or_default()
}

/// The VirtualServices for the destination (none without config).
fn route_rules<'m>(c: &Ctx<'_>, m: &'m Mesh) -> Vec<&'m Object<VirtualService>> {
    c.fqdn().map(|h| m.virtual_services(h)).unwrap_or_default()
}

fn pct(p: Option<&strait_model::types::Percent>) -> String {
    p.map_or("0% (no percentage set: Istio injects nothing)".into(), |p| format!("{}%", p.value))
}

fn fault(c: &Ctx<'_>, out: &mut Vec<Cause>) {
    let abort = c.f.has("FI") || details(c) == "fault_filter_abort";
    if !(abort || c.f.has("DI")) {
        return;
    }
    let target = c.f.target();
    let kind = if abort { "abort" } else { "delay" };
    for vs in c.mesh.map(|m| route_rules(c, m)).unwrap_or_default() {
        for (i, route) in vs.spec.http.iter().enumerate() {
            let Some(f) = &route.fault else { continue };
            let what = match (abort, &f.abort, &f.delay) {
                (true, Some(a), _) => format!(
                    "an abort with status {} for {} of requests",
                    a.http_status.map_or_else(|| a.grpc_status.clone().unwrap_or_default(), |s| s.to_string()),
                    pct(a.percentage.as_ref())
                ),
                (false, _, Some(d)) => format!(
                    "a delay of {} for {} of requests",
                    d.fixed_delay.map(|d| d.to_string()).unwrap_or_default(),
                    pct(d.percentage.as_ref())
                ),
                _ => continue,
            };
            let when = if route.match_.is_empty() { String::new() } else { " when its match conditions hold".into() };
            let s = format!("{} injects {what} to {target} (http[{i}]{when})", obj("VirtualService", vs));
            out.push(
                Cause::new("fault-injection", Confidence::Confirmed, 97, s)
                    .fix("Remove the fault block when the test is over"),
            );
            return;
        }
    }
    let s = format!(
        "A VirtualService fault.{kind} rule for {target} matched this request: injected on purpose (a test, or one \
         left behind)"
    );
    out.push(
        Cause::new("fault-injection", Confidence::Likely, 90, s)
            .fix("Find and remove the fault block: strait proxy-config routes shows it"),
    );
}

fn timeout(c: &Ctx<'_>, out: &mut Vec<Cause>) {
    let d = details(c);
    let per_try = d.starts_with("upstream_per_try");
    if !(c.f.has("UT") || d == "upstream_response_timeout" || per_try) {
        return;
    }
    let target = c.f.target();
    let took = c.f.line.duration_ms.map(|ms| format!(" (this request: {ms} ms)")).unwrap_or_default();
    for vs in c.mesh.map(|m| route_rules(c, m)).unwrap_or_default() {
        for route in &vs.spec.http {
            let try_timeout = route.retries.as_ref().and_then(|r| r.per_try_timeout);
            let set = if per_try { try_timeout.map(|t| format!("retries.perTryTimeout {t}")) } else { None };
            let Some(set) = set.or_else(|| route.timeout.map(|t| format!("timeout {t}"))) else { continue };
            let s = format!("{} sets {set} for {target}; the upstream needed longer{took}", obj("VirtualService", vs));
            out.push(
                Cause::new("route-timeout", Confidence::Confirmed, 90, s)
                    .fix("Raise the timeout, or find why the upstream is slow"),
            );
            return;
        }
    }
    let which = if per_try { "the retries' perTryTimeout" } else { "the route timeout" };
    let s = format!(
        "{} fired before {target} answered{took}: the upstream is slower than the limit (Istio sets no route timeout \
         by default, so one is configured: a VirtualService timeout, the client's x-envoy-upstream-rq-timeout-ms or \
         a gRPC deadline)",
        super::rank::capital(which)
    );
    let score = if c.mesh.is_some() { 62 } else { 80 };
    out.push(Cause::new("route-timeout", Confidence::Likely, score, s));
}

fn authorization(c: &Ctx<'_>, out: &mut Vec<Cause>) {
    let d = details(c);
    if d.starts_with("rbac_access_denied") {
        if let Some((ns, name, rule)) = rbac_policy(d) {
            let rule = rule.map(|r| format!(", rule {r}")).unwrap_or_default();
            let s = format!("AuthorizationPolicy {ns}/{name}{rule} matched this request and denied it (action DENY)");
            out.push(
                Cause::new("authorization-denied", Confidence::Confirmed, 96, s)
                    .fix("Change the policy's rules if this caller should be allowed"),
            );
            return;
        }
        let allow: Vec<String> = c
            .mesh
            .map(|m| m.registry.config.authorization_policies.iter())
            .into_iter()
            .flatten()
            .filter(|p| p.spec.action == Action::Allow && c.server.is_none_or(|w| namespace_of(p) == w.namespace))
            .map(|p| obj("AuthorizationPolicy", p))
            .collect();
        let listed = if allow.is_empty() { String::new() } else { format!(" ({})", allow.join(", ")) };
        let s = format!(
            "ALLOW AuthorizationPolicies apply to the workload{listed}, and this request matched none of their rules, \
             so it was denied (with any ALLOW policy in place, everything else is denied)"
        );
        let confidence = if allow.is_empty() { Confidence::Likely } else { Confidence::Confirmed };
        out.push(
            Cause::new("authorization-denied", confidence, 92, s)
                .fix("Add a rule for this caller (source principal/namespace, path, method)"),
        );
    } else if d.starts_with("jwt_authn_access_denied") {
        let why = d.split_once('{').map(|(_, r)| r.trim_end_matches('}').replace('_', " ")).unwrap_or_default();
        let s = format!("A RequestAuthentication rejected the request's JWT: {why}");
        out.push(
            Cause::new("jwt-rejected", Confidence::Confirmed, 94, s)
                .fix("Send a valid token for the configured issuer; check jwtRules issuer, audiences and jwks"),
        );
    }
}

fn http10(c: &Ctx<'_>, out: &mut Vec<Cause>) {
    if !(c.f.line.status == Some(426) || details(c) == "low_version") {
        return;
    }
    let s = "The client sent an HTTP/1.0 request, and the proxy answers 426 Upgrade Required unless HTTP/1.0 is \
             enabled. A common source: nginx in front of the service (proxy_http_version defaults to 1.0), or a load \
             balancer's HTTP/1.0 health checks";
    let fix = "Make the client speak HTTP/1.1 (nginx: proxy_http_version 1.1), or accept HTTP/1.0 on this proxy: \
               ISTIO_META_HTTP10: \"1\" in proxyMetadata (PILOT_HTTP10=1 for the whole mesh)";
    out.push(Cause::new("http10-client", Confidence::Confirmed, 96, s).fix(fix));
}

fn client_gone(c: &Ctx<'_>, out: &mut Vec<Cause>) {
    let d = details(c);
    if !(c.f.has("DC") || c.f.has("DR") || d == "downstream_remote_disconnect") || c.f.flags_only {
        return;
    }
    let took = c.f.line.duration_ms.map(|ms| format!(" after {ms} ms")).unwrap_or_default();
    let s = format!(
        "The client gave up{took} (closed or reset) before the response was complete: its own timeout or deadline is \
         shorter than what the upstream needs, or it was cancelled or restarted"
    );
    out.push(
        Cause::new("client-gave-up", Confidence::Likely, 75, s)
            .fix("Compare with the client's timeout; speed up the upstream or raise the client's limit"),
    );
}

/// Flags whose cause is the flag itself, said with the line's objects.
fn simple(c: &Ctx<'_>, out: &mut Vec<Cause>) {
    let target = c.f.target();
    let d = details(c);
    let mut push = |id: &str, score: u32, s: String| out.push(Cause::new(id, Confidence::Likely, score, s));
    if c.f.has("RL") || d == "local_rate_limited" {
        push(
            "rate-limited",
            85,
            format!(
                "A rate limit on the path to {target} ran out of tokens (local token bucket or the global service)"
            ),
        );
    }
    if c.f.has("UAEX") || d.starts_with("ext_authz") {
        let custom: Vec<String> = c
            .mesh
            .map(|m| m.registry.config.authorization_policies.iter())
            .into_iter()
            .flatten()
            .filter(|p| p.spec.action == Action::Custom)
            .map(|p| obj("AuthorizationPolicy", p))
            .collect();
        let by = if custom.is_empty() { "a CUSTOM AuthorizationPolicy".into() } else { custom.join(", ") };
        push(
            "ext-authz-denied",
            85,
            format!(
                "The external authorization service that {by} calls denied the request (or failed, failing closed)"
            ),
        );
    }
    if d == "upgrade_failed" {
        push(
            "upgrade-not-allowed",
            85,
            "The request carried an Upgrade header for a protocol the route does not \
              enable (only websocket is, by default)"
                .into(),
        );
    }
    if c.f.has("SI") || d == "stream_idle_timeout" {
        push(
            "stream-idle",
            70,
            format!(
                "No bytes moved between the client and {target} for the stream idle timeout: a long-poll, stream or \
                 WebSocket idle too long, or an upstream that stalled mid-response"
            ),
        );
    }
    if c.f.has("DPE") || d.starts_with("http1.codec_error") || d.starts_with("http2.") {
        push(
            "client-protocol-error",
            66,
            "The client's bytes were not valid HTTP on this port: TLS sent to a \
              plaintext port, another protocol on a port named http, or malformed headers"
                .into(),
        );
    }
}
