//! Mirrors Istio's `virtualservice.DestinationRuleAnalyzer`: a route or mirror destination with
//! a subset needs a DestinationRule for that host defining the subset (IST0101
//! `host+subset in destinationrule`).

use super::{mirror_destinations, route_destinations};
use crate::codes::istio;
use crate::context::{Context, Reporter};
use crate::util::resource_name_from_host;
use std::collections::HashSet;

/// Runs the analyzer.
pub fn run(ctx: &Context<'_>, out: &mut Reporter) {
    let mut defined: HashSet<((String, String), String)> = HashSet::new();
    for (o, dr) in ctx.destination_rules() {
        for s in &dr.subsets {
            defined.insert((resource_name_from_host(&o.namespace, &dr.host), s.name.clone()));
        }
    }
    for (o, vs) in ctx.virtual_services() {
        let known = |host: &str, subset: &str| {
            subset.is_empty() || defined.contains(&(resource_name_from_host(&o.namespace, host), subset.to_string()))
        };
        for (d, what) in route_destinations(vs)
            .into_iter()
            .map(|d| (d, "host+subset in destinationrule"))
            .chain(mirror_destinations(vs).into_iter().map(|d| (d, "mirror+subset in destinationrule")))
        {
            if !known(&d.dest.host, d.subset()) {
                let value = format!("{}+{}", d.dest.host, d.subset());
                out.at(&istio::REFERENCED_RESOURCE_NOT_FOUND, o, &d.host_path(), vec![what.into(), value.into()]);
            }
        }
    }
}
