//! `TransportSocket` (`envoy.transport_sockets.tls` with a `DownstreamTlsContext`) →
//! [`ServerTls`]. What the control plane generates for gateways is handled: certificates
//! inline or from files (`tls_certificates`) or from SDS over ADS
//! (`tls_certificate_sds_secret_configs`, `kubernetes://NAME`); a validation context inline,
//! from SDS, or combined (the default context's SAN matchers and pins plus the SDS secret's CA,
//! Istio's `kubernetes://NAME-cacert`); `require_client_certificate`; ALPN; TLS parameters;
//! `require_sni`, session resumption switches and client cipher preference. Anything else is a
//! NACK naming the field.

use super::params::Params;
use super::secret::{Certificate, Trust};
use super::verify::Checks;
use super::{ServerTls, Source, Validation};
use crate::config::{ConfigError, Result, each, no_other_fields, unpack};
use envoy_types::pb::envoy::config::core::v3::{
    ApiVersion, ConfigSource, TransportSocket, config_source::ConfigSourceSpecifier, transport_socket,
};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, CommonTlsContext, DownstreamTlsContext, SdsSecretConfig,
    common_tls_context::{CombinedCertificateValidationContext, ValidationContextType},
    downstream_tls_context::{OcspStaplePolicy, SessionTicketKeysType},
};
use std::sync::Arc;

/// The TLS transport socket.
pub const TLS_SOCKET: &str = "envoy.transport_sockets.tls";

impl TryFrom<&TransportSocket> for ServerTls {
    type Error = ConfigError;

    fn try_from(t: &TransportSocket) -> Result<Self> {
        if t.name != TLS_SOCKET {
            return Err(ConfigError::new("name", format!("transport socket {} is not supported", t.name)));
        }
        let Some(transport_socket::ConfigType::TypedConfig(any)) = &t.config_type else {
            return Err(ConfigError::new("typed_config", "a typed config is required"));
        };
        let ctx: DownstreamTlsContext = unpack("typed_config", any)?;
        ServerTls::try_from(&ctx).map_err(|e| e.within("typed_config"))
    }
}

impl TryFrom<&DownstreamTlsContext> for ServerTls {
    type Error = ConfigError;

    fn try_from(d: &DownstreamTlsContext) -> Result<Self> {
        let common = d
            .common_tls_context
            .as_ref()
            .ok_or_else(|| ConfigError::new("common_tls_context", "a certificate is required"))?;
        let compiled = common_context(common).map_err(|e| e.within("common_tls_context"))?;
        let require_client_certificate = d.require_client_certificate.as_ref().is_some_and(|b| b.value);
        if require_client_certificate && compiled.validation.is_none() {
            // Envoy refuses it too: there is nothing to verify a client certificate against.
            return Err(ConfigError::new("require_client_certificate", "needs a validation context"));
        }
        if OcspStaplePolicy::try_from(d.ocsp_staple_policy) != Ok(OcspStaplePolicy::LenientStapling) {
            return Err(ConfigError::unsupported("ocsp_staple_policy"));
        }
        let tickets = match &d.session_ticket_keys_type {
            None => true,
            Some(SessionTicketKeysType::DisableStatelessSessionResumption(off)) => !off,
            Some(_) => return Err(ConfigError::unsupported("session_ticket_keys")),
        };
        let rest = DownstreamTlsContext {
            common_tls_context: None,
            require_client_certificate: None,
            require_sni: None,
            disable_stateful_session_resumption: false,
            prefer_client_ciphers: false,
            session_ticket_keys_type: None,
            ..d.clone()
        };
        no_other_fields(&rest)?;
        Ok(ServerTls {
            certificates: compiled.certificates,
            validation: compiled.validation,
            require_client_certificate,
            require_sni: d.require_sni.as_ref().is_some_and(|b| b.value),
            alpn: compiled.alpn,
            params: compiled.params,
            prefer_client_ciphers: d.prefer_client_ciphers,
            stateful_resumption: !d.disable_stateful_session_resumption,
            tickets,
            built: Default::default(),
        })
    }
}

/// The parts of a `CommonTlsContext`.
struct Common {
    certificates: Vec<Source<Arc<Certificate>>>,
    validation: Option<Validation>,
    alpn: Vec<Vec<u8>>,
    params: Params,
}

