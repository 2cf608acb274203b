//! Downstream TLS termination, as Envoy's `envoy.transport_sockets.tls` with a
//! `DownstreamTlsContext`: a filter chain's transport socket compiles once ([`context`]) into a
//! [`ServerTls`]; certificates and trust come inline, from files, or from SDS secrets that
//! arrive over the ADS stream ([`secret`], kept in the config's `secrets` by name). The rustls
//! `ServerConfig` is built on the first connection that needs it and rebuilt only when one of
//! the SDS secrets it uses changes (compared by identity), so a rotated certificate reaches
//! new connections without the listener being touched, and a handshake costs no rebuild.
//!
//! A chain whose SDS secret has not arrived is not served: its connections are closed without
//! a handshake, as Envoy's chain fails once its listener stops waiting for the secret. (Envoy
//! also holds a new listener back, warming, until its secrets arrive; Strait binds it at once,
//! and its readiness waits for the secrets its listeners name, so only a listener added later
//! can refuse connections for the round trip its secret takes.)
//!
//! Certificate choice among several: the first whose names cover the SNI and whose key the
//! client can use, else the first the client can use (Envoy's order). ALPN, versions, suites,
//! client certificate verification ([`verify`]) and session resumption (tickets and a session
//! cache, both on unless the context turns them off) follow the context.

pub mod context;
pub mod params;
pub mod secret;
pub mod serve;
pub mod verify;

#[cfg(test)]
mod tests;

pub use context::TLS_SOCKET;
pub use secret::Secret;

use params::Params;
use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use secret::{Certificate, Trust};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use verify::Checks;

/// The SDS secrets held, by resource name (`kubernetes://NAME`).
pub type Secrets = HashMap<String, Arc<Secret>>;

/// How long a client has to finish its handshake (Envoy's listener filter timeout, 15 s, is
/// the nearest bound Envoy puts on a silent TLS client).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);

/// Where a piece of TLS material comes from.
#[derive(Debug, Clone)]
pub(crate) enum Source<T> {
    /// Compiled with the listener.
    Inline(T),
    /// An SDS secret, by name.
    Sds(String),
}

/// Client certificate validation: trust plus the default context's checks.
#[derive(Debug)]
pub(crate) struct Validation {
    trust: Source<Arc<Trust>>,
    checks: Arc<Checks>,
}

/// A compiled `DownstreamTlsContext`.
pub struct ServerTls {
    certificates: Vec<Source<Arc<Certificate>>>,
    validation: Option<Validation>,
    require_client_certificate: bool,
    require_sni: bool,
    alpn: Vec<Vec<u8>>,
    params: Params,
    prefer_client_ciphers: bool,
    stateful_resumption: bool,
    tickets: bool,
    built: Mutex<Option<Built>>,
}

