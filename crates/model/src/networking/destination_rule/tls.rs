//! TLS from the proxy to the upstream: [`ClientTlsSettings`] and Istio's `agent.ValidateTLS`
//! rules (credential names, `insecureSkipVerify`, the certificates MUTUAL needs), plus the
//! field combinations that can only be mistakes (certificates with DISABLE or ISTIO_MUTUAL,
//! where they would be silently ignored).

use crate::validation::{Validate, Validator};
use serde::{Deserialize, Serialize};

/// Prefix of credential names that read a ConfigMap (CA bundles) rather than a Secret.
const CONFIGMAP_PREFIX: &str = "configmap://";

/// Istio `ClientTLSSettings.TLSmode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TlsMode {
    /// Plain text (unless auto mTLS applies).
    #[default]
    Disable,
    /// TLS, verifying the server.
    Simple,
    /// Mutual TLS with user-provided client certificates.
    Mutual,
    /// Mutual TLS with Istio's workload certificates.
    IstioMutual,
}

/// Istio `ClientTLSSettings`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientTlsSettings {
    /// TLS mode; DISABLE when unset.
    #[serde(default)]
    pub mode: TlsMode,
    /// Client certificate file (MUTUAL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<String>,
    /// Client private key file (MUTUAL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
    /// CA bundle file used to verify the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_certificates: Option<String>,
    /// Secret (or `configmap://ns/name`) holding the certificates; replaces the file fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_name: Option<String>,
    /// Names accepted in the server certificate's SAN.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subject_alt_names: Vec<String>,
    /// SNI sent in the handshake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    /// Skip verification of the server certificate and SAN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure_skip_verify: Option<bool>,
    /// Certificate revocation list file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_crl: Option<String>,
}

/// True when an optional string field holds a non-empty value.
fn set(field: &Option<String>) -> bool {
    field.as_deref().is_some_and(|s| !s.is_empty())
}

impl ClientTlsSettings {
    /// The certificate-material fields that are set, by their YAML names.
    fn cert_fields(&self) -> Vec<&'static str> {
        [
            ("clientCertificate", &self.client_certificate),
            ("privateKey", &self.private_key),
            ("caCertificates", &self.ca_certificates),
            ("credentialName", &self.credential_name),
            ("caCrl", &self.ca_crl),
        ]
        .into_iter()
        .filter(|(_, value)| set(value))
        .map(|(name, _)| name)
        .collect()
    }

    /// `configmap://<namespace>/<name>` must name a ConfigMap in the rule's own namespace.
    fn validate_configmap_credential(&self, v: &mut Validator<'_>) {
        let Some(name) = self.credential_name.as_deref() else { return };
        let Some(rest) = name.strip_prefix(CONFIGMAP_PREFIX) else { return };
        let problem = match rest.split_once('/') {
            None => format!("invalid resource name {name:?}. Expected namespace and name"),
            Some(("", _)) => format!("invalid resource name {name:?}. Expected namespace"),
            Some((_, n)) if n.is_empty() || n.starts_with('/') => {
                format!("invalid resource name {name:?}. Expected name")
            }
            Some((ns, _)) if ns != v.ctx.namespace => {
                format!("namespace must match the configuration namespace {:?}", v.ctx.namespace)
            }
            Some(_) => return,
        };
        v.error_at("credentialName", format!("invalid configmap:// credentialName: {problem}"));
    }

    /// With `insecureSkipVerify`, verification material contradicts the intent.
    fn validate_skip_verify(&self, v: &mut Validator<'_>) {
        if self.insecure_skip_verify != Some(true) {
            return;
        }
        let has_sans = !self.subject_alt_names.is_empty();
        match self.mode {
            TlsMode::Simple if set(&self.ca_certificates) || set(&self.credential_name) || has_sans => v.error(
                "cannot specify CaCertificates or CredentialName or SubjectAltNames when InsecureSkipVerify is set true",
            ),
            TlsMode::Mutual if set(&self.ca_certificates) || has_sans => {
                v.error("cannot specify CaCertificates or SubjectAltNames when InsecureSkipVerify is set true")
            }
            _ => {}
        }
    }
}

impl Validate for ClientTlsSettings {
    fn validate(&self, v: &mut Validator<'_>) {
        self.validate_configmap_credential(v);
        self.validate_skip_verify(v);
        let certs = self.cert_fields();
        let remote = matches!(self.mode, TlsMode::Simple | TlsMode::Mutual) && set(&self.credential_name);
        if remote {
            // The credential supplies everything; file fields next to it are ignored.
            if certs.len() > 1 {
                v.error("cannot specify client certificates or CA certificate or CA CRL If credentialName is set");
            }
            return;
        }
        match self.mode {
            TlsMode::Mutual => {
                if !set(&self.client_certificate) {
                    v.error_at("clientCertificate", "client certificate required for mutual tls");
                }
                if !set(&self.private_key) {
                    v.error_at("privateKey", "private key required for mutual tls");
                }
            }
            TlsMode::Disable if !certs.is_empty() => v.error(format!(
                "{} cannot be set when mode is DISABLE: TLS is off, so it would be ignored",
                certs.join(", ")
            )),
            TlsMode::IstioMutual if !certs.is_empty() => v.error(format!(
                "{} cannot be set when mode is ISTIO_MUTUAL: Istio provisions the workload certificates (use MUTUAL for your own)",
                certs.join(", ")
            )),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::validate_spec;
    use serde_json::json;

    fn issues(doc: serde_json::Value) -> Vec<String> {
        let tls: ClientTlsSettings = serde_json::from_value(doc).expect("decodes");
        validate_spec(&tls, "ns1").iter().map(ToString::to_string).collect()
    }

    #[test]
    fn mode_combinations() {
        assert!(issues(json!({"mode": "ISTIO_MUTUAL", "sni": "a", "subjectAltNames": ["b"]})).is_empty());
        assert!(issues(json!({"mode": "MUTUAL", "credentialName": "c"})).is_empty());
        assert!(issues(json!({"mode": "SIMPLE", "credentialName": "configmap://ns1/ca"})).is_empty());
        assert_eq!(issues(json!({"mode": "MUTUAL"})).len(), 2);
        let got = issues(json!({"mode": "SIMPLE", "credentialName": "configmap://ns1"}));
        assert_eq!(
            got,
            vec![
                "spec.credentialName: invalid configmap:// credentialName: invalid resource name \"configmap://ns1\". Expected namespace and name"
            ]
        );
        let got = issues(json!({"credentialName": "s"}));
        assert_eq!(
            got,
            vec!["spec: credentialName cannot be set when mode is DISABLE: TLS is off, so it would be ignored"]
        );
    }
}
