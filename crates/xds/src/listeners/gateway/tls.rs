//! The `DownstreamTlsContext` of a terminating gateway server, as Istio's
//! `buildGatewayListenerTLSContext`: ALPN h2/http1.1 for HTTPS; client certificates required
//! (MUTUAL) or optional (OPTIONAL_MUTUAL), with SAN and hash/SPKI pins. Certificates come
//! from files (`serverCertificate`/`privateKey`, `tlsCertificates[]`, `caCertificates`) or,
//! with `credentialName(s)`, from Kubernetes Secrets over SDS (`kubernetes://NAME`, the CA
//! from `kubernetes://NAME-cacert` or `caCertCredentialName`).
//!
//! A credential that cannot be served (missing Secret, wrong keys, bad PEM, another
//! namespace) drops the server: it gets no filter chain and the control plane logs a warning
//! naming the gateway, the server and the secret. The other servers are untouched. Istio
//! keeps the chain and lets Envoy wait for a secret that never comes (each new listener on
//! that port stalls for the initial fetch timeout, then that server's handshakes fail):
//! clients see the same failure here without the stall, and Envoy never NACKs.

use crate::clusters::tls::san_matcher;
use crate::routes::gateway::GwServer;
use crate::scope::Scope;
use crate::secrets;
use envoy_types::pb::envoy::config::core::v3::{DataSource, data_source::Specifier};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, CommonTlsContext, DownstreamTlsContext, TlsCertificate,
    certificate_validation_context::TrustChainVerification,
    common_tls_context::{CombinedCertificateValidationContext, ValidationContextType},
};
use envoy_types::pb::google::protobuf::BoolValue;
use strait_model::networking::gateway::{ServerTlsSettings, TlsMode};

fn file(path: &str) -> Option<DataSource> {
    Some(DataSource { specifier: Some(Specifier::Filename(path.to_string())), ..Default::default() })
}

fn set(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

/// The server's TLS context; `None` without a usable certificate.
pub(crate) fn terminate_context(scope: &Scope<'_>, s: &GwServer<'_>, http: bool) -> Option<DownstreamTlsContext> {
    let tls = s.server.tls.as_ref()?;
    let mode = tls.effective_mode();
    let mutual = matches!(mode, TlsMode::Mutual | TlsMode::OptionalMutual);
    let mut common = if tls.uses_credential() { credential(scope, s, tls, mutual)? } else { files(tls, mutual)? };
    common.alpn_protocols = if http { vec!["h2".into(), "http/1.1".into()] } else { Vec::new() };
    Some(DownstreamTlsContext {
        common_tls_context: Some(common),
        require_client_certificate: Some(BoolValue { value: mode == TlsMode::Mutual }),
        ..Default::default()
    })
}

/// The server certificates of `tls`: `serverCertificate`/`privateKey`, then `tlsCertificates[]`.
fn certificates(tls: &ServerTlsSettings) -> Vec<TlsCertificate> {
    let pair = |cert: Option<&str>, key: Option<&str>| match (cert, key) {
        (Some(c), Some(k)) => {
            Some(TlsCertificate { certificate_chain: file(c), private_key: file(k), ..Default::default() })
        }
        _ => None,
    };
    let mut out: Vec<_> = pair(set(&tls.server_certificate), set(&tls.private_key)).into_iter().collect();
    out.extend(tls.tls_certificates.iter().filter_map(|c| pair(set(&c.server_certificate), set(&c.private_key))));
    out
}

/// File certificates (Envoy reads and watches the files).
fn files(tls: &ServerTlsSettings, mutual: bool) -> Option<CommonTlsContext> {
    let certs = certificates(tls);
    if certs.is_empty() {
        return None;
    }
    let mut common = CommonTlsContext { tls_certificates: certs, ..Default::default() };
    if mutual {
        let ca =
            set(&tls.ca_certificates).or_else(|| tls.tls_certificates.iter().find_map(|c| set(&c.ca_certificates)));
        common.validation_context_type = Some(ValidationContextType::ValidationContext(CertificateValidationContext {
            trusted_ca: ca.and_then(file),
            crl: set(&tls.ca_crl).and_then(file),
            ..client_checks(tls)
        }));
    }
    Some(common)
}

/// SAN and pin checks on client certificates (trust is added by the caller).
fn client_checks(tls: &ServerTlsSettings) -> CertificateValidationContext {
    CertificateValidationContext {
        match_typed_subject_alt_names: tls.subject_alt_names.iter().map(|s| san_matcher(s)).collect(),
        verify_certificate_spki: tls.verify_certificate_spki.clone(),
        verify_certificate_hash: tls.verify_certificate_hash.clone(),
        ..Default::default()
    }
}

/// Istio's `ApplyCredentialSDSToServerCommonTLSContext`: every `credentialNames` entry (else
/// `credentialName`) as an SDS certificate; for mutual modes the CA from
/// `caCertCredentialName`, else from the first credential's `-cacert` resource. `None` (with
/// a warning) when any of them cannot be served.
fn credential(scope: &Scope<'_>, s: &GwServer<'_>, tls: &ServerTlsSettings, mutual: bool) -> Option<CommonTlsContext> {
    let names: Vec<&str> = if tls.credential_names.is_empty() {
        set(&tls.credential_name).into_iter().collect()
    } else {
        tls.credential_names.iter().map(String::as_str).collect()
    };
    let certs: Vec<String> = names.iter().map(|n| secrets::resource_name(n)).collect();
    let ca = mutual.then(|| match set(&tls.ca_cert_credential_name) {
        Some(c) => secrets::resource_name(c),
        None => secrets::ca_resource_name(names.first().copied().unwrap_or_default()),
    });
    for resource in certs.iter().chain(&ca) {
        let is_ca = ca.as_ref() == Some(resource);
        let usable = if is_ca && !secrets::is_ca(resource) {
            Err("caCertCredentialName must name a CA: a NAME-cacert Secret or configmap://NAMESPACE/NAME".into())
        } else if !is_ca && secrets::is_ca(resource) {
            Err("credentialName must name a Secret holding a certificate and key".into())
        } else {
            secrets::resolve(scope, resource).map(|_| ())
        };
        if let Err(why) = usable {
            unserved(scope, s, resource, &why);
            return None;
        }
    }
    let mut common = CommonTlsContext {
        tls_certificate_sds_secret_configs: certs.iter().map(|c| secrets::sds_config(c)).collect(),
        ..Default::default()
    };
    if let Some(ca) = ca {
        let skip = tls.insecure_skip_verify == Some(true);
        let default = CertificateValidationContext {
            trust_chain_verification: if skip { TrustChainVerification::AcceptUntrusted as i32 } else { 0 },
            ..client_checks(tls)
        };
        common.validation_context_type =
            Some(ValidationContextType::CombinedValidationContext(CombinedCertificateValidationContext {
                default_validation_context: Some(default),
                validation_context_sds_secret_config: Some(secrets::sds_config(&ca)),
                ..Default::default()
            }));
    }
    Some(common)
}

/// Logs a server left out for want of its credential (istiod logs the same per push).
fn unserved(scope: &Scope<'_>, s: &GwServer<'_>, resource: &str, why: &str) {
    let port = s.server.port.as_ref();
    let server = s.server.name.clone().filter(|n| !n.is_empty()).or_else(|| port.map(|p| p.name.clone()));
    tracing::warn!(
        proxy = %scope.proxy.id,
        gateway = %s.key(),
        server = server.as_deref().unwrap_or_default(),
        port = port.map_or(0, |p| p.number),
        secret = resource,
        "gateway server not served: credential {resource} is unusable: {why}"
    );
}
