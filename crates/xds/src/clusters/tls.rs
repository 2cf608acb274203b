//! DestinationRule client TLS → the cluster's `envoy.transport_sockets.tls` socket, as Istio's
//! `cluster_tls.go` for `SIMPLE` and `MUTUAL` with file certificates: TLS 1.2–1.3, `sni`,
//! `caCertificates` (else the system bundle) with `subjectAltNames`, the client certificate for
//! `MUTUAL`, no verification with `insecureSkipVerify`, `h2` ALPN on HTTP/2 clusters, and
//! auto SNI / SAN validation from the request's host when `sni` is unset.
//!
//! Strait reads the files directly (Envoy watches them) where Istio's agent serves them over
//! SDS; `credentialName` (Kubernetes secrets) is not supported yet.

use super::Wrapper;
use envoy_types::pb::envoy::config::core::v3::{
    DataSource, TransportSocket, UpstreamHttpProtocolOptions, data_source::Specifier, transport_socket::ConfigType,
};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, CommonTlsContext, SubjectAltNameMatcher, TlsCertificate, TlsParameters,
    UpstreamTlsContext, common_tls_context::ValidationContextType, subject_alt_name_matcher::SanType,
    tls_parameters::TlsProtocol,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{StringMatcher, string_matcher::MatchPattern};
use strait_model::networking::destination_rule::{ClientTlsSettings, TlsMode};
use strait_registry::Protocol;

/// The transport socket name Envoy knows TLS by.
pub const TLS_SOCKET: &str = "envoy.transport_sockets.tls";

/// The OS trust bundle used when `caCertificates` is unset (Istio's agent uses the system roots).
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Sets the cluster's transport socket from the effective TLS settings.
pub fn apply(w: &mut Wrapper, tls: Option<&ClientTlsSettings>, protocol: Protocol) {
    let Some(tls) = tls else { return };
    let mut context = match tls.mode {
        TlsMode::Disable => return,
        // TODO(security: ISTIO_MUTUAL): mesh mTLS with SPIFFE certificates from the local CA
        // (SDS `default`/`ROOTCA`, SNI `outbound_.PORT_.SUBSET_.HOST`, ALPN `istio`) and
        // auto-mTLS via `envoy.transport_socket_match`; until then such clusters stay plaintext.
        TlsMode::IstioMutual => return,
        TlsMode::Simple => upstream_context(tls, false),
        TlsMode::Mutual => upstream_context(tls, true),
    };
    if protocol.is_http2()
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

/// SPIFFE IDs and other URIs match the URI SAN; anything else a DNS SAN.
fn san_matcher(san: &str) -> SubjectAltNameMatcher {
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