/// The last built config and the SDS secrets it was built from.
struct Built {
    used: Vec<Arc<Secret>>,
    config: Arc<ServerConfig>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("certificates", &self.certificates)
            .field("validation", &self.validation)
            .field("require_client_certificate", &self.require_client_certificate)
            .field("alpn", &self.alpn.iter().map(|p| String::from_utf8_lossy(p)).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A finished handshake.
pub struct Accepted<IO> {
    /// The decrypted stream.
    pub stream: tokio_rustls::server::TlsStream<IO>,
    /// The SNI the client sent (Envoy's `%REQUESTED_SERVER_NAME%`).
    pub sni: Option<Arc<str>>,
    /// The protocol ALPN settled on (`h2`, `http/1.1`), if any.
    pub alpn: Option<Vec<u8>>,
}

impl ServerTls {
    /// The SDS secrets this context names (certificates, then the CA).
    pub fn secret_names(&self) -> impl Iterator<Item = &str> {
        let certs = self.certificates.iter().filter_map(|c| match c {
            Source::Sds(name) => Some(name.as_str()),
            Source::Inline(_) => None,
        });
        let ca = self.validation.as_ref().and_then(|v| match &v.trust {
            Source::Sds(name) => Some(name.as_str()),
            Source::Inline(_) => None,
        });
        certs.chain(ca)
    }

    /// The ALPN protocols offered.
    pub fn alpn(&self) -> &[Vec<u8>] {
        &self.alpn
    }

    /// The rustls config for a new connection, from the current `secrets`; Err (the missing or
    /// unusable secret) when the chain cannot be served.
    pub fn server_config(&self, secrets: &Secrets) -> Result<Arc<ServerConfig>, String> {
        let used = self
            .secret_names()
            .map(|name| secrets.get(name).cloned().ok_or_else(|| format!("secret {name} has not arrived")))
            .collect::<Result<Vec<_>, _>>()?;
        let mut built = self.built.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(b) = built.as_ref()
            && b.used.len() == used.len()
            && b.used.iter().zip(&used).all(|(a, b)| Arc::ptr_eq(a, b))
        {
            return Ok(b.config.clone());
        }
        let config = Arc::new(self.build(&used)?);
        *built = Some(Built { used, config: config.clone() });
        Ok(config)
    }

    /// Builds the rustls config; `used` are the SDS secrets in [`Self::secret_names`] order.
    fn build(&self, used: &[Arc<Secret>]) -> Result<ServerConfig, String> {
        let mut sds = used.iter();
        let mut certificates = Vec::new();
        for c in &self.certificates {
            certificates.push(match c {
                Source::Inline(c) => c.clone(),
                Source::Sds(name) => match sds.next().map(Arc::as_ref) {
                    Some(Secret::Certificate(c)) => c.clone(),
                    _ => return Err(format!("secret {name} is not a certificate")),
                },
            });
        }
        let builder = ServerConfig::builder_with_provider(self.params.provider.clone())
            .with_protocol_versions(&self.params.versions)
            .map_err(|e| format!("TLS parameters: {e}"))?;
        let builder = match &self.validation {
            None => builder.with_no_client_auth(),
            Some(v) => {
                let trust = match &v.trust {
                    Source::Inline(t) => t.clone(),
                    Source::Sds(name) => match sds.next().map(Arc::as_ref) {
                        Some(Secret::Trust(t)) => t.clone(),
                        _ => return Err(format!("secret {name} is not a validation context")),
                    },
                };
                let verifier =
                    verify::client_verifier(&trust, &v.checks, self.require_client_certificate, &self.params.provider)?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_cert_resolver(Arc::new(Resolver { certificates, require_sni: self.require_sni }));
        config.alpn_protocols = self.alpn.clone();
        // Envoy (BoringSSL) picks suites by its own preference unless told otherwise.
        config.ignore_client_order = !self.prefer_client_ciphers;
        if self.tickets {
            config.ticketer = rustls::crypto::ring::Ticketer::new().map_err(|e| format!("session tickets: {e}"))?;
        }
        if !self.stateful_resumption {
            config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        }
        Ok(config)
    }

    /// Handshakes `io` (an accepted connection) with the current secrets.
    pub async fn accept<IO>(&self, secrets: &Secrets, io: IO) -> std::io::Result<Accepted<IO>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let config = self.server_config(secrets).map_err(std::io::Error::other)?;
        let handshake = tokio_rustls::TlsAcceptor::from(config).accept(io);
        let stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake)
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
        let (_, conn) = stream.get_ref();
        let sni = conn.server_name().map(Arc::from);
        let alpn = conn.alpn_protocol().map(<[u8]>::to_vec);
        Ok(Accepted { stream, sni, alpn })
    }
}

/// Picks the certificate for a handshake.
#[derive(Debug)]
struct Resolver {
    certificates: Vec<Arc<Certificate>>,
    require_sni: bool,
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let sni = hello.server_name().map(str::to_ascii_lowercase);
        if self.require_sni && sni.is_none() {
            return None;
        }
        let usable = |c: &&Arc<Certificate>| c.key.key.choose_scheme(hello.signature_schemes()).is_some();
        let named = |c: &&Arc<Certificate>| {
            sni.as_deref().is_some_and(|sni| c.names.iter().any(|n| secret::name_matches(n, sni)))
        };
        let chosen =
            self.certificates.iter().filter(usable).find(named).or_else(|| self.certificates.iter().find(usable))?;
        Some(chosen.key.clone())
    }
}
