//! TLS material, compiled once: a `TlsCertificate` (chain + key, from inline bytes, an inline
//! string, a file or an environment variable) becomes a [`Certificate`] holding rustls's
//! `CertifiedKey` (the key checked against the leaf) and the names it serves; a
//! `CertificateValidationContext`'s trust (`trusted_ca` + `crl`) becomes a [`Trust`]. An SDS
//! `Secret` resource is one of the two ([`Secret`]). Files are read when the config is applied,
//! as Envoy reads them when it builds a TLS context, and a file that cannot be read is a NACK.
//! `Debug` output never shows key material.

use crate::config::{ConfigError, Result, no_other_fields};
use envoy_types::pb::envoy::config::core::v3::{DataSource, data_source::Specifier};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, Secret as EnvoySecret, TlsCertificate, secret,
};
use rustls::RootCertStore;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use std::fmt;
use std::sync::Arc;

/// A compiled SDS secret.
#[derive(Debug, Clone)]
pub enum Secret {
    /// A certificate chain and its private key.
    Certificate(Arc<Certificate>),
    /// Trusted CAs (and CRLs) for peer certificates.
    Trust(Arc<Trust>),
}

/// A serving certificate.
pub struct Certificate {
    /// The chain and signing key, as rustls serves them.
    pub key: Arc<CertifiedKey>,
    /// DNS names of the leaf (its DNS SANs, else its common name), lower case, for SNI.
    pub names: Vec<String>,
    /// The leaf's subject (`CN=…`), for logs.
    pub subject: String,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate").field("subject", &self.subject).field("names", &self.names).finish()
    }
}

/// Trust anchors for verifying peers.
pub struct Trust {
    /// The CA certificates.
    pub roots: Arc<RootCertStore>,
    /// Certificate revocation lists.
    pub crls: Vec<CertificateRevocationListDer<'static>>,
}

impl fmt::Debug for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trust").field("roots", &self.roots.len()).field("crls", &self.crls.len()).finish()
    }
}

impl TryFrom<&EnvoySecret> for Secret {
    type Error = ConfigError;

    fn try_from(s: &EnvoySecret) -> Result<Self> {
        match &s.r#type {
            Some(secret::Type::TlsCertificate(c)) => {
                Ok(Secret::Certificate(Arc::new(Certificate::try_from(c).map_err(|e| e.within("tls_certificate"))?)))
            }
            Some(secret::Type::ValidationContext(v)) => {
                let trust = trust_only(v).map_err(|e| e.within("validation_context"))?;
                Ok(Secret::Trust(Arc::new(trust)))
            }
            Some(secret::Type::SessionTicketKeys(_)) => Err(ConfigError::unsupported("session_ticket_keys")),
            Some(secret::Type::GenericSecret(_)) => Err(ConfigError::unsupported("generic_secret")),
            None => Err(ConfigError::new("type", "a secret needs a tls_certificate or a validation_context")),
        }
    }
}

/// An SDS validation context: trust only (Istio's `-cacert` secrets carry `trusted_ca` and
/// `crl`; checks such as SAN matchers come from the listener's default validation context).
fn trust_only(v: &CertificateValidationContext) -> Result<Trust> {
    let trust = Trust::from_context(v)?.ok_or_else(|| ConfigError::new("trusted_ca", "a CA is required"))?;
    let rest = CertificateValidationContext { trusted_ca: None, crl: None, ..v.clone() };
    no_other_fields(&rest)?;
    Ok(trust)
}

impl TryFrom<&TlsCertificate> for Certificate {
    type Error = ConfigError;

