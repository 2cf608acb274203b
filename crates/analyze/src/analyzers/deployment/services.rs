//! Mirrors Istio's `deployment.ServiceAssociationAnalyzer`: the Services that select a meshed
//! Deployment's pods must agree on each port's L4 protocol (IST0116) and must not map one
//! target port from different service ports (IST0137), or the sidecar's inbound listeners
//! collide.

use crate::codes::istio;
use crate::context::{Context, Reporter};
use crate::message::Arg;
use crate::util::selects;
use k8s_openapi::api::core::v1::ServiceSpec;
use std::collections::BTreeMap;

/// Runs the analyzer.
pub fn run(ctx: &Context<'_>, out: &mut Reporter) {
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    for (o, spec) in ctx.deployments() {
        let Some(spec) = spec else { continue };
        if o.labels().get("gateway.istio.io/managed").is_some_and(|v| v == "istio.io-mesh-controller") {
            continue;
        }
        let meta = spec.template.metadata.as_ref();
        let labels = meta.and_then(|m| m.labels.as_ref()).unwrap_or(&EMPTY);
        let annotations = meta.and_then(|m| m.annotations.as_ref()).unwrap_or(&EMPTY);
        if !ctx.in_mesh(&o.namespace, labels, annotations, spec.template.spec.as_ref()) {
            continue;
        }
        let services: Vec<(String, &ServiceSpec)> = ctx
            .services()
            .filter(|(s, svc)| {
                let sel = svc.selector.as_ref().unwrap_or(&EMPTY);
                s.namespace == o.namespace && !sel.is_empty() && selects(sel, labels)
            })
            .map(|(s, svc)| (s.full_name(), svc))
            .collect();
        // port → protocol → services
        let mut ports: BTreeMap<i32, BTreeMap<String, Vec<String>>> = BTreeMap::new();
        // target port → service port → service
        let mut targets: BTreeMap<String, BTreeMap<i32, String>> = BTreeMap::new();
        for (name, svc) in &services {
            for p in svc.ports.iter().flatten() {
                let protocol = p.protocol.clone().filter(|p| !p.is_empty()).unwrap_or_else(|| "TCP".into());
                ports.entry(p.port).or_default().entry(protocol).or_default().push(name.clone());
                let mut target = super::super::service_port_names::target_port_string(p);
                if target == "0" || target.is_empty() {
                    target = p.port.to_string();
                }
                targets.entry(target).or_default().insert(p.port, name.clone());
            }
        }
        for (port, protocols) in &ports {
            if protocols.len() > 1 {
                let mut names: Vec<String> = protocols.values().flatten().cloned().collect();
                names.sort();
                out.at(
                    &istio::DEPLOYMENT_ASSOCIATED_TO_MULTIPLE_SERVICES,
                    o,
                    "metadata.name",
                    vec![o.name.clone().into(), (*port).into(), Arg::Strs(names)],
                );
            }
        }
        for (target, by_port) in &targets {
            if by_port.len() > 1 {
                let mut names: Vec<String> = by_port.values().cloned().collect();
                names.sort();
                let numbers = by_port.keys().map(|p| i64::from(*p)).collect();
                out.at(
                    &istio::DEPLOYMENT_CONFLICTING_PORTS,
                    o,
                    "metadata.name",
                    vec![o.name.clone().into(), Arg::Strs(names), target.clone().into(), Arg::Ints(numbers)],
                );
            }
        }
    }
}
