//! Mirrors Istio's `gateway.SecretAnalyzer`: a Gateway server's `credentialName` must name a
//! Secret in the namespace of the gateway's workload (IST0101 `credentialName`; IST0101
//! `selector` when no workload is selected), and the Secret must hold a certificate that
//! parses and is valid now (IST0161), with Istio's key names (`cert`/`key` or
//! `tls.crt`/`tls.key`).

use super::report_no_workload;
use crate::codes::istio;
use crate::context::{Context, Reporter};
use crate::util::selects;
use strait_model::Resource;

/// The certificate of a TLS Secret, as Istio's `ExtractCertInfo` finds it.
fn certificate(data: &std::collections::BTreeMap<String, k8s_openapi::ByteString>) -> Option<&[u8]> {
    let value = |k: &str| data.get(k).map(|v| v.0.as_slice()).filter(|v| !v.is_empty());
    if let (Some(cert), Some(_)) = (value("cert"), value("key")) {
        return Some(cert);
    }
    if let (Some(cert), Some(_)) = (value("tls.crt"), value("tls.key")) {
        return Some(cert);
    }
    None
}

/// True when the first PEM block is an X.509 certificate that is valid now (Istio's
/// `ValidateCertificate`).
pub fn valid_certificate(pem: &[u8]) -> bool {
    let Ok((_, block)) = x509_parser::pem::parse_x509_pem(pem) else { return false };
    match block.parse_x509() {
        Ok(cert) => cert.validity().is_valid(),
        Err(_) => false,
    }
}

/// Runs the analyzer.
pub fn run(ctx: &Context<'_>, out: &mut Reporter) {
    for (o, gw) in ctx.gateways() {
        let Some(w) = ctx.workloads().iter().find(|w| selects(&gw.selector, w.labels)) else {
            report_no_workload(out, o, &gw.selector);
            continue;
        };
        for (i, server) in gw.servers.iter().enumerate() {
            let Some(cn) = server.tls.as_ref().and_then(|t| t.credential_name.as_deref()).filter(|c| !c.is_empty())
            else {
                continue;
            };
            let (ns, name) = crate::analyzers::virtualservice::gateways::short_or_full(w.namespace, cn);
            let path = format!("spec.servers[{i}].tls.credentialName");
            match ctx.find("Secret", &ns, &name).map(|s| &s.resource) {
                None => {
                    out.at(&istio::REFERENCED_RESOURCE_NOT_FOUND, o, &path, vec!["credentialName".into(), cn.into()])
                }
                Some(Resource::Secret(secret)) => {
                    let empty = Default::default();
                    let ok = certificate(secret.data.as_ref().unwrap_or(&empty)).is_some_and(valid_certificate);
                    if !ok {
                        out.at(
                            &istio::INVALID_GATEWAY_CREDENTIAL,
                            o,
                            &path,
                            vec![o.name.clone().into(), w.namespace.into()],
                        );
                    }
                }
                Some(_) => {}
            }
        }
    }
}
