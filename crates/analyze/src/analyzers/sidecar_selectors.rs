//! Mirrors Istio's `sidecar.SelectorAnalyzer`: a Sidecar's workload selector must match a pod
//! in its namespace (IST0101), two Sidecars must not select the same pod (IST0110), a namespace
//! may have one Sidecar without selector (IST0111), and a Sidecar for ambient workloads or
//! namespaces has no effect (IST0167).

use crate::codes::istio;
use crate::context::{Context, Reporter, Workload};
use crate::input::Obj;
use crate::message::Arg;
use crate::util::{selector_string, selects};
use std::collections::{BTreeMap, HashSet};

/// True for a pod redirected to ztunnel (`ambient.istio.io/redirection: enabled`).
pub fn pod_ambient(annotations: &BTreeMap<String, String>) -> bool {
    annotations.get("ambient.istio.io/redirection").is_some_and(|v| v == "enabled")
}

/// True for a namespace in ambient mode (and not also labelled for sidecar injection).
pub fn namespace_ambient(ns: Option<&Obj>) -> bool {
    let Some(ns) = ns else { return false };
    let l = ns.labels();
    if l.get("istio-injection").is_some_and(|v| v == "enabled") || l.get("istio.io/rev").is_some_and(|v| !v.is_empty())
    {
        return false;
    }
    l.get("istio.io/dataplane-mode").is_some_and(|v| v == "ambient")
}

fn names(list: &[&Obj]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|o| o.name.clone()).collect();
    v.sort();
    v
}

/// Runs the analyzer.
pub fn run(ctx: &Context<'_>, out: &mut Reporter) {
    let mut by_pod: BTreeMap<(String, String), (Vec<&Obj>, &Workload<'_>)> = BTreeMap::new();
    let mut by_ns: BTreeMap<String, Vec<&Obj>> = BTreeMap::new();
    for (o, sc) in ctx.sidecars() {
        let labels = sc.workload_selector.as_ref().map(|w| &w.labels).filter(|l| !l.is_empty());
        let Some(labels) = labels else {
            by_ns.entry(o.namespace.clone()).or_default().push(o);
            continue;
        };
        let mut found = false;
        for w in ctx.workloads().iter().filter(|w| w.namespace == o.namespace && selects(labels, w.labels)) {
            found = true;
            by_pod.entry((w.namespace.to_string(), w.name.to_string())).or_insert_with(|| (Vec::new(), w)).0.push(o);
        }
        if !found {
            let key = labels.keys().next().cloned().unwrap_or_default();
            let line = o.line_of_path(&strait_model::FieldPath(
                ["spec", "workloadSelector", "labels", key.as_str()]
                    .into_iter()
                    .map(|s| strait_model::Segment::Field(s.into()))
                    .collect(),
            ));
            out.report(
                &istio::REFERENCED_RESOURCE_NOT_FOUND,
                o,
                line,
                vec!["selector".into(), selector_string(labels).into()],
            );
        }
    }
    let mut reported: HashSet<String> = HashSet::new();
    for ((ns, pod), (list, w)) in &by_pod {
        let ambient = pod_ambient(w.annotations);
        if list.len() == 1 && !ambient {
            continue;
        }
        for o in list {
            if ambient {
                if reported.insert(o.full_name()) {
                    let why = "selected workload is in ambient mode, the policy has no impact";
                    out.report(&istio::INEFFECTIVE_POLICY, o, None, vec![why.into()]);
                }
                continue;
            }
            out.at(
                &istio::CONFLICTING_SIDECAR_WORKLOAD_SELECTORS,
                o,
                "metadata.name",
                vec![Arg::Strs(names(list)), ns.clone().into(), pod.clone().into()],
            );
        }
    }
    for (ns, list) in &by_ns {
        if namespace_ambient(ctx.namespace(ns)) {
            for o in list {
                if reported.insert(o.full_name()) {
                    let why = "namespace is in ambient mode, the policy has no impact";
                    out.report(&istio::INEFFECTIVE_POLICY, o, None, vec![why.into()]);
                }
            }
            continue;
        }
        if list.len() > 1 {
            for o in list {
                out.report(
                    &istio::MULTIPLE_SIDECARS_WITHOUT_WORKLOAD_SELECTORS,
                    o,
                    None,
                    vec![Arg::Strs(names(list)), ns.clone().into()],
                );
            }
        }
    }
}
