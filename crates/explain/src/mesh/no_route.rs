//! Causes of HTTP `NR` (`route_not_found`): a host nothing defines, a port the Service does not
//! declare, a host hidden from the client's namespace, VirtualServices whose every route has a
//! match this request fails; and NR or BlackHole for a destination the config does route, which
//! means the proxy did not have the config yet (the app started before its sidecar, or a push
//! was still on its way).

use super::rank::Ctx;
use super::routing::obj;
use super::{Cause, Confidence};
use crate::cluster::split_authority;
use strait_model::Object;
use strait_model::networking::virtual_service::VirtualService;

pub(super) fn rules(c: &Ctx<'_>, out: &mut Vec<Cause>) {
    no_route(c, out);
    not_yet_configured(c, out);
}

fn no_route(c: &Ctx<'_>, out: &mut Vec<Cause>) {
    let details = c.f.line.details.as_deref().unwrap_or_default();
    if !(c.f.has("NR") && !c.f.line.is_tcp() && details != "filter_chain_not_found") && details != "route_not_found" {
        return;
    }
    let authority = c.f.line.authority.clone().unwrap_or_else(|| c.f.target());
    let Some(m) = c.mesh else {
        let s = format!(
            "No virtual host or route of the proxy matches {authority}: no VirtualService or Service defines that \
             host and port for the client, or the VirtualService's matches exclude this request"
        );
        out.push(Cause::new("no-route", Confidence::Likely, 60, s));
        return;
    };
    let (host, port) = split_authority(&authority);
    let port = port.or(c.f.port);
    let vss = m.virtual_services(c.fqdn().unwrap_or(host));
    match c.service {
        None if vss.is_empty() => {
            let names: Vec<&str> = m.registry.services.iter().map(|s| s.hostname.as_str()).collect();
            let hint =
                strait_model::suggest::did_you_mean(host, names.iter().map(|n| n.split('.').next().unwrap_or(n)))
                    .map(|n| format!(" (did you mean {n}?)"))
                    .unwrap_or_default();
            let s = format!("No Service, ServiceEntry or VirtualService in the config defines {host}{hint}");
            out.push(
                Cause::new("unknown-host", Confidence::Confirmed, 88, s)
                    .fix("Fix the host the client calls, or declare it"),
            );
        }
        Some(svc) if port.is_some_and(|p| svc.port(p).is_none()) && vss.is_empty() => {
            let ports: Vec<String> = svc.ports.iter().map(|p| format!("{} ({})", p.number, p.name)).collect();
            let s = format!(
                "{} has ports [{}]; {} is not one of them, so no route exists for {authority}",
                svc.hostname,
                ports.join(", "),
                port.unwrap_or_default()
            );
            out.push(
                Cause::new("port-not-declared", Confidence::Confirmed, 88, s)
                    .fix("Call a declared port, or add it to the Service"),
            );
        }
        Some(svc) if c.client_ns().is_some_and(|ns| !svc.visibility.visible_to(ns)) => {
            let ns = c.client_ns().unwrap_or_default();
            let s = format!(
                "{} is not exported to namespace {ns} (exportTo), so its sidecar has no route for it",
                svc.hostname
            );
            out.push(
                Cause::new("host-not-exported", Confidence::Confirmed, 88, s)
                    .fix("Export it to the client's namespace"),
            );
        }
        _ => {}
    }
    let path = c.f.line.path.as_deref().unwrap_or("/");
    for vs in vss {
        if let Some(cause) = unmatched_routes(vs, path, c.f.line.method.as_deref()) {
            out.push(cause);
        }
    }
}

