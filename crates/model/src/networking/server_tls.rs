//! `ServerTLSSettings`: how a listener terminates (or passes through) TLS. Shared by Gateway
//! servers (`servers[].tls`) and Sidecar ingress listeners (`ingress[].tls`), with Istio's
//! `validateTLSOptions` rules: certificate sources per mode, one source only, CA bundles for
//! mutual TLS, CRL limits, cipher suites and protocol versions. The caller adds the checks that
//! depend on where the settings sit (port protocol, sidecar restrictions).

use crate::validation::{Validate, Validator, rules};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Cipher suites Envoy (BoringSSL) accepts in `cipherSuites` (Istio `ValidCipherSuites`).
const CIPHER_SUITES: &[&str] = &[
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
    "ECDHE-ECDSA-AES128-SHA",
    "ECDHE-RSA-AES128-SHA",
    "ECDHE-ECDSA-AES256-SHA",
    "ECDHE-RSA-AES256-SHA",
    "AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
    "AES128-SHA",
    "AES256-SHA",
    "DES-CBC3-SHA",
];

/// ECDH curves BoringSSL accepts (Istio `ValidECDHCurves`).
pub const ECDH_CURVES: &[&str] =
    &["P-224", "P-256", "P-521", "P-384", "X25519", "X25519Kyber768Draft00", "X25519MLKEM768"];

/// How the proxy handles TLS on the listener.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TlsMode {
    /// Route on the client's SNI without terminating TLS (the default).
    #[default]
    Passthrough,
    /// Terminate TLS with a server certificate; no client certificate.
    Simple,
    /// Terminate TLS and require a client certificate checked against a CA bundle.
    Mutual,
    /// Like passthrough, with the destination encoded in the SNI (`outbound_.port_.subset_.host`).
    AutoPassthrough,
    /// Terminate Istio mTLS with the workload's own certificate.
    IstioMutual,
    /// Like `MUTUAL`, but the client certificate is optional.
    OptionalMutual,
}

impl TlsMode {
    /// Istio's name of the mode.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passthrough => "PASSTHROUGH",
            Self::Simple => "SIMPLE",
            Self::Mutual => "MUTUAL",
            Self::AutoPassthrough => "AUTO_PASSTHROUGH",
            Self::IstioMutual => "ISTIO_MUTUAL",
            Self::OptionalMutual => "OPTIONAL_MUTUAL",
        }
    }

    /// True for the modes that terminate TLS with a configured server certificate.
    fn uses_server_certificate(self) -> bool {
        matches!(self, Self::Simple | Self::Mutual | Self::OptionalMutual)
    }
}

/// TLS protocol versions, ordered from oldest to newest (`TLS_AUTO` lets Envoy choose).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum TlsProtocol {
    #[default]
    #[serde(rename = "TLS_AUTO")]
    TlsAuto,
    #[serde(rename = "TLSV1_0")]
    TlsV1_0,
    #[serde(rename = "TLSV1_1")]
    TlsV1_1,
    #[serde(rename = "TLSV1_2")]
    TlsV1_2,
    #[serde(rename = "TLSV1_3")]
    TlsV1_3,
}

impl TlsProtocol {
    /// Istio's name of the version.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TlsAuto => "TLS_AUTO",
            Self::TlsV1_0 => "TLSV1_0",
            Self::TlsV1_1 => "TLSV1_1",
            Self::TlsV1_2 => "TLSV1_2",
            Self::TlsV1_3 => "TLSV1_3",
        }
    }
}

/// One server certificate and key (`tlsCertificates[]`, e.g. an RSA and an ECDSA pair).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TlsCertificate {
    /// Path of the server certificate file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_certificate: Option<String>,
    /// Path of the private key file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
    /// Path of a CA bundle for client certificates (hidden in Istio's docs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_certificates: Option<String>,
}

/// Istio `ServerTLSSettings`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerTlsSettings {
    /// Answer plain HTTP with a 301 redirect to HTTPS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https_redirect: Option<bool>,
    /// TLS mode; unset means `PASSTHROUGH`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<TlsMode>,
    /// Server certificate file (SIMPLE/MUTUAL without `credentialName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_certificate: Option<String>,
    /// Private key file (SIMPLE/MUTUAL without `credentialName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
    /// CA bundle file used to verify client certificates (MUTUAL/OPTIONAL_MUTUAL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_certificates: Option<String>,
    /// Certificate revocation list file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_crl: Option<String>,
    /// Kubernetes Secret holding the certificate, key and optionally the CA (served over SDS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_name: Option<String>,
    /// Up to two Secrets (an RSA and an ECDSA certificate for the same server).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credential_names: Vec<String>,
    /// Secret or ConfigMap holding the client CA; takes precedence over the CA in the credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert_credential_name: Option<String>,
    /// Up to two file-based certificate/key pairs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tls_certificates: Vec<TlsCertificate>,
    /// Alternate names accepted in the client certificate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subject_alt_names: Vec<String>,
    /// Base64 SHA-256 hashes of authorized client certificates' SPKIs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verify_certificate_spki: Vec<String>,
    /// Hex SHA-256 hashes of authorized client certificates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verify_certificate_hash: Vec<String>,
    /// Minimum TLS version (Envoy's default is TLS 1.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_protocol_version: Option<TlsProtocol>,
    /// Maximum TLS version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_protocol_version: Option<TlsProtocol>,
    /// Allowed cipher suites (OpenSSL names); Envoy's defaults when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cipher_suites: Vec<String>,
    /// Allowed ECDH curves; Envoy's defaults when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ecdh_curves: Vec<String>,
    /// Accept the connection even when the client certificate fails verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure_skip_verify: Option<bool>,
}

