//! DestinationRule client TLS → the cluster's `envoy.transport_sockets.tls` socket, as Istio's
//! `cluster_tls.go` for `SIMPLE` and `MUTUAL` with file certificates: TLS 1.2–1.3, `sni`,
//! `caCertificates` (else the system bundle) with `subjectAltNames`, the client certificate for
//! `MUTUAL`, no verification with `insecureSkipVerify`, `h2` ALPN on HTTP/2 clusters, and
//! auto SNI / SAN validation from the request's host when `sni` is unset.
//!
//! Strait reads the files directly (Envoy watches them) where Istio's agent serves them over
//! SDS. `credentialName` is served over SDS (`crate::secrets`): the client certificate from
//! `kubernetes://NAME` (MUTUAL) and the CA from `kubernetes://NAME-cacert`, as Istio's
//! `ApplyCustomSDSToClientCommonTLSContext`. As in Istio, a Secret credential applies to
//! gateways, and to sidecars only through a DestinationRule with a `workloadSelector`;
//! otherwise a sidecar's cluster gets no TLS at all (Istio's guard against every sidecar in
//! scope asking for a Secret it may not read). A missing Secret keeps the reference (never a
//! silent fallback to plaintext): Envoy waits for it, then fails the handshakes, until the
//! Secret appears; the control plane logs a warning.

use super::Wrapper;
use super::plan::Plan;
use crate::scope::Scope;
use crate::secrets;
use envoy_types::pb::envoy::config::core::v3::{
    DataSource, TransportSocket, UpstreamHttpProtocolOptions, data_source::Specifier, transport_socket::ConfigType,
};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, CommonTlsContext, SubjectAltNameMatcher, TlsCertificate, TlsParameters,
    UpstreamTlsContext,
    common_tls_context::{CombinedCertificateValidationContext, ValidationContextType},
    subject_alt_name_matcher::SanType,
    tls_parameters::TlsProtocol,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{StringMatcher, string_matcher::MatchPattern};
use strait_model::networking::destination_rule::{ClientTlsSettings, TlsMode};
use strait_registry::NodeType;

/// The transport socket name Envoy knows TLS by.
pub const TLS_SOCKET: &str = "envoy.transport_sockets.tls";

/// The OS trust bundle used when `caCertificates` is unset (Istio's agent uses the system roots).
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Sets the cluster's transport socket from the plan's effective TLS settings.
pub fn apply(w: &mut Wrapper, scope: &Scope<'_>, plan: &Plan<'_>) {
    let Some(tls) = plan.policy.as_ref().and_then(|p| p.tls.as_ref()) else { return };
    let credential = tls.credential_name.as_deref().filter(|c| !c.is_empty());
    if let Some(name) = credential {
        // Istio's `privilegedCredentialLookup`: ConfigMap CAs are public, Secrets are not.
        let selected = plan.rule.as_ref().is_some_and(|r| r.rule.workload_selector.is_some());
        if !name.starts_with(secrets::CONFIGMAP) && scope.proxy.id.node_type == NodeType::Sidecar && !selected {
            return;
        }
    }
    let mut context = match tls.mode {
        TlsMode::Disable => return,
        // TODO(security: ISTIO_MUTUAL): mesh mTLS with SPIFFE certificates from the local CA
        // (SDS `default`/`ROOTCA`, SNI `outbound_.PORT_.SUBSET_.HOST`, ALPN `istio`) and
        // auto-mTLS via `envoy.transport_socket_match`; until then such clusters stay plaintext.
        TlsMode::IstioMutual => return,
        TlsMode::Simple | TlsMode::Mutual if credential.is_some() => credential_context(scope, &plan.name, tls),
        TlsMode::Simple => upstream_context(tls, false),
        TlsMode::Mutual => upstream_context(tls, true),
    };
    if plan.port.protocol.is_http2()
        && let Some(common) = context.common_tls_context.as_mut()
    {
        common.alpn_protocols = vec!["h2".into()];
    }
    auto_sni_and_san(w, tls);
    w.cluster.transport_socket = Some(TransportSocket {
        name: TLS_SOCKET.into(),
        config_type: Some(ConfigType::TypedConfig(crate::any::pack(&context))),
    });
}

