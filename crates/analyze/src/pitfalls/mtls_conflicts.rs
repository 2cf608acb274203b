//! STR0005: a DestinationRule TLS mode that the destination's PeerAuthentication refuses
//! (seed: "503 errors after setting destination rule"). The server side is Istio's
//! PeerAuthentication precedence for each workload behind the host: the workload's own policy
//! (selector, with `portLevelMtls` for the target port) over the namespace's over the mesh's
//! (root namespace), each level inheriting when its mode is UNSET, PERMISSIVE without any.
//! The client side is the DestinationRule's `tls.mode` for the port (port-level settings over
//! the top level). Conflicts: DISABLE, SIMPLE or MUTUAL against STRICT (the server wants Istio
//! mutual TLS), ISTIO_MUTUAL against DISABLE (the server wants plaintext). Without a `tls`
//! block auto mTLS picks the right mode, so nothing is reported.

use super::{service_workloads, target_number};
use crate::codes::strait;
use crate::context::{Context, Reporter, Workload};
use crate::input::Obj;
use crate::util::{fqdn, selects, service_of_fqdn};
use std::collections::BTreeMap;
use strait_model::networking::destination_rule::{ClientTlsSettings, DestinationRule, TlsMode};
use strait_model::security::peer_authentication::{MtlsMode, PeerAuthentication};

/// The mode a workload's sidecar accepts on `port`, and the PeerAuthentication that set it.
fn server_mode<'a>(ctx: &Context<'a>, w: &Workload<'_>, port: i32) -> (MtlsMode, Option<&'a Obj>) {
    let root = ctx.mesh.effective_root_namespace().to_string();
    let unselected = |pa: &PeerAuthentication| pa.selector.as_ref().is_none_or(|s| s.match_labels.is_empty());
    let pas: Vec<(&Obj, &PeerAuthentication)> = ctx.peer_authentications().collect();
    let mesh = pas.iter().find(|(o, pa)| o.namespace == root && unselected(pa));
    let namespace = pas.iter().find(|(o, pa)| o.namespace == w.namespace && unselected(pa));
    let workload = pas.iter().find(|(o, pa)| {
        o.namespace == w.namespace
            && pa.selector.as_ref().is_some_and(|s| !s.match_labels.is_empty() && selects(&s.match_labels, w.labels))
    });
    let mut mode = (MtlsMode::Permissive, None);
    for (o, pa) in [mesh, namespace, workload].into_iter().flatten() {
        if let Some(m) = pa.mtls.as_ref().map(|m| m.mode).filter(|m| *m != MtlsMode::Unset) {
            mode = (m, Some(*o));
        }
    }
    if let Some((o, pa)) = workload
        && let Some(m) = pa.port_level_mtls.as_ref().and_then(|p| p.get(&port.to_string())).map(|m| m.mode)
        && m != MtlsMode::Unset
    {
        mode = (m, Some(*o));
    }
    mode
}

/// The DestinationRule's TLS settings for a service port, and the field they sit at.
fn client_tls(dr: &DestinationRule, port: u32) -> Option<(&ClientTlsSettings, String)> {
    let tp = dr.traffic_policy.as_ref()?;
    let by_port = tp.port_level_settings.iter().enumerate().find(|(_, s)| s.port.is_some_and(|p| p.number == port));
    if let Some((i, s)) = by_port
        && let Some(tls) = &s.tls
    {
        return Some((tls, format!("spec.trafficPolicy.portLevelSettings[{i}].tls.mode")));
    }
    tp.tls.as_ref().map(|t| (t, "spec.trafficPolicy.tls.mode".to_string()))
}

fn mode_name(m: TlsMode) -> &'static str {
    match m {
        TlsMode::Disable => "DISABLE",
        TlsMode::Simple => "SIMPLE",
        TlsMode::Mutual => "MUTUAL",
        TlsMode::IstioMutual => "ISTIO_MUTUAL",
    }
}

/// (what the server accepts, the fix) when the modes conflict.
fn conflict(client: TlsMode, server: MtlsMode) -> Option<(&'static str, &'static str)> {
    match (client, server) {
        (TlsMode::Disable | TlsMode::Simple | TlsMode::Mutual, MtlsMode::Strict) => Some((
            "only Istio mutual TLS (STRICT)",
            "set tls.mode: ISTIO_MUTUAL, or remove the tls block and let auto mTLS choose",
        )),
        (TlsMode::IstioMutual, MtlsMode::Disable) => Some((
            "only plaintext (DISABLE)",
            "remove tls.mode: ISTIO_MUTUAL (auto mTLS sends plaintext to these workloads), or make the PeerAuthentication PERMISSIVE or STRICT",
        )),
        _ => None,
    }
}

/// Runs the analyzer.
pub fn run(ctx: &Context<'_>, out: &mut Reporter) {
    for (o, dr) in ctx.destination_rules() {
        let Some((ns, name)) = service_of_fqdn(&fqdn(&o.namespace, &dr.host)) else { continue };
        let Some((svc_obj, svc)) = ctx.services().find(|(s, _)| s.namespace == ns && s.name == name) else { continue };
        let workloads = service_workloads(ctx, svc_obj, svc);
        for p in svc.ports.iter().flatten() {
            let Some((tls, path)) = client_tls(dr, u32::try_from(p.port).unwrap_or_default()) else { continue };
            // (accepted, PeerAuthentication) → workloads
            let mut conflicts: BTreeMap<(&str, &str, String), Vec<String>> = BTreeMap::new();
            for w in &workloads {
                let Some(target) = target_number(w, p) else { continue };
                let (mode, by) = server_mode(ctx, w, target);
                if let (Some((accepts, fix)), Some(by)) = (conflict(tls.mode, mode), by) {
                    conflicts.entry((accepts, fix, by.full_name())).or_default().push(w.obj.full_name());
                }
            }
            for ((accepts, fix, by), names) in conflicts {
                out.at(
                    &strait::TLS_MODE_CONFLICTS_WITH_PEER_AUTHENTICATION,
                    o,
                    &path,
                    vec![
                        o.full_name().into(),
                        mode_name(tls.mode).into(),
                        format!("host {}.{}.svc.cluster.local port {}", name, ns, p.port).into(),
                        by.into(),
                        names.join(", ").into(),
                        accepts.into(),
                        fix.into(),
                    ],
                );
            }
        }
    }
}
