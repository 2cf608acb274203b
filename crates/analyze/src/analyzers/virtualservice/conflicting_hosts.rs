//! Mirrors Istio's `virtualservice.ConflictingMeshGatewayHostsAnalyzer`: two VirtualServices
//! bound to the mesh gateway that define the same host for the same namespaces (their
//! `exportTo`) make the sidecar's routing undefined (IST0109, once per VirtualService).

use super::bound_to_mesh;
use crate::codes::istio;
use crate::context::{Context, Reporter};
use crate::input::Obj;
use crate::util::{EXPORT_ALL, EXPORT_LOCAL, exports_to_all, fqdn, host_matches};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// Runs the analyzer.
pub fn run(ctx: &Context<'_>, out: &mut Reporter) {
    // (scope, fqdn) → VirtualServices, in a stable order (Istio iterates a Go map).
    let mut hosts: BTreeMap<(String, String), Vec<&Obj>> = BTreeMap::new();
    for (o, vs) in ctx.virtual_services().filter(|(_, vs)| bound_to_mesh(vs)) {
        let scopes: BTreeSet<String> = if exports_to_all(&vs.export_to) {
            [EXPORT_ALL.to_string()].into()
        } else {
            vs.export_to.iter().map(|e| if e == EXPORT_LOCAL { o.namespace.clone() } else { e.clone() }).collect()
        };
        for scope in &scopes {
            for h in &vs.hosts {
                hosts.entry((scope.clone(), fqdn(&o.namespace, h))).or_default().push(o);
            }
        }
    }
    let mut reported: HashSet<(String, String)> = HashSet::new();
    for ((scope, host), list) in &hosts {
        let mut list = list.clone();
        if scope != EXPORT_ALL {
            for ((other_scope, other_host), others) in &hosts {
                if other_scope == EXPORT_ALL && host_matches(host, other_host) {
                    list.extend(others.iter().copied());
                }
            }
        }
        if list.len() < 2 {
            continue;
        }
        let mut names: Vec<String> = list.iter().map(|o| o.full_name()).collect();
        names.sort();
        let names = names.join(",");
        for o in list {
            if reported.insert((o.namespace.clone(), o.name.clone())) {
                out.at(
                    &istio::CONFLICTING_MESH_GATEWAY_VIRTUAL_SERVICE_HOSTS,
                    o,
                    "metadata.name",
                    vec![names.clone().into(), format!("{scope}/{host}").into()],
                );
            }
        }
    }
}
