//! Client certificate checks beyond the chain, as Envoy's default certificate validator does
//! them: subject-alternative-name matchers (`match_typed_subject_alt_names`: any SAN of the
//! given type matching any matcher), SPKI pins (`verify_certificate_spki`: base64 SHA-256 of
//! the SubjectPublicKeyInfo) and certificate hash pins (`verify_certificate_hash`: hex SHA-256
//! of the DER, colons allowed; either pin list matching is enough), and
//! `trust_chain_verification: ACCEPT_UNTRUSTED` (the chain may fail, the checks still apply).
//! [`client_verifier`] wraps rustls's webpki verifier (chain, CRLs, signatures) with them.

use super::secret::Trust;
use crate::config::matcher::StringMatch;
use crate::config::{ConfigError, Result};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, certificate_validation_context::TrustChainVerification,
    subject_alt_name_matcher::SanType,
};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};
use rustls_pki_types::{CertificateDer, UnixTime};
use std::sync::Arc;

/// Checks on a client certificate beyond its chain.
#[derive(Debug, Default)]
pub struct Checks {
    sans: Vec<(SanType, StringMatch)>,
    spki: Vec<Vec<u8>>,
    hashes: Vec<Vec<u8>>,
    /// `ACCEPT_UNTRUSTED`: a chain that does not verify is accepted.
    pub accept_untrusted: bool,
}

