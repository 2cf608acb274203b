//! Mirrors Istio's `destinationrule.CaCertificateAnalyzer`: TLS origination (`SIMPLE` or
//! `MUTUAL`) without `caCertificates` does not verify the server's certificate (IST0128 at the
//! destination level, IST0129 per port), unless a `credentialName` supplies the CA on a rule
//! with a `workloadSelector` (a gateway's rule).

use crate::codes::istio;
use crate::context::{Context, Reporter};
use strait_model::networking::destination_rule::{ClientTlsSettings, TlsMode};

fn unverified(tls: Option<&ClientTlsSettings>, has_selector: bool) -> Option<&'static str> {
    let tls = tls?;
    let mode = match tls.mode {
        TlsMode::Simple => "SIMPLE",
        TlsMode::Mutual => "MUTUAL",
        _ => return None,
    };
    let empty = |o: &Option<String>| o.as_deref().is_none_or(str::is_empty);
    let from_credential = !empty(&tls.credential_name) && has_selector;
    (empty(&tls.ca_certificates) && !from_credential).then_some(mode)
}

/// Runs the analyzer.
pub fn run(ctx: &Context<'_>, out: &mut Reporter) {
    for (o, dr) in ctx.destination_rules() {
        let has_selector = dr.workload_selector.is_some();
        let policy = dr.traffic_policy.as_ref();
        if let Some(mode) = unverified(policy.and_then(|p| p.tls.as_ref()), has_selector) {
            out.at(
                &istio::NO_SERVER_CERTIFICATE_VERIFICATION_DESTINATION_LEVEL,
                o,
                "spec.trafficPolicy.tls.caCertificates",
                vec![o.full_name().into(), o.namespace.clone().into(), mode.into(), dr.host.clone().into()],
            );
        }
        for (i, p) in policy.map(|p| p.port_level_settings.as_slice()).unwrap_or_default().iter().enumerate() {
            if let Some(mode) = unverified(p.tls.as_ref(), has_selector) {
                // Go prints the PortSelector message in protobuf text format.
                let port = p.port.map_or_else(|| "<nil>".to_string(), |s| format!("number:{}", s.number));
                let path = format!("spec.trafficPolicy.portLevelSettings[{i}].tls.caCertificates");
                out.at(
                    &istio::NO_SERVER_CERTIFICATE_VERIFICATION_PORT_LEVEL,
                    o,
                    &path,
                    vec![
                        o.full_name().into(),
                        o.namespace.clone().into(),
                        mode.into(),
                        dr.host.clone().into(),
                        port.into(),
                    ],
                );
            }
        }
    }
}
