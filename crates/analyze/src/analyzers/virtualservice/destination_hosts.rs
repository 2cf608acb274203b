//! Mirrors Istio's `virtualservice.DestinationHostAnalyzer`: every route and mirror destination
//! must name a host some Service or ServiceEntry makes visible to the VirtualService's
//! namespace (IST0101), with a port when the host has several (IST0112) and a port it has
//! (IST0101 `host:port`); and a gateway route without a subset to a host that another
//! VirtualService routes by subset is reported (IST0140: the subset routing does not apply to
//! gateway traffic).

use super::{RouteDest, mirror_destinations, route_destinations};
use crate::codes::istio;
use crate::context::{Context, Reporter};
use crate::input::Obj;
use crate::message::Arg;
use crate::util::HostEntry;
use strait_model::networking::virtual_service::{Destination, VirtualService};

/// Runs the analyzer.
pub fn run(ctx: &Context<'_>, out: &mut Reporter) {
    let hosts = ctx.host_map();
    let subset_destinations = subset_destinations(ctx);
    for (o, vs) in ctx.virtual_services() {
        for (d, what) in route_destinations(vs)
            .into_iter()
            .map(|d| (d, "host"))
            .chain(mirror_destinations(vs).into_iter().map(|d| (d, "mirror host")))
        {
            match hosts.destination(&o.namespace, &vs.export_to, &d.dest.host) {
                None => out.at(
                    &istio::REFERENCED_RESOURCE_NOT_FOUND,
                    o,
                    &d.host_path(),
                    vec![what.into(), d.dest.host.clone().into()],
                ),
                Some(entry) => check_port(out, o, &d, entry),
            }
        }
        gateway_routes_without_subset(out, o, vs, &subset_destinations);
    }
}

fn check_port(out: &mut Reporter, o: &Obj, d: &RouteDest<'_>, entry: &HostEntry) {
    match d.dest.port {
        None | Some(strait_model::types::PortSelector { number: 0 }) if entry.ports.len() > 1 => {
            let ports: Vec<i64> = entry.ports.iter().map(|p| i64::from(p.number)).collect();
            let args = vec![d.dest.host.clone().into(), Arg::Ints(ports)];
            out.at(&istio::VIRTUAL_SERVICE_DESTINATION_PORT_SELECTOR_REQUIRED, o, &d.host_path(), args);
        }
        None | Some(strait_model::types::PortSelector { number: 0 }) => {}
        Some(p) if entry.ports.iter().any(|ep| ep.number == p.number) => {}
        Some(p) => out.at(
            &istio::REFERENCED_RESOURCE_NOT_FOUND,
            o,
            &d.host_path(),
            vec!["host:port".into(), format!("{}:{}", d.dest.host, p.number).into()],
        ),
    }
}

/// For each VirtualService, its HTTP destinations that name a subset of one of its own hosts
/// (Istio's `initVirtualServiceDestinations`).
fn subset_destinations<'a>(ctx: &Context<'a>) -> Vec<(&'a Obj, Vec<&'a Destination>)> {
    let mut out = Vec::new();
    for (o, vs) in ctx.virtual_services() {
        let dests: Vec<&Destination> = vs
            .http
            .iter()
            .flat_map(|r| r.route.iter())
            .filter_map(|rd| rd.destination.as_ref())
            .filter(|d| d.subset.as_deref().is_some_and(|s| !s.is_empty()))
            .flat_map(|d| vs.hosts.iter().filter(move |h| **h == d.host).map(move |_| d))
            .collect();
        if !dests.is_empty() {
            out.push((o, dests));
        }
    }
    out
}

/// IST0140: a gateway VirtualService routing to a host without a subset, while another
/// VirtualService routes that (literally equal) host by subset.
fn gateway_routes_without_subset(
    out: &mut Reporter,
    o: &Obj,
    vs: &VirtualService,
    others: &[(&Obj, Vec<&Destination>)],
) {
    if vs.gateways.is_empty() {
        return;
    }
    for (i, rule) in vs.http.iter().enumerate() {
        for (j, route) in rule.route.iter().enumerate() {
            let Some(dest) = &route.destination else { continue };
            if dest.subset.as_deref().is_some_and(|s| !s.is_empty()) {
                continue;
            }
            for (other, dests) in others {
                // One message per matching subset destination, as Istio reports them.
                for _ in dests.iter().filter(|d| d.host == dest.host) {
                    // Istio looks the line up under the rule's *name* instead of `http`, so the
                    // field is only found for a rule named "http"; kept for identical output.
                    let path = format!("spec.{}[{i}].route[{j}].destination.host", rule.name.as_deref().unwrap_or(""));
                    out.at(
                        &istio::INGRESS_ROUTE_RULES_NOT_AFFECTED,
                        o,
                        &path,
                        vec![other.full_name().into(), o.full_name().into()],
                    );
                }
            }
        }
    }
}
