//! STR0004: a gateway VirtualService routes to a service without a subset while a mesh
//! VirtualService routes that service by subset: requests entering through the gateway use the
//! gateway's rules only, so they skip the version routing (seed: "Route rules have no effect on
//! ingress gateway requests"). Istio's IST0140 reports this when both VirtualServices spell
//! the host the same way; this analyzer compares resolved names (`reviews` in `bookinfo` is
//! `reviews.bookinfo.svc.cluster.local`) and reports only what IST0140 does not.

use crate::analyzers::virtualservice::bound_to_mesh;
use crate::codes::strait;
use crate::context::{Context, Reporter};
use crate::util::{MESH_GATEWAY, fqdn, host_matches};
use std::collections::HashSet;

/// Runs the analyzer.
pub fn run(ctx: &Context<'_>, out: &mut Reporter) {
    let mesh: Vec<_> = ctx.virtual_services().filter(|(_, vs)| bound_to_mesh(vs)).collect();
    let mut reported = HashSet::new();
    for (g, gvs) in ctx.virtual_services() {
        let gateways: Vec<&str> = gvs.gateways.iter().map(String::as_str).filter(|g| *g != MESH_GATEWAY).collect();
        if gateways.is_empty() {
            continue;
        }
        for (i, rule) in gvs.http.iter().enumerate() {
            for (j, route) in rule.route.iter().enumerate() {
                let Some(dest) = route.destination.as_ref().filter(|d| d.subset.as_deref().is_none_or(str::is_empty))
                else {
                    continue;
                };
                let host = fqdn(&g.namespace, &dest.host);
                for (m, mvs) in &mesh {
                    if m.namespace == g.namespace && m.name == g.name {
                        continue;
                    }
                    let serves = mvs.hosts.iter().any(|h| host_matches(&fqdn(&m.namespace, h), &host));
                    let by_subset: Vec<_> = mvs
                        .http
                        .iter()
                        .flat_map(|r| r.route.iter())
                        .filter_map(|r| r.destination.as_ref())
                        .filter(|d| d.subset.as_deref().is_some_and(|s| !s.is_empty()))
                        .filter(|d| fqdn(&m.namespace, &d.host) == host)
                        .collect();
                    if !serves || by_subset.is_empty() {
                        continue;
                    }
                    // IST0140's condition: the same spelling in both, and among the mesh VS's hosts.
                    let ist0140 = by_subset.iter().any(|d| d.host == dest.host && mvs.hosts.contains(&d.host));
                    if ist0140 || !reported.insert((g.full_name(), m.full_name(), host.clone())) {
                        continue;
                    }
                    let path = format!("spec.http[{i}].route[{j}].destination.host");
                    out.at(
                        &strait::GATEWAY_ROUTE_BYPASSES_SUBSETS,
                        g,
                        &path,
                        vec![
                            g.full_name().into(),
                            gateways.join(", ").into(),
                            host.clone().into(),
                            m.full_name().into(),
                            m.full_name().into(),
                        ],
                    );
                }
            }
        }
    }
}
