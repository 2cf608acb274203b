//! STR0009–STR0011, from runtime facts ([`crate::runtime`]): whether each running workload's
//! app listens where its sidecar sends inbound traffic — the app address (`forwardsTo`) and
//! the target port of every Service that selects it. Seeds: an app listening on 127.0.0.1
//! only (its sidecar connects to the pod IP: refused, 503 `UF`), an app listening on 0.0.0.0
//! (IPv4 only) in an IPv6 or dual-stack pod whose sidecar connects over IPv6
//! (`delayed_connect_error:_111`). Nothing is reported without runtime facts.

use super::target_number;
use crate::codes::strait;
use crate::context::{Context, Reporter, Workload};
use crate::input::Obj;
use crate::runtime::{Listener, WorkloadFacts};
use crate::util::selects;
use std::collections::BTreeMap;
use std::net::IpAddr;

fn family(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() { "IPv4" } else { "IPv6" }
}

fn addresses(list: &[&Listener]) -> String {
    list.iter()
        .map(|l| match l.address {
            IpAddr::V6(a) => format!("[{a}]:{}", l.port),
            IpAddr::V4(a) => format!("{a}:{}", l.port),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The config workload a fact is about (Pod or Deployment of that name), when there is one.
fn workload<'c, 'a>(ctx: &'c Context<'a>, f: &WorkloadFacts) -> Option<&'c Workload<'a>> {
    ctx.workloads().iter().find(|w| w.namespace == f.namespace && w.name == f.name)
}

fn check(out: &mut Reporter, origin: &Obj, who: &str, f: &WorkloadFacts, port: i32, service: &str) {
    let Ok(port16) = u16::try_from(port) else { return };
    let on_port: Vec<&Listener> = f.listening.iter().filter(|l| l.port == port16).collect();
    if on_port.is_empty() {
        out.report(
            &strait::APP_NOT_LISTENING,
            origin,
            None,
            vec![who.into(), port.into(), service.into(), port.into()],
        );
        return;
    }
    if on_port.iter().any(|l| l.accepts(f.forwards_to)) {
        return;
    }
    let target = f.forwards_to.to_string();
    if on_port.iter().all(|l| l.address.is_loopback()) && !f.forwards_to.is_loopback() {
        out.report(
            &strait::APP_LISTENS_ON_LOCALHOST,
            origin,
            None,
            vec![
                who.into(),
                addresses(&on_port).into(),
                port.into(),
                service.into(),
                target.clone().into(),
                target.into(),
            ],
        );
        return;
    }
    let families: std::collections::BTreeSet<&str> = on_port.iter().map(|l| family(l.address)).collect();
    let why = match families.into_iter().collect::<Vec<_>>().as_slice() {
        [one] if *one != family(f.forwards_to) => format!("{one} only"),
        _ => "other addresses".to_string(),
    };
    out.report(
        &strait::APP_LISTENER_ADDRESS_MISMATCH,
        origin,
        None,
        vec![
            who.into(),
            port.into(),
            addresses(&on_port).into(),
            why.into(),
            service.into(),
            target.clone().into(),
            family(f.forwards_to).into(),
            target.into(),
        ],
    );
}

/// Runs the analyzer.
pub fn run(ctx: &Context<'_>, out: &mut Reporter) {
    for f in &ctx.input.runtime.workloads {
        let w = workload(ctx, f);
        let labels: &BTreeMap<String, String> = w.map_or(&f.labels, |w| w.labels);
        let who = w.map_or_else(
            || format!("Workload {}/{}", f.namespace, f.name),
            |w| format!("{} {}", w.obj.kind, w.obj.full_name()),
        );
        for (svc_obj, svc) in ctx.services().filter(|(s, _)| s.namespace == f.namespace) {
            let Some(selector) = svc.selector.as_ref().filter(|s| !s.is_empty()) else { continue };
            if !selects(selector, labels) {
                continue;
            }
            for p in svc.ports.iter().flatten().filter(|p| p.protocol.as_deref().is_none_or(|p| p == "TCP")) {
                let target = match w {
                    Some(w) => target_number(w, p),
                    None => match &p.target_port {
                        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(n)) => Some(*n),
                        Some(_) => None,
                        None => Some(p.port),
                    },
                };
                let Some(target) = target else { continue };
                let service = format!("Service {} port {}", svc_obj.full_name(), p.port);
                let origin = w.map_or(svc_obj, |w| w.obj);
                check(out, origin, &who, f, target, &service);
            }
        }
    }
}