/// The `UpstreamTlsContext` of a SIMPLE (`mutual` false) or MUTUAL origination.
pub fn upstream_context(tls: &ClientTlsSettings, mutual: bool) -> UpstreamTlsContext {
    let mut common = CommonTlsContext {
        tls_params: Some(TlsParameters {
            tls_minimum_protocol_version: TlsProtocol::TlSv12 as i32,
            tls_maximum_protocol_version: TlsProtocol::TlSv13 as i32,
            ..Default::default()
        }),
        ..Default::default()
    };
    let file =
        |path: &str| Some(DataSource { specifier: Some(Specifier::Filename(path.to_string())), ..Default::default() });
    let set = |s: &Option<String>| s.as_deref().filter(|s| !s.is_empty()).map(str::to_string);
    if mutual && let (Some(cert), Some(key)) = (set(&tls.client_certificate), set(&tls.private_key)) {
        common.tls_certificates =
            vec![TlsCertificate { certificate_chain: file(&cert), private_key: file(&key), ..Default::default() }];
    }
    let validation = if tls.insecure_skip_verify == Some(true) {
        CertificateValidationContext::default()
    } else {
        CertificateValidationContext {
            trusted_ca: file(&set(&tls.ca_certificates).unwrap_or_else(|| SYSTEM_CA_BUNDLE.to_string())),
            match_typed_subject_alt_names: tls.subject_alt_names.iter().map(|s| san_matcher(s)).collect(),
            crl: set(&tls.ca_crl).and_then(|c| file(&c)),
            ..Default::default()
        }
    };
    common.validation_context_type = Some(ValidationContextType::ValidationContext(validation));
    UpstreamTlsContext {
        common_tls_context: Some(common),
        sni: tls.sni.clone().unwrap_or_default(),
        ..Default::default()
    }
}

/// The `UpstreamTlsContext` of a `credentialName`: SDS client certificate (MUTUAL) and SDS
/// CA with the SAN checks (unless `insecureSkipVerify`). Unservable secrets are logged.
fn credential_context(scope: &Scope<'_>, cluster: &str, tls: &ClientTlsSettings) -> UpstreamTlsContext {
    let name = tls.credential_name.as_deref().unwrap_or_default();
    let mut context = upstream_context(&ClientTlsSettings { credential_name: None, ..tls.clone() }, false);
    let Some(common) = context.common_tls_context.as_mut() else { return context };
    let mut wanted = Vec::new();
    if tls.mode == TlsMode::Mutual {
        let cert = secrets::resource_name(name);
        common.tls_certificate_sds_secret_configs = vec![secrets::sds_config(&cert)];
        wanted.push(cert);
    }
    common.validation_context_type = if tls.insecure_skip_verify == Some(true) {
        None
    } else {
        let ca = secrets::ca_resource_name(name);
        let default = CertificateValidationContext {
            match_typed_subject_alt_names: tls.subject_alt_names.iter().map(|s| san_matcher(s)).collect(),
            ..Default::default()
        };
        let combined = CombinedCertificateValidationContext {
            default_validation_context: Some(default),
            validation_context_sds_secret_config: Some(secrets::sds_config(&ca)),
            ..Default::default()
        };
        wanted.push(ca);
        Some(ValidationContextType::CombinedValidationContext(combined))
    };
    for resource in wanted {
        if let Err(why) = secrets::resolve(scope, &resource) {
            tracing::warn!(proxy = %scope.proxy.id, cluster, secret = %resource, "DestinationRule credential {resource} is unusable, TLS to this cluster will fail: {why}");
        }
    }
    context
}

/// SPIFFE IDs and other URIs match the URI SAN; anything else a DNS SAN.
pub(crate) fn san_matcher(san: &str) -> SubjectAltNameMatcher {
    let san_type = if san.contains("://") { SanType::Uri } else { SanType::Dns };
    SubjectAltNameMatcher {
        san_type: san_type as i32,
        matcher: Some(StringMatcher {
            match_pattern: Some(MatchPattern::Exact(san.to_string())),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Istio's `setAutoSniAndAutoSanValidation`: without `sni` the request's host is sent; without
/// `subjectAltNames` (and with verification) the certificate must match that host.
fn auto_sni_and_san(w: &mut Wrapper, tls: &ClientTlsSettings) {
    let auto_sni = tls.sni.as_deref().is_none_or(str::is_empty);
    let auto_san = auto_sni && tls.subject_alt_names.is_empty() && tls.insecure_skip_verify != Some(true);
    if auto_sni || auto_san {
        let opts = w.http().upstream_http_protocol_options.get_or_insert_with(UpstreamHttpProtocolOptions::default);
        opts.auto_sni = auto_sni;
        opts.auto_san_validation = auto_san;
    }
}
