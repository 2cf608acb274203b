//! Mirrors Istio's `gateway.CertificateAnalyzer`: Gateways on the same workload (one's
//! selector a subset of the other's) that serve the same certificate (`credentialName`, or the
//! same certificate and key files) make browsers reuse HTTP/2 connections across their hosts
//! and get 404s (IST0138).

use crate::codes::istio;
use crate::context::{Context, Reporter};
use crate::input::Obj;
use std::collections::BTreeMap;
use strait_model::networking::gateway::Gateway;
use strait_model::networking::server_tls::ServerTlsSettings;

/// True when `x`'s labels all appear, with the same values, in `y` (Istio's `selectorSubset`).
fn selector_subset(x: &BTreeMap<String, String>, y: &BTreeMap<String, String>) -> bool {
    x.iter().all(|(k, v)| y.get(k) == Some(v))
}

/// Istio's `haveSameCertificate`.
pub fn same_certificate(a: &ServerTlsSettings, b: &ServerTlsSettings) -> bool {
    let s = |o: &Option<String>| o.clone().unwrap_or_default();
    let (ca, cb) = (s(&a.credential_name), s(&b.credential_name));
    if !ca.is_empty() && !cb.is_empty() {
        return ca == cb;
    }
    if ca.is_empty() && cb.is_empty() {
        let (sa, sb) = (s(&a.server_certificate), s(&b.server_certificate));
        let (ka, kb) = (s(&a.private_key), s(&b.private_key));
        return !sa.is_empty() && sa == sb && !ka.is_empty() && !kb.is_empty() && ka == kb;
    }
    false
}

/// Runs the analyzer.
pub fn run(ctx: &Context<'_>, out: &mut Reporter) {
    let gateways: Vec<(&Obj, &Gateway)> = ctx.gateways().collect();
    for (o, gw) in &gateways {
        for (other_obj, other) in &gateways {
            let same_object = o.namespace == other_obj.namespace && o.name == other_obj.name;
            if same_object || !(gw.selector.is_empty() || selector_subset(&gw.selector, &other.selector)) {
                continue;
            }
            for a in gw.servers.iter().filter_map(|s| s.tls.as_ref()) {
                for b in other.servers.iter().filter_map(|s| s.tls.as_ref()) {
                    if same_certificate(a, b) {
                        let names = vec![o.full_name(), other_obj.full_name()];
                        out.at(&istio::GATEWAY_DUPLICATE_CERTIFICATE, o, "metadata.name", vec![names.into()]);
                    }
                }
            }
        }
    }
}