fn set(s: &Option<String>) -> bool {
    s.as_deref().is_some_and(|s| !s.is_empty())
}

impl ServerTlsSettings {
    /// The effective mode (`PASSTHROUGH` when unset).
    pub fn effective_mode(&self) -> TlsMode {
        self.mode.unwrap_or_default()
    }

    /// True when the credentials come from Kubernetes Secrets (`credentialName(s)`).
    pub fn uses_credential(&self) -> bool {
        set(&self.credential_name) || !self.credential_names.is_empty()
    }

    /// ISTIO_MUTUAL uses the workload certificate, so no other certificate field may be set.
    fn istio_mutual(&self, v: &mut Validator<'_>) {
        let fields = [
            ("serverCertificate", set(&self.server_certificate), "server certificate"),
            ("privateKey", set(&self.private_key), "private key"),
            ("caCertificates", set(&self.ca_certificates), "CA bundle"),
            ("tlsCertificates", !self.tls_certificates.is_empty(), "tlsCertificates"),
            ("credentialName", set(&self.credential_name), "credentialName"),
            ("credentialNames", !self.credential_names.is_empty(), "credentialNames"),
        ];
        for (field, present, what) in fields {
            if present {
                v.error_at(field, format!("ISTIO_MUTUAL TLS cannot have associated {what}"));
            }
        }
    }

    fn certificate_sources(&self, v: &mut Validator<'_>) {
        let sources = [
            set(&self.server_certificate) && set(&self.private_key),
            set(&self.credential_name),
            !self.credential_names.is_empty(),
            !self.tls_certificates.is_empty(),
        ];
        if sources.iter().filter(|s| **s).count() > 1 {
            v.error(
                "only one of credential_name, credential_names, server_certificate/private_key, tls_certificates should be specified",
            );
        }
        v.field("credentialNames", |v| rules::max_items(v, self.credential_names.len(), 2));
        v.field("tlsCertificates", |v| rules::max_items(v, self.tls_certificates.len(), 2));
    }

    /// SIMPLE and MUTUAL without a credential need file-based certificates (and a CA for mutual).
    fn file_certificates(&self, v: &mut Validator<'_>, mode: TlsMode) {
        let prefix = if mode == TlsMode::Simple { "SIMPLE TLS" } else { "MUTUAL TLS" };
        if mode != TlsMode::Simple && !set(&self.ca_certificates) {
            v.error_at("caCertificates", format!("{prefix} requires a client CA bundle"));
        }
        let missing = |v: &mut Validator<'_>, cert: &Option<String>, key: &Option<String>| {
            if !set(cert) {
                v.error_at("serverCertificate", format!("{prefix} requires a server certificate"));
            }
            if !set(key) {
                v.error_at("privateKey", format!("{prefix} requires a private key"));
            }
        };
        if self.tls_certificates.is_empty() {
            missing(v, &self.server_certificate, &self.private_key);
        } else {
            v.each("tlsCertificates", &self.tls_certificates, |v, c| {
                missing(v, &c.server_certificate, &c.private_key);
            });
        }
    }

    fn ciphers_and_versions(&self, v: &mut Validator<'_>) {
        let min = self.min_protocol_version.unwrap_or_default();
        let max = self.max_protocol_version.unwrap_or_default();
        if matches!(min, TlsProtocol::TlsV1_0 | TlsProtocol::TlsV1_1) && self.cipher_suites.is_empty() {
            v.field("minProtocolVersion", |v| v.warn("TLS version below TLSV1_2 require setting compatible ciphers as by default they no longer include compatible ciphers."));
        }
        if min != TlsProtocol::TlsAuto && max != TlsProtocol::TlsAuto && max < min {
            v.error_at(
                "maxProtocolVersion",
                format!(
                    "maxProtocolVersion {} is lower than minProtocolVersion {}; no TLS version would be allowed",
                    max.as_str(),
                    min.as_str()
                ),
            );
        }
        cipher_suites(v, &self.cipher_suites);
        ecdh_curves(v, &self.ecdh_curves);
    }
}

