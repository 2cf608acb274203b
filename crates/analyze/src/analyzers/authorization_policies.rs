//! Mirrors Istio's `authz.AuthorizationPoliciesAnalyzer`: an AuthorizationPolicy must select
//! at least one workload in the mesh (IST0127; a policy in the root namespace looks in every
//! namespace), and the namespaces its rules name must exist (IST0101 `namespace`).

use crate::codes::istio;
use crate::context::{Context, Reporter};
use crate::util::{selector_string, selects};
use std::collections::BTreeMap;

fn namespace_matches(ns: &str, exp: &str) -> bool {
    if exp == "*" {
        return true;
    }
    if let Some(suffix) = exp.strip_prefix('*') {
        return ns.ends_with(suffix);
    }
    if let Some(prefix) = exp.strip_suffix('*') {
        return ns.starts_with(prefix);
    }
    ns.eq_ignore_ascii_case(exp)
}

/// Runs the analyzer.
pub fn run(ctx: &Context<'_>, out: &mut Reporter) {
    let mut meshed: BTreeMap<&str, Vec<&BTreeMap<String, String>>> = BTreeMap::new();
    for w in ctx.workloads() {
        let list = meshed.entry(w.namespace).or_default();
        if ctx.in_mesh(w.namespace, w.labels, w.annotations, w.spec) {
            list.push(w.labels);
        }
        if crate::analyzers::sidecar_selectors::pod_ambient(w.annotations) {
            list.push(w.labels);
        }
    }
    let root = ctx.mesh.effective_root_namespace().to_string();
    let namespaces: Vec<&str> = ctx.of_kind("Namespace").map(|o| o.name.as_str()).collect();
    for (o, ap) in ctx.authorization_policies() {
        let selector = ap.selector.as_ref().map(|s| &s.match_labels);
        let found = |sel: &BTreeMap<String, String>, lists: &[&Vec<&BTreeMap<String, String>>]| {
            lists.iter().any(|l| l.iter().any(|labels| selects(sel, labels)))
        };
        if o.namespace == root {
            if let Some(sel) = selector
                && !found(sel, &meshed.values().collect::<Vec<_>>())
            {
                out.report(&istio::NO_MATCHING_WORKLOADS_FOUND, o, None, vec![selector_string(sel).into()]);
            }
        } else {
            let local = meshed.get(o.namespace.as_str());
            let missing = match selector {
                None => local.is_none_or(Vec::is_empty),
                Some(sel) => !found(sel, &local.into_iter().collect::<Vec<_>>()),
            };
            if missing {
                let sel = selector.map(selector_string).unwrap_or_default();
                out.report(&istio::NO_MATCHING_WORKLOADS_FOUND, o, None, vec![sel.into()]);
            }
        }
        for (i, rule) in ap.rules.iter().enumerate() {
            for (j, from) in rule.from.iter().enumerate() {
                let Some(source) = &from.source else { continue };
                let listed = source.namespaces.iter().enumerate().chain(source.not_namespaces.iter().enumerate());
                for (k, ns) in listed {
                    if !namespaces.iter().any(|n| namespace_matches(n, ns)) {
                        let path = format!("spec.rules[{i}].from[{j}].source.namespaces[{k}]");
                        out.at(
                            &istio::REFERENCED_RESOURCE_NOT_FOUND,
                            o,
                            &path,
                            vec!["namespace".into(), ns.clone().into()],
                        );
                    }
                }
            }
        }
    }
}