    fn try_from(c: &TlsCertificate) -> Result<Self> {
        let chain_pem = data("certificate_chain", c.certificate_chain.as_ref())?;
        let key_pem = data("private_key", c.private_key.as_ref())?;
        let chain = CertificateDer::pem_slice_iter(&chain_pem)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| ConfigError::new("certificate_chain", format!("invalid PEM: {e}")))?;
        let Some(leaf) = chain.first() else {
            return Err(ConfigError::new("certificate_chain", "no certificate in the PEM data"));
        };
        let (names, subject) = leaf_names(leaf).map_err(|e| ConfigError::new("certificate_chain", e))?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| ConfigError::new("private_key", format!("no usable private key in the PEM data: {e}")))?;
        let signer = provider()
            .key_provider
            .load_private_key(key)
            .map_err(|e| ConfigError::new("private_key", format!("unsupported private key: {e}")))?;
        let key = CertifiedKey::new(chain, signer);
        key.keys_match()
            .map_err(|e| ConfigError::new("private_key", format!("does not match the certificate: {e}")))?;
        let rest = TlsCertificate { certificate_chain: None, private_key: None, ..c.clone() };
        no_other_fields(&rest)?;
        Ok(Certificate { key: Arc::new(key), names, subject })
    }
}

impl Trust {
    /// The trust of a validation context: None without `trusted_ca`.
    pub fn from_context(v: &CertificateValidationContext) -> Result<Option<Trust>> {
        let Some(ca) = v.trusted_ca.as_ref() else {
            if v.crl.is_some() {
                return Err(ConfigError::new("crl", "a CRL needs a trusted_ca"));
            }
            return Ok(None);
        };
        let pem = data("trusted_ca", Some(ca))?;
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| ConfigError::new("trusted_ca", format!("invalid PEM: {e}")))?;
            roots.add(cert).map_err(|e| ConfigError::new("trusted_ca", format!("unusable CA certificate: {e}")))?;
        }
        if roots.is_empty() {
            return Err(ConfigError::new("trusted_ca", "no CA certificate in the PEM data"));
        }
        let crls = match &v.crl {
            None => Vec::new(),
            Some(crl) => CertificateRevocationListDer::pem_slice_iter(&data("crl", Some(crl))?)
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| ConfigError::new("crl", format!("invalid PEM: {e}")))?,
        };
        Ok(Some(Trust { roots: Arc::new(roots), crls }))
    }
}

/// The bytes of a data source.
pub fn data(field: &str, ds: Option<&DataSource>) -> Result<Vec<u8>> {
    let Some(ds) = ds else { return Err(ConfigError::new(field, "required")) };
    if ds.watched_directory.is_some() {
        return Err(ConfigError::unsupported("watched_directory").within(field));
    }
    match &ds.specifier {
        Some(Specifier::InlineBytes(b)) => Ok(b.clone()),
        Some(Specifier::InlineString(s)) => Ok(s.clone().into_bytes()),
        Some(Specifier::Filename(path)) => std::fs::read(path)
            .map_err(|e| ConfigError::new(format!("{field}.filename"), format!("cannot read {path:?}: {e}"))),
        Some(Specifier::EnvironmentVariable(var)) => std::env::var(var).map(String::into_bytes).map_err(|_| {
            ConfigError::new(format!("{field}.environment_variable"), format!("{var} is not set (or not UTF-8)"))
        }),
        None => Err(ConfigError::new(field, "a data source needs a specifier")),
    }
}

/// The leaf's DNS names (SANs, else the common name) and subject.
fn leaf_names(leaf: &CertificateDer<'_>) -> std::result::Result<(Vec<String>, String), String> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf).map_err(|e| format!("invalid certificate: {e}"))?;
    let subject = cert.subject().to_string();
    let sans = cert.subject_alternative_name().map_err(|e| format!("invalid subjectAltName: {e}"))?;
    let mut names: Vec<String> = sans
        .map(|s| {
            s.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(d) => Some(d.to_ascii_lowercase()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    if names.is_empty() {
        names = cert.subject().iter_common_name().filter_map(|cn| cn.as_str().ok()).map(str::to_lowercase).collect();
    }
    Ok((names, subject))
}

/// The one crypto provider (ring), as the workspace uses everywhere.
pub fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// Whether `sni` is served by a certificate for `name` (exact, or a `*.` wildcard covering
/// exactly one label, as TLS name matching goes).
pub fn name_matches(name: &str, sni: &str) -> bool {
    match name.strip_prefix("*.") {
        Some(suffix) => sni.split_once('.').is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => name == sni,
    }
}