/// Warns about cipher suites Envoy would reject and about duplicates (Istio ignores both).
/// Entries starting with a non-alphanumeric (`-X`, `+X`, `[A|B]`) are OpenSSL expressions and
/// pass through.
pub fn cipher_suites(v: &mut Validator<'_>, suites: &[String]) {
    let mut seen = BTreeSet::new();
    v.each("cipherSuites", suites, |v, cs| {
        let expression = !cs.starts_with(|c: char| c.is_ascii_alphanumeric());
        if cs.is_empty() || cs == "ALL" || expression {
            return;
        }
        if !CIPHER_SUITES.contains(&cs.as_str()) {
            v.warn(format!("ignoring invalid cipher suites: [{cs}]"));
        } else if !seen.insert(cs.clone()) {
            v.warn(format!("ignoring duplicate cipher suites: [{cs}]"));
        }
    });
}

/// Warns about ECDH curves BoringSSL does not know and about duplicates.
pub fn ecdh_curves(v: &mut Validator<'_>, curves: &[String]) {
    let mut seen = BTreeSet::new();
    v.each("ecdhCurves", curves, |v, c| {
        if !c.is_empty() && !ECDH_CURVES.contains(&c.as_str()) {
            v.warn(format!("detected unrecognized ECDH curves: [{c}]"));
        } else if !c.is_empty() && !seen.insert(c.clone()) {
            v.warn(format!("detected duplicate ECDH curves: [{c}]"));
        }
    });
}

impl Validate for ServerTlsSettings {
    /// Istio `validateTLSOptions`. Its early returns are kept on purpose: with a credential the
    /// file and CRL rules do not apply, and ISTIO_MUTUAL only forbids certificate fields.
    fn validate(&self, v: &mut Validator<'_>) {
        self.ciphers_and_versions(v);
        let mode = self.effective_mode();
        if mode == TlsMode::IstioMutual {
            self.istio_mutual(v);
            return;
        }
        let has_certs = set(&self.ca_crl)
            || set(&self.server_certificate)
            || set(&self.private_key)
            || set(&self.ca_certificates)
            || !self.tls_certificates.is_empty()
            || self.uses_credential();
        if matches!(mode, TlsMode::Passthrough | TlsMode::AutoPassthrough) && has_certs {
            v.field("mode", |v| {
                v.warn(format!("{} mode does not use certificates, they will be ignored", mode.as_str()))
            });
        }
        self.certificate_sources(v);
        if mode.uses_server_certificate() && self.uses_credential() {
            return;
        }
        if mode.uses_server_certificate() {
            self.file_certificates(v, mode);
        }
        if set(&self.ca_crl) {
            if set(&self.credential_name) {
                v.error_at(
                    "caCrl",
                    "CRL is not supported with credentialName. CRL has to be specified in the credential",
                );
            }
            if mode == TlsMode::Simple {
                v.error_at("caCrl", "CRL is not supported with SIMPLE TLS");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::validate_spec;

    fn tls(value: serde_json::Value) -> ServerTlsSettings {
        serde_json::from_value(value).expect("decodes")
    }

    fn messages(t: &ServerTlsSettings) -> Vec<String> {
        validate_spec(t, "default").into_iter().map(|i| i.to_string()).collect()
    }

    #[test]
    fn credential_skips_file_rules() {
        let t = tls(serde_json::json!({"mode": "MUTUAL", "credentialName": "c", "caCrl": "crl"}));
        assert!(messages(&t).is_empty(), "{:?}", messages(&t));
        let t = tls(serde_json::json!({"mode": "MUTUAL"}));
        let m = messages(&t).join("\n");
        assert!(m.contains("spec.caCertificates: MUTUAL TLS requires a client CA bundle"), "{m}");
        assert!(m.contains("spec.serverCertificate: MUTUAL TLS requires a server certificate"), "{m}");
        assert!(m.contains("spec.privateKey: MUTUAL TLS requires a private key"), "{m}");
    }

    #[test]
    fn versions_and_ciphers() {
        let t = tls(serde_json::json!({"mode": "ISTIO_MUTUAL", "minProtocolVersion": "TLSV1_3",
            "maxProtocolVersion": "TLSV1_2", "cipherSuites": ["bogus", "-AES128-SHA", "AES128-SHA", "AES128-SHA"]}));
        let m = messages(&t).join("\n");
        assert!(
            m.contains("spec.maxProtocolVersion: maxProtocolVersion TLSV1_2 is lower than minProtocolVersion TLSV1_3"),
            "{m}"
        );
        assert!(m.contains("spec.cipherSuites[0]: ignoring invalid cipher suites: [bogus]"), "{m}");
        assert!(m.contains("spec.cipherSuites[3]: ignoring duplicate cipher suites: [AES128-SHA]"), "{m}");
        assert!(!m.contains("cipherSuites[1]"), "{m}");
    }
}
