//! Causes that involve Gateways: a gateway VirtualService that sends traffic straight to a
//! service and so bypasses the subset routing of the mesh VirtualService, a gateway host with no
//! VirtualService bound to it, and several Gateways sharing one certificate (HTTP/2 connection
//! reuse then gives 404s for the second host).

use super::rank::Ctx;
use super::routing::{obj, subset_routes};
use super::{Cause, Confidence, Mesh, selects};
use crate::cluster::{ClusterRef, split_authority};
use strait_model::Object;
use strait_model::networking::gateway::Gateway;
use strait_model::networking::virtual_service::VirtualService;
use strait_registry::hosts;
use strait_registry::store::{name_of, namespace_of};

pub(super) fn rules(c: &Ctx<'_>, out: &mut Vec<Cause>) {
    let Some(m) = c.mesh else { return };
    bypasses_subsets(c, m, out);
    if c.f.has("NR") && c.f.line.status == Some(404) {
        shared_certificate(c, m, out);
        unbound_gateway_host(c, m, out);
    }
}

/// The non-mesh gateways a VirtualService binds to, as `ns/name`.
fn bound_gateways(vs: &Object<VirtualService>) -> Vec<String> {
    let ns = namespace_of(vs);
    vs.spec
        .gateways
        .iter()
        .filter(|g| g.as_str() != "mesh")
        .map(|g| if g.contains('/') { g.clone() } else { format!("{ns}/{g}") })
        .collect()
}

fn applies_to_mesh(vs: &Object<VirtualService>) -> bool {
    vs.spec.gateways.is_empty() || vs.spec.gateways.iter().any(|g| g == "mesh")
}

/// True when the workload is selected by some Gateway (it is a gateway proxy).
fn is_gateway(m: &Mesh, c: &Ctx<'_>) -> Option<bool> {
    let w = c.client?;
    Some(m.registry.config.gateways.iter().any(|g| selects(&g.spec.selector, &w.labels)))
}

fn bypasses_subsets(c: &Ctx<'_>, m: &Mesh, out: &mut Vec<Cause>) {
    let Some(ClusterRef::Outbound { subset: None, host, .. }) = &c.f.cluster else { return };
    let mesh_rules: Vec<(&Object<VirtualService>, Vec<&str>)> = m
        .virtual_services(host)
        .into_iter()
        .filter(|vs| applies_to_mesh(vs))
        .map(|vs| (vs, subset_routes(m, vs, host)))
        .filter(|(_, subsets)| !subsets.is_empty())
        .collect();
    let Some((mesh_vs, subsets)) = mesh_rules.first() else { return };
    let direct = m.registry.config.virtual_services.iter().find(|vs| {
        !applies_to_mesh(vs)
            && vs
                .spec
                .http
                .iter()
                .flat_map(|r| &r.route)
                .filter_map(|d| d.destination.as_ref())
                .any(|d| d.subset.is_none() && hosts::fqdn(&d.host, namespace_of(vs), m.domain()) == *host)
    });
    let Some(gw_vs) = direct else { return };
    let (confidence, score) = match is_gateway(m, c) {
        Some(false) => return,
        Some(true) => (Confidence::Confirmed, 88),
        None => (Confidence::Likely, 74),
    };
    let s = format!(
        "{} (gateways {}) sends {host} traffic straight to the service without a subset, so the subset routing of \
         {} ({}) does not apply to requests entering through the gateway: they reach every version",
        obj("VirtualService", gw_vs),
        bound_gateways(gw_vs).join(", "),
        obj("VirtualService", mesh_vs),
        subsets.iter().map(|s| format!("subset {s}")).collect::<Vec<_>>().join(", "),
    );
    let fix = format!(
        "Route to the subsets in {} too, or bind one VirtualService to both the gateway and `mesh`",
        obj("VirtualService", gw_vs)
    );
    let cause = Cause::new("gateway-bypasses-subsets", confidence, score, s)
        .fix(fix)
        .check("strait proxy-config routes {proxy} -o json   # the gateway's route to {host}: no subset in its cluster")
        .field("VirtualService.spec.gateways")
        .field("VirtualService.spec.http[].route[].destination.subset");
    out.push(cause);
}

/// Gateway servers whose hosts cover `host`.
fn gateways_for<'m>(m: &'m Mesh, host: &str) -> Vec<&'m Object<Gateway>> {
    let covers = |h: &String| {
        let pattern = h.split_once('/').map_or(h.as_str(), |(_, h)| h);
        hosts::host_matches(pattern, host)
    };
    m.registry.config.gateways.iter().filter(|g| g.spec.servers.iter().any(|s| s.hosts.iter().any(covers))).collect()
}

/// The certificate a Gateway server uses, as a comparable key.
fn certificate(g: &Object<Gateway>) -> Option<String> {
    g.spec.servers.iter().find_map(|s| {
        let tls = s.tls.as_ref()?;
        tls.credential_name.clone().or_else(|| tls.server_certificate.clone())
    })
}

fn shared_certificate(c: &Ctx<'_>, m: &Mesh, out: &mut Vec<Cause>) {
    let Some(authority) = c.f.line.authority.as_deref() else { return };
    let (host, _) = split_authority(authority);
    if c.f.line.protocol.as_deref() != Some("HTTP/2") {
        return;
    }
    let serving = gateways_for(m, host);
    let Some(own) = serving.first() else { return };
    let Some(cert) = certificate(own) else { return };
    let others: Vec<&Object<Gateway>> = m
        .registry
        .config
        .gateways
        .iter()
        .filter(|g| name_of(g) != name_of(own) || namespace_of(g) != namespace_of(own))
        .filter(|g| g.spec.selector == own.spec.selector && certificate(g).as_deref() == Some(cert.as_str()))
        .collect();
    let Some(other) = others.first() else { return };
    let s = format!(
        "{} and {} serve with the same certificate ({cert}) on the same gateway pods; a browser that opened an \
         HTTP/2 connection for a host of {} reuses it for {host}, and that server has no route for {host}: 404 NR",
        obj("Gateway", own),
        obj("Gateway", other),
        obj("Gateway", other),
    );
    let fix = "Use one Gateway with a wildcard host (e.g. *.example.com) and bind each VirtualService to it";
    out.push(Cause::new("shared-gateway-certificate", Confidence::Confirmed, 92, s).fix(fix));
}

fn unbound_gateway_host(c: &Ctx<'_>, m: &Mesh, out: &mut Vec<Cause>) {
    let Some(authority) = c.f.line.authority.as_deref() else { return };
    let (host, _) = split_authority(authority);
    for g in gateways_for(m, host) {
        let key = format!("{}/{}", namespace_of(g), name_of(g));
        let bound = m.registry.config.virtual_services.iter().any(|vs| {
            bound_gateways(vs).contains(&key)
                && vs.spec.hosts.iter().any(|h| h == "*" || hosts::host_matches(h, host) || h == host)
        });
        if !bound {
            let s = format!(
                "{} accepts host {host}, but no VirtualService with gateways: [{key}] has that host, so the gateway \
                 has no route for it",
                obj("Gateway", g)
            );
            let fix = format!("Bind a VirtualService for {host} to {key} (spec.gateways)");
            out.push(Cause::new("gateway-host-without-route", Confidence::Confirmed, 86, s).fix(fix));
        }
    }
}
