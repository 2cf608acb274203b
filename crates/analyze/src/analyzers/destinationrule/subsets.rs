//! Mirrors Istio's `destinationrule.PodNotSelectedAnalyzer`: a DestinationRule's host must be a
//! Service or ServiceEntry host visible to it (IST0174), and each subset must select at least
//! one pod, its labels merged with the ServiceEntry's workload selector and matched against
//! the pod's labels plus its node's topology labels (region, zone, subzone, hostname), as
//! istiod augments them (IST0173: traffic to the subset fails with 503 UH). Node objects are
//! not otherwise supported by Strait; only their labels are read here.

use crate::codes::istio;
use crate::context::{Context, Reporter};
use crate::util::selects;
use std::collections::BTreeMap;

const REGION: &str = "topology.kubernetes.io/region";
const ZONE: &str = "topology.kubernetes.io/zone";
const SUBZONE: &str = "topology.istio.io/subzone";
const HOSTNAME: &str = "kubernetes.io/hostname";

/// Pod labels as istiod sees them: with the node's locality and name added.
fn augmented(ctx: &Context<'_>, labels: &BTreeMap<String, String>, node: Option<&str>) -> BTreeMap<String, String> {
    let mut out = labels.clone();
    let Some(node) = node.filter(|n| !n.is_empty()) else { return out };
    if let Some(n) = ctx.input.not_supported.iter().find(|r| r.kind == "Node" && r.name == node) {
        let node_labels = n.labels();
        for key in [REGION, ZONE, SUBZONE] {
            if let Some(v) = node_labels.get(key).filter(|v| !v.is_empty()) {
                out.insert(key.to_string(), v.clone());
            }
        }
    }
    out.insert(HOSTNAME.to_string(), node.to_string());
    out
}

/// Runs the analyzer.
pub fn run(ctx: &Context<'_>, out: &mut Reporter) {
    let hosts = ctx.host_map();
    let pods: Vec<BTreeMap<String, String>> =
        ctx.workloads().iter().map(|w| augmented(ctx, w.labels, w.spec.and_then(|s| s.node_name.as_deref()))).collect();
    for (o, dr) in ctx.destination_rules() {
        let Some(entry) = hosts.destination(&o.namespace, &dr.export_to, &dr.host) else {
            out.report(&istio::UNKNOWN_DESTINATION_RULE_HOST, o, None, vec![dr.host.clone().into()]);
            continue;
        };
        for subset in &dr.subsets {
            let mut selector = entry.workload_labels.clone();
            selector.extend(subset.labels.clone());
            if !pods.iter().any(|labels| selects(&selector, labels)) {
                out.report(&istio::DESTINATION_RULE_SUBSET_NOT_SELECT_PODS, o, None, vec![subset.name.clone().into()]);
            }
        }
    }
}
