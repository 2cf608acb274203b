//! `TlsParameters` → the crypto provider and protocol versions of a server: versions TLS 1.2
//! and 1.3 (Envoy's server defaults; rustls has nothing older, so a minimum below 1.2 or a
//! maximum below 1.2 is a NACK), `cipher_suites` in BoringSSL names restricting the TLS 1.2
//! suites (BoringSSL does not let TLS 1.3 suites be configured, nor do we; names rustls does
//! not implement, such as the CBC suites, are skipped as BoringSSL skips unknown ones, but a
//! list with none left is a NACK), `ecdh_curves` mapped to rustls's key exchange groups.

use crate::config::{ConfigError, Result, no_other_fields};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{TlsParameters, tls_parameters::TlsProtocol};
use rustls::crypto::CryptoProvider;
use rustls::{CipherSuite, SupportedProtocolVersion};
use std::sync::Arc;

/// The compiled parameters.
#[derive(Debug, Clone)]
pub struct Params {
    /// ring, with the suites and groups the parameters allow.
    pub provider: Arc<CryptoProvider>,
    /// Protocol versions.
    pub versions: Vec<&'static SupportedProtocolVersion>,
}

/// BoringSSL (OpenSSL) names of the TLS 1.2 suites rustls implements.
const SUITES: [(&str, CipherSuite); 6] = [
    ("ECDHE-ECDSA-AES128-GCM-SHA256", CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256),
    ("ECDHE-RSA-AES128-GCM-SHA256", CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
    ("ECDHE-ECDSA-AES256-GCM-SHA384", CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384),
    ("ECDHE-RSA-AES256-GCM-SHA384", CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384),
    ("ECDHE-ECDSA-CHACHA20-POLY1305", CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256),
    ("ECDHE-RSA-CHACHA20-POLY1305", CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256),
];

/// Envoy curve names → rustls group names.
const CURVES: [(&str, rustls::NamedGroup); 3] = [
    ("X25519", rustls::NamedGroup::X25519),
    ("P-256", rustls::NamedGroup::secp256r1),
    ("P-384", rustls::NamedGroup::secp384r1),
];

impl Default for Params {
    fn default() -> Self {
        Params {
            provider: Arc::new(super::secret::provider()),
            versions: vec![&rustls::version::TLS13, &rustls::version::TLS12],
        }
    }
}

impl TryFrom<Option<&TlsParameters>> for Params {
    type Error = ConfigError;

    fn try_from(p: Option<&TlsParameters>) -> Result<Self> {
        let Some(p) = p else { return Ok(Params::default()) };
        let version = |field: &str, v: i32, default: u8| match TlsProtocol::try_from(v) {
            Ok(TlsProtocol::TlsAuto) => Ok(default),
            Ok(TlsProtocol::TlSv12) => Ok(2),
            Ok(TlsProtocol::TlSv13) => Ok(3),
            _ => Err(ConfigError::new(field, "only TLSv1_2 and TLSv1_3 are supported by the Strait proxy")),
        };
        let min = version("tls_minimum_protocol_version", p.tls_minimum_protocol_version, 2)?;
        let max = version("tls_maximum_protocol_version", p.tls_maximum_protocol_version, 3)?;
        if min > max {
            return Err(ConfigError::new("tls_minimum_protocol_version", "is above the maximum"));
        }
        let mut provider = super::secret::provider();
        if !p.cipher_suites.is_empty() {
            let wanted = suites(&p.cipher_suites)?;
            provider.cipher_suites.retain(|s| s.tls13().is_some() || wanted.contains(&s.suite()));
            if min == 2 && wanted.is_empty() {
                return Err(ConfigError::new("cipher_suites", "none of these TLS 1.2 suites is supported"));
            }
        }
        if !p.ecdh_curves.is_empty() {
            let groups = curves(&p.ecdh_curves)?;
            provider.kx_groups.retain(|g| groups.contains(&g.name()));
        }
        let rest = TlsParameters {
            tls_minimum_protocol_version: 0,
            tls_maximum_protocol_version: 0,
            cipher_suites: Vec::new(),
            ecdh_curves: Vec::new(),
            ..p.clone()
        };
        no_other_fields(&rest)?;
        let versions = [(3, &rustls::version::TLS13), (2, &rustls::version::TLS12)]
            .into_iter()
            .filter(|(v, _)| (min..=max).contains(v))
            .map(|(_, v)| v)
            .collect();
        Ok(Params { provider: Arc::new(provider), versions })
    }
}

/// The TLS 1.2 suites named (names of TLS 1.3 suites and of suites rustls lacks are skipped).
fn suites(names: &[String]) -> Result<Vec<CipherSuite>> {
    let mut out = Vec::new();
    for (i, name) in names.iter().enumerate() {
        if name.contains(['[', '|', ']', ':', '!', '+']) {
            return Err(ConfigError::new(format!("cipher_suites[{i}]"), "cipher list syntax is not supported"));
        }
        if let Some((_, s)) = SUITES.iter().find(|(n, _)| n == name) {
            out.push(*s);
        }
    }
    Ok(out)
}

fn curves(names: &[String]) -> Result<Vec<rustls::NamedGroup>> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            CURVES.iter().find(|(n, _)| n == name).map(|(_, g)| *g).ok_or_else(|| {
                ConfigError::new(format!("ecdh_curves[{i}]"), format!("{name} is not supported by the Strait proxy"))
            })
        })
        .collect()
}
