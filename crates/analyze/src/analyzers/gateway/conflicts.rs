//! Mirrors Istio's `gateway.ConflictingGatewayAnalyzer`: Gateways on the same workload that
//! declare the same port with the same host (and bind address) conflict; istiod keeps one
//! (IST0145). A Gateway with servers whose selector matches no other gateway's workloads is
//! reported as selecting nothing (IST0101).
//!
//! Istio's duplicate check (`model.CheckDuplicates`) records the hosts of a server that did
//! not conflict into the map of the gateway it was compared with, so later comparisons see
//! them; that is kept, with maps walked in sorted order where Istio walks Go maps.

use crate::codes::istio;
use crate::context::{Context, Reporter};
use crate::util::{selector_string, selects};
use std::collections::BTreeMap;

/// host → bind address.
type HostsBind = BTreeMap<String, String>;
/// `selector~port` → gateway `ns/name` → its hosts on that port.
type GatewayMap = BTreeMap<String, BTreeMap<String, HostsBind>>;

fn parse_selector(s: &str) -> BTreeMap<String, String> {
    s.split(',').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Istio's `CheckDuplicates`: the hosts already known on the same bind; when there are none,
/// the hosts become known.
fn duplicates(hosts: &[String], bind: &str, known: &mut HostsBind) -> usize {
    let dups = hosts.iter().filter(|h| known.get(*h).is_some_and(|b| b == bind)).count();
    if dups == 0 {
        for h in hosts {
            known.insert(h.clone(), bind.to_string());
        }
    }
    dups
}

/// Runs the analyzer.
pub fn run(ctx: &Context<'_>, out: &mut Reporter) {
    let mut map: GatewayMap = BTreeMap::new();
    for (o, gw) in ctx.gateways() {
        let selector = selector_string(&gw.selector);
        for s in &gw.servers {
            let port = s.port.as_ref().map_or(0, |p| p.number);
            let hosts = s.hosts.iter().map(|h| (h.clone(), s.bind.clone().unwrap_or_default())).collect();
            map.entry(format!("{selector}~{port}")).or_default().insert(o.full_name(), hosts);
        }
    }
    for (o, gw) in ctx.gateways() {
        let name = o.full_name();
        let selector = selector_string(&gw.selector);
        let hit: Vec<String> = map
            .keys()
            .filter(|key| {
                let x = key.split('~').next().unwrap_or_default();
                if x == selector {
                    return true;
                }
                if !(x.contains(&selector) || selector.contains(x)) {
                    return false;
                }
                let xsel = parse_selector(x);
                ctx.workloads().iter().any(|w| selects(&gw.selector, w.labels) && selects(&xsel, w.labels))
            })
            .cloned()
            .collect();
        if !selector.is_empty() && hit.is_empty() {
            super::report_no_workload(out, o, &gw.selector);
            continue;
        }
        for s in &gw.servers {
            let port = s.port.as_ref().map_or(0, |p| p.number).to_string();
            let bind = s.bind.clone().unwrap_or_default();
            let mut conflicting = Vec::new();
            for key in hit.iter().filter(|k| k.rsplit('~').next() == Some(port.as_str())) {
                let Some(values) = map.get_mut(key) else { continue };
                for (other, known) in values.iter_mut() {
                    if *other != name && duplicates(&s.hosts, &bind, known) > 0 {
                        conflicting.push(other.clone());
                    }
                }
            }
            if !conflicting.is_empty() {
                conflicting.sort();
                out.report(
                    &istio::CONFLICTING_GATEWAYS,
                    o,
                    None,
                    vec![conflicting.join(",").into(), selector.clone().into(), port.into(), s.hosts.join(",").into()],
                );
            }
        }
    }
}