impl Checks {
    /// The checks of a validation context (its trust is compiled separately).
    pub fn from_context(v: &CertificateValidationContext) -> Result<Checks> {
        let mut sans = Vec::new();
        for (i, m) in v.match_typed_subject_alt_names.iter().enumerate() {
            let at = |e: ConfigError| e.within(format!("[{i}]")).within("match_typed_subject_alt_names");
            let ty = match SanType::try_from(m.san_type) {
                Ok(t @ (SanType::Dns | SanType::Uri | SanType::Email | SanType::IpAddress)) => t,
                _ => return Err(at(ConfigError::unsupported("san_type"))),
            };
            let matcher = m.matcher.as_ref().ok_or_else(|| at(ConfigError::new("matcher", "required")))?;
            sans.push((ty, StringMatch::try_from(matcher).map_err(|e| at(e.within("matcher")))?));
        }
        let spki = v
            .verify_certificate_spki
            .iter()
            .enumerate()
            .map(|(i, p)| {
                base64_decode(p).filter(|b| b.len() == 32).ok_or_else(|| {
                    ConfigError::new(format!("verify_certificate_spki[{i}]"), "not a base64 SHA-256 digest")
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let hashes = v
            .verify_certificate_hash
            .iter()
            .enumerate()
            .map(|(i, h)| {
                hex_decode(&h.replace(':', "")).filter(|b| b.len() == 32).ok_or_else(|| {
                    ConfigError::new(format!("verify_certificate_hash[{i}]"), "not a hex SHA-256 digest")
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let accept_untrusted = match TrustChainVerification::try_from(v.trust_chain_verification) {
            Ok(TrustChainVerification::VerifyTrustChain) => false,
            Ok(TrustChainVerification::AcceptUntrusted) => true,
            Err(_) => return Err(ConfigError::unsupported("trust_chain_verification")),
        };
        Ok(Checks { sans, spki, hashes, accept_untrusted })
    }

    /// Whether anything beyond the chain is checked.
    pub fn is_empty(&self) -> bool {
        self.sans.is_empty() && self.spki.is_empty() && self.hashes.is_empty() && !self.accept_untrusted
    }

    /// Applies the checks to the leaf.
    fn check(&self, leaf: &CertificateDer<'_>) -> std::result::Result<(), Error> {
        let refused = || Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure);
        if !self.spki.is_empty() || !self.hashes.is_empty() {
            let hash_ok = !self.hashes.is_empty() && self.hashes.iter().any(|h| *h == sha256(leaf));
            let spki_ok =
                !self.spki.is_empty() && spki(leaf).is_some_and(|s| self.spki.iter().any(|p| *p == sha256(&s)));
            if !hash_ok && !spki_ok {
                return Err(refused());
            }
        }
        if !self.sans.is_empty() && !self.san_matches(leaf) {
            return Err(refused());
        }
        Ok(())
    }

    fn san_matches(&self, leaf: &CertificateDer<'_>) -> bool {
        use x509_parser::extensions::GeneralName;
        let Ok((_, cert)) = x509_parser::parse_x509_certificate(leaf) else { return false };
        let Ok(Some(sans)) = cert.subject_alternative_name() else { return false };
        sans.value.general_names.iter().any(|name| {
            let (ty, value) = match name {
                GeneralName::DNSName(d) => (SanType::Dns, (*d).to_string()),
                GeneralName::URI(u) => (SanType::Uri, (*u).to_string()),
                GeneralName::RFC822Name(e) => (SanType::Email, (*e).to_string()),
                GeneralName::IPAddress(b) => match ip_text(b) {
                    Some(ip) => (SanType::IpAddress, ip),
                    None => return false,
                },
                _ => return false,
            };
            self.sans.iter().any(|(t, m)| *t == ty && crate::route::matching::string_matches(m, &value))
        })
    }
}

/// The verifier for a chain's client certificates.
pub fn client_verifier(
    trust: &Trust,
    checks: &Arc<Checks>,
    required: bool,
    provider: &Arc<rustls::crypto::CryptoProvider>,
) -> std::result::Result<Arc<dyn ClientCertVerifier>, String> {
    let mut builder = WebPkiClientVerifier::builder_with_provider(trust.roots.clone(), provider.clone())
        .with_crls(trust.crls.iter().cloned());
    if !required {
        builder = builder.allow_unauthenticated();
    }
    let inner = builder.build().map_err(|e| format!("client certificate verifier: {e}"))?;
    if checks.is_empty() {
        return Ok(inner);
    }
    Ok(Arc::new(Checked { inner, checks: checks.clone() }))
}

/// The webpki verifier plus [`Checks`].
#[derive(Debug)]
struct Checked {
    inner: Arc<dyn ClientCertVerifier>,
    checks: Arc<Checks>,
}

impl ClientCertVerifier for Checked {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> std::result::Result<ClientCertVerified, Error> {
        if let Err(e) = self.inner.verify_client_cert(end_entity, intermediates, now)
            && !self.checks.accept_untrusted
        {
            return Err(e);
        }
        self.checks.check(end_entity)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// SHA-256 with the provider's hash (no second crypto library).
pub fn sha256(data: &[u8]) -> Vec<u8> {
    use rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256;
    match TLS13_AES_128_GCM_SHA256.tls13() {
        Some(suite) => suite.common.hash_provider.hash(data).as_ref().to_vec(),
        None => Vec::new(),
    }
}

/// The DER SubjectPublicKeyInfo of a certificate.
fn spki(leaf: &CertificateDer<'_>) -> Option<Vec<u8>> {
    let (_, cert) = x509_parser::parse_x509_certificate(leaf).ok()?;
    Some(cert.public_key().raw.to_vec())
}

fn ip_text(b: &[u8]) -> Option<String> {
    match b.len() {
        4 => Some(std::net::Ipv4Addr::from(<[u8; 4]>::try_from(b).ok()?).to_string()),
        16 => Some(std::net::Ipv6Addr::from(<[u8; 16]>::try_from(b).ok()?).to_string()),
        _ => None,
    }
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// Standard base64 (with or without padding).
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes: Vec<u8> = s.trim_end_matches('=').bytes().collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            acc |= value(*c)? << (18 - 6 * i);
        }
        let n = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return None,
        };
        out.extend_from_slice(&acc.to_be_bytes()[1..=n]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_decode() {
        assert_eq!(base64_decode("aGVsbG8="), Some(b"hello".to_vec()));
        assert_eq!(base64_decode("aGVsbG8"), Some(b"hello".to_vec()));
        assert_eq!(base64_decode("a"), None);
        assert_eq!(hex_decode("0aFF"), Some(vec![10, 255]));
        assert_eq!(hex_decode("0a:ff".replace(':', "").as_str()), Some(vec![10, 255]));
        assert_eq!(sha256(b"").len(), 32);
    }
}
