//! Mirrors Istio's `virtualservice.JWTClaimRouteAnalyzer`: a gateway VirtualService that routes
//! on a JWT claim (`@request.auth.claims.…` header matches) needs a RequestAuthentication that
//! selects every gateway pod (in its namespace or the root namespace `istio-system`), or the
//! claims are never there to match (IST0149, per gateway pod).

use super::gateways::short_or_full;
use crate::codes::istio;
use crate::context::{Context, Reporter};
use crate::message::full_name;
use crate::util::{MESH_GATEWAY, selects};
use std::collections::BTreeMap;
use strait_model::networking::virtual_service::VirtualService;

const CLAIM_HEADER: &str = "@request.auth.claims";

/// True when a header name routes on a claim (`@request.auth.claims.a.b` or `…[a][b]`).
fn is_claim_key(key: &str) -> bool {
    if !key.to_ascii_lowercase().starts_with(CLAIM_HEADER) {
        return false;
    }
    let rest = &key[CLAIM_HEADER.len()..];
    (rest.starts_with('.') && rest.len() > 1) || (rest.starts_with('[') && rest.ends_with(']') && rest.len() > 2)
}

fn claim_key(vs: &VirtualService) -> Option<&str> {
    vs.http
        .iter()
        .flat_map(|r| r.match_.iter())
        .flat_map(|m| m.headers.keys().chain(m.without_headers.keys()))
        .map(String::as_str)
        .find(|k| is_claim_key(k))
}

/// Runs the analyzer.
pub fn run(ctx: &Context<'_>, out: &mut Reporter) {
    let mut by_ns: BTreeMap<&str, Vec<&BTreeMap<String, String>>> = BTreeMap::new();
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    for (o, ra) in ctx.request_authentications() {
        let sel = ra.selector.as_ref().map_or(&EMPTY, |s| &s.match_labels);
        by_ns.entry(o.namespace.as_str()).or_default().push(sel);
    }
    for (o, vs) in ctx.virtual_services() {
        let Some(key) = claim_key(vs) else { continue };
        for gw_name in vs.gateways.iter().filter(|g| *g != MESH_GATEWAY) {
            let (ns, name) = short_or_full(&o.namespace, gw_name);
            let Some((_, gw)) = ctx.gateways().find(|(g, _)| g.namespace == ns && g.name == name) else { continue };
            for w in ctx.workloads().iter().filter(|w| selects(&gw.selector, w.labels)) {
                let selectors = by_ns.get("istio-system").into_iter().chain(by_ns.get(w.namespace)).flatten();
                if !selectors.into_iter().any(|s| selects(s, w.labels)) {
                    out.report(
                        &istio::JWT_CLAIM_BASED_ROUTING_WITHOUT_REQUEST_AUTH_N,
                        o,
                        None,
                        vec![key.into(), full_name(&ns, &name).into(), w.name.into()],
                    );
                }
            }
        }
    }
}
