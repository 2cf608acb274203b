//! STR0003: a DestinationRule subset that no VirtualService route (or mirror) sends traffic
//! to. Subset policies only apply to traffic routed to the subset: without a route the
//! subset's `trafficPolicy` never applies (seed: "Destination rule policy not activated"),
//! and a subset without policy is dead config or a route that was forgotten.

use crate::analyzers::virtualservice::{mirror_destinations, route_destinations};
use crate::codes::strait;
use crate::context::{Context, Reporter};
use crate::util::{fqdn, host_matches};
use std::collections::HashSet;

/// Runs the analyzer.
pub fn run(ctx: &Context<'_>, out: &mut Reporter) {
    // (resolved host, subset) of every routed destination.
    let mut routed: HashSet<(String, String)> = HashSet::new();
    for (o, vs) in ctx.virtual_services() {
        for d in route_destinations(vs).into_iter().chain(mirror_destinations(vs)) {
            if !d.subset().is_empty() {
                routed.insert((fqdn(&o.namespace, &d.dest.host), d.subset().to_string()));
            }
        }
    }
    for (o, dr) in ctx.destination_rules() {
        let host = fqdn(&o.namespace, &dr.host);
        for (i, subset) in dr.subsets.iter().enumerate() {
            let used = routed.iter().any(|(h, s)| *s == subset.name && host_matches(&host, h));
            if used {
                continue;
            }
            let why = if subset.traffic_policy.is_some() {
                "its trafficPolicy never applies (requests to the host use the DestinationRule's top-level policy)"
            } else {
                "no traffic ever reaches it through the subset"
            };
            out.at(
                &strait::UNUSED_DESTINATION_RULE_SUBSET,
                o,
                &format!("spec.subsets[{i}].name"),
                vec![
                    subset.name.clone().into(),
                    o.full_name().into(),
                    host.clone().into(),
                    why.into(),
                    dr.host.clone().into(),
                    subset.name.clone().into(),
                ],
            );
        }
    }
}
