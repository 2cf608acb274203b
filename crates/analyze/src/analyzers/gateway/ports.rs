//! Mirrors Istio's `gateway.IngressGatewayPortAnalyzer`: a Gateway must select at least one
//! workload (IST0101 `selector`), and each server port must be a port (or target port) of a
//! TCP Service in front of those workloads, or clients cannot reach it (IST0162).

use super::{report_no_workload, selector_line};
use crate::codes::istio;
use crate::context::{Context, Reporter};
use crate::util::{selector_string, selects};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::{HashMap, HashSet};

/// Go's `IntOrString.IntValue()`: the number, or a numeric string parsed, else 0.
pub fn int_value(t: &IntOrString) -> i64 {
    match t {
        IntOrString::Int(n) => i64::from(*n),
        IntOrString::String(s) => s.parse().unwrap_or(0),
    }
}

/// Runs the analyzer.
pub fn run(ctx: &Context<'_>, out: &mut Reporter) {
    for (o, gw) in ctx.gateways() {
        let mut service_ports: HashSet<i64> = HashSet::new();
        let mut mapping: HashMap<i64, i64> = HashMap::new();
        let mut matches = 0;
        for w in ctx.workloads().iter().filter(|w| selects(&gw.selector, w.labels)) {
            matches += 1;
            for (_, svc) in ctx.services().filter(|(s, _)| s.namespace == w.namespace) {
                if !selects(svc.selector.as_ref().unwrap_or(&Default::default()), w.labels) {
                    continue;
                }
                for p in svc.ports.iter().flatten().filter(|p| p.protocol.as_deref() == Some("TCP")) {
                    match p.target_port.as_ref().map(int_value).unwrap_or(0) {
                        0 => {
                            service_ports.insert(i64::from(p.port));
                        }
                        tp => {
                            service_ports.insert(tp);
                            mapping.entry(i64::from(p.port)).or_insert(tp);
                        }
                    }
                }
            }
        }
        if matches == 0 {
            report_no_workload(out, o, &gw.selector);
            continue;
        }
        for port in gw.servers.iter().filter_map(|s| s.port.as_ref()) {
            let n = i64::from(port.number);
            if !service_ports.contains(&n) && !mapping.contains_key(&n) {
                out.report(
                    &istio::GATEWAY_PORT_NOT_DEFINED_ON_SERVICE,
                    o,
                    selector_line(o, &gw.selector),
                    vec![n.into(), selector_string(&gw.selector).into()],
                );
            }
        }
    }
}