/// A VirtualService whose every HTTP route has match conditions this request fails.
fn unmatched_routes(vs: &Object<VirtualService>, path: &str, method: Option<&str>) -> Option<Cause> {
    if vs.spec.http.is_empty() || vs.spec.http.iter().any(|r| r.match_.is_empty()) {
        return None;
    }
    let mut decided = true;
    let mut conditions = Vec::new();
    for m in vs.spec.http.iter().flat_map(|r| r.match_.iter()) {
        let uri = m.uri.as_ref();
        if let Some(u) = uri {
            conditions.push(match (&u.exact, &u.prefix, &u.regex) {
                (Some(e), _, _) => format!("uri exact {e}"),
                (_, Some(p), _) => format!("uri prefix {p}"),
                (_, _, Some(r)) => format!("uri regex {r}"),
                _ => "uri".into(),
            });
        }
        let uri_ok = uri.is_none_or(|u| match (&u.exact, &u.prefix) {
            (Some(e), _) => e == path.split('?').next().unwrap_or(path),
            (_, Some(p)) => path.starts_with(p.as_str()),
            _ => true,
        });
        let only_uri = m.headers.is_empty() && m.method.is_none() && m.authority.is_none() && m.query_params.is_empty();
        if uri_ok || !only_uri || uri.is_some_and(|u| u.regex.is_some()) {
            decided = false;
        }
        if !m.headers.is_empty() {
            conditions.push(format!("headers {}", m.headers.keys().cloned().collect::<Vec<_>>().join(", ")));
        }
    }
    let name = obj("VirtualService", vs);
    let request = format!("{} {path}", method.unwrap_or("the request"));
    let s = format!(
        "{name} has only routes with match conditions ({}); {request} matches none of them, so the proxy answered \
         404 NR",
        conditions.join("; ")
    );
    let (confidence, score) = if decided { (Confidence::Confirmed, 90) } else { (Confidence::Likely, 62) };
    Some(
        Cause::new("no-catch-all-route", confidence, score, s).fix(format!("Add a last route without match to {name}")),
    )
}

/// NR, BlackHole or an empty UH for a destination the config routes: the proxy did not have
/// the config yet, most often because the app started before its sidecar.
fn not_yet_configured(c: &Ctx<'_>, out: &mut Vec<Cause>) {
    let nr = c.f.has("NR") && c.f.line.details.as_deref() != Some("filter_chain_not_found");
    if !(nr || c.f.black_hole) {
        return;
    }
    let (Some(m), Some(svc)) = (c.mesh, c.service) else { return };
    let port_ok = c.f.port.is_none_or(|p| svc.port(p).is_some());
    let visible = c.client_ns().is_none_or(|ns| svc.visibility.visible_to(ns));
    if !port_ok || !visible {
        return;
    }
    let who = c.client.map(|w| format!("{}/{}", w.namespace, w.name)).unwrap_or_else(|| "the client pod".into());
    let routed = format!(
        "the config declares {}:{} ({}), so a configured proxy routes it",
        svc.hostname,
        c.f.port.unwrap_or_default(),
        match svc.origin {
            strait_registry::Origin::Kubernetes => "Service",
            strait_registry::Origin::ServiceEntry { .. } => "ServiceEntry",
        }
    );
    match m.hold_application(c.client) {
        Some(true) => {
            let s = format!(
                "The proxy did not have the config for {} yet: {routed}; the config was still being pushed (or the \
                 proxy NACKed it)",
                c.f.target()
            );
            out.push(
                Cause::new("config-propagation", Confidence::Likely, 72, s)
                    .fix("Check strait proxy-status for this proxy: STALE or NACK"),
            );
        }
        _ => {
            let s = format!(
                "The app in {who} sent this before its sidecar had its config: {routed}, and \
                 holdApplicationUntilProxyStarts is not set, so the app can start (and call out) before the proxy \
                 is ready"
            );
            let fix = "Set holdApplicationUntilProxyStarts: true (MeshConfig defaultConfig, or the pod annotation \
                       proxy.istio.io/config), or use native sidecars; if it persists after start-up, check \
                       strait proxy-status";
            out.push(Cause::new("sidecar-startup-race", Confidence::Likely, 78, s).fix(fix));
        }
    }
}