fn common_context(c: &CommonTlsContext) -> Result<Common> {
    let mut certificates: Vec<Source<Arc<Certificate>>> =
        each("tls_certificates", &c.tls_certificates, |t| Certificate::try_from(t).map(Arc::new))?
            .into_iter()
            .map(Source::Inline)
            .collect();
    let sds = each("tls_certificate_sds_secret_configs", &c.tls_certificate_sds_secret_configs, sds_name)?;
    certificates.extend(sds.into_iter().map(Source::Sds));
    if certificates.is_empty() {
        return Err(ConfigError::new("tls_certificates", "a server needs at least one certificate"));
    }
    let validation = match &c.validation_context_type {
        None => None,
        Some(ValidationContextType::ValidationContext(v)) => {
            Some(inline_validation(v).map_err(|e| e.within("validation_context"))?)
        }
        Some(ValidationContextType::ValidationContextSdsSecretConfig(s)) => Some(Validation {
            trust: Source::Sds(sds_name(s).map_err(|e| e.within("validation_context_sds_secret_config"))?),
            checks: Arc::default(),
        }),
        Some(ValidationContextType::CombinedValidationContext(combined)) => {
            Some(combined_validation(combined).map_err(|e| e.within("combined_validation_context"))?)
        }
        Some(_) => return Err(ConfigError::unsupported("validation_context_type")),
    };
    let params = Params::try_from(c.tls_params.as_ref()).map_err(|e| e.within("tls_params"))?;
    let alpn = c.alpn_protocols.iter().map(|p| p.as_bytes().to_vec()).collect();
    let rest = CommonTlsContext {
        tls_params: None,
        tls_certificates: Vec::new(),
        tls_certificate_sds_secret_configs: Vec::new(),
        alpn_protocols: Vec::new(),
        validation_context_type: None,
        ..c.clone()
    };
    no_other_fields(&rest)?;
    Ok(Common { certificates, validation, alpn, params })
}

/// An inline validation context: its CA is required (Envoy refuses SAN checks without trust).
fn inline_validation(v: &CertificateValidationContext) -> Result<Validation> {
    let trust = Trust::from_context(v)?
        .ok_or_else(|| ConfigError::new("trusted_ca", "client certificate validation needs a trusted CA"))?;
    Ok(Validation { trust: Source::Inline(Arc::new(trust)), checks: Arc::new(validation_checks(v)?) })
}

/// Checks of a validation context, refusing what they do not implement.
fn validation_checks(v: &CertificateValidationContext) -> Result<Checks> {
    let checks = Checks::from_context(v)?;
    let rest = CertificateValidationContext {
        trusted_ca: None,
        crl: None,
        match_typed_subject_alt_names: Vec::new(),
        verify_certificate_spki: Vec::new(),
        verify_certificate_hash: Vec::new(),
        trust_chain_verification: 0,
        ..v.clone()
    };
    no_other_fields(&rest)?;
    Ok(checks)
}

/// The default context's checks, with the CA from SDS (an inline CA in the default context
/// would be replaced by the SDS one in Envoy's merge; refused here rather than guessed).
fn combined_validation(c: &CombinedCertificateValidationContext) -> Result<Validation> {
    let default = c.default_validation_context.clone().unwrap_or_default();
    if default.trusted_ca.is_some() || default.crl.is_some() {
        return Err(ConfigError::unsupported("trusted_ca").within("default_validation_context"));
    }
    let checks = validation_checks(&default).map_err(|e| e.within("default_validation_context"))?;
    let sds = c
        .validation_context_sds_secret_config
        .as_ref()
        .ok_or_else(|| ConfigError::new("validation_context_sds_secret_config", "required"))?;
    let name = sds_name(sds).map_err(|e| e.within("validation_context_sds_secret_config"))?;
    let rest = CombinedCertificateValidationContext {
        default_validation_context: None,
        validation_context_sds_secret_config: None,
        ..c.clone()
    };
    no_other_fields(&rest)?;
    Ok(Validation { trust: Source::Sds(name), checks: Arc::new(checks) })
}

/// The name of an SDS secret delivered over the ADS stream (the only source Strait has).
fn sds_name(s: &SdsSecretConfig) -> Result<String> {
    if s.name.is_empty() {
        return Err(ConfigError::new("name", "required"));
    }
    let source = s.sds_config.as_ref().ok_or_else(|| ConfigError::new("sds_config", "only ADS is supported"))?;
    if !matches!(source.config_source_specifier, Some(ConfigSourceSpecifier::Ads(_))) {
        return Err(ConfigError::new("sds_config", "only ADS is supported"));
    }
    if !matches!(ApiVersion::try_from(source.resource_api_version), Ok(ApiVersion::V3 | ApiVersion::Auto)) {
        return Err(ConfigError::new("sds_config.resource_api_version", "only v3 is supported"));
    }
    // The initial fetch timeout only bounds listener warming, which Strait does not do.
    let rest = ConfigSource {
        config_source_specifier: None,
        resource_api_version: 0,
        initial_fetch_timeout: None,
        ..source.clone()
    };
    no_other_fields(&rest).map_err(|e| e.within("sds_config"))?;
    Ok(s.name.clone())
}
