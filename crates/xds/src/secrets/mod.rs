//! SDS for `credentialName`, as istiod's `SecretGen`: Gateway servers and DestinationRules
//! name Kubernetes Secrets; listeners and clusters reference them as SDS resources over ADS
//! (`kubernetes://NAME` for the certificate and key, `kubernetes://NAME-cacert` for the CA,
//! `configmap://NS/NAME` for a CA bundle in a ConfigMap), and [`build`] serves exactly the
//! resources the generated listeners and clusters reference, with the PEM inline. A Secret
//! edit changes only this resource, so Envoy swaps certificates without touching listeners.
//!
//! Istio's rules kept here: `kubernetes://NAME` (and `kubernetes://NS/NAME`) reads the
//! Secret from the proxy's own namespace and nowhere else; the certificate is `cert`/`key`,
//! else `tls.crt`/`tls.key`; the CA is `cacert` (+ `crl`), else `ca.crt` (+ `ca.crl`), read
//! from the Secret `NAME-cacert` when it exists, else from `NAME`. Beyond Istio, PEM and keys
//! are checked ([`x509`]) so a broken Secret is reported instead of being NACKed by Envoy.

pub mod pem;
pub mod x509;

use crate::scope::Scope;
use envoy_types::pb::envoy::config::cluster::v3::Cluster;
use envoy_types::pb::envoy::config::core::v3::{
    AggregatedConfigSource, ApiVersion, ConfigSource, DataSource, TransportSocket, config_source, data_source,
    transport_socket,
};
use envoy_types::pb::envoy::config::listener::v3::Listener;
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, CommonTlsContext, DownstreamTlsContext, SdsSecretConfig, Secret, TlsCertificate,
    UpstreamTlsContext, common_tls_context::ValidationContextType, secret,
};
use prost::Message;
use std::collections::BTreeSet;
use strait_registry::store::Credential;

/// Prefix of Secret resources read from the proxy's namespace.
pub const KUBERNETES: &str = "kubernetes://";
/// Prefix of CA bundles read from a ConfigMap (`configmap://NS/NAME`).
pub const CONFIGMAP: &str = "configmap://";
/// Suffix of the CA resource of a credential.
pub const CA_SUFFIX: &str = "-cacert";

/// Istio's `ToResourceName`: the SDS resource of a `credentialName` (`kubernetes://` unless
/// the name has a type already). `sds://NAME` falls back to `NAME`, as Istio does without an
/// SDS extension provider.
pub fn resource_name(credential: &str) -> String {
    let name = credential.strip_prefix("sds://").unwrap_or(credential);
    let typed = ["kubernetes://", "kubernetes-gateway://", "configmap://", "builtin://", "invalid://"];
    if typed.iter().any(|t| name.starts_with(t)) { name.to_string() } else { format!("{KUBERNETES}{name}") }
}

/// The CA resource of a credential: `resource_name(NAME-cacert)`.
pub fn ca_resource_name(credential: &str) -> String {
    resource_name(&format!("{credential}{CA_SUFFIX}"))
}

/// True when `resource` is served as a CA (validation context) rather than a certificate.
pub fn is_ca(resource: &str) -> bool {
    resource.starts_with(CONFIGMAP) || resource.ends_with(CA_SUFFIX)
}

/// An SDS reference over ADS (Istio's `SDSAdsConfig`: v3, Envoy's default fetch timeout).
pub fn sds_config(resource: &str) -> SdsSecretConfig {
    SdsSecretConfig {
        name: resource.to_string(),
        sds_config: Some(ConfigSource {
            config_source_specifier: Some(config_source::ConfigSourceSpecifier::Ads(AggregatedConfigSource {})),
            resource_api_version: ApiVersion::V3 as i32,
            ..Default::default()
        }),
    }
}

/// Where a resource's data lives.
#[derive(Debug)]
enum Source<'a> {
    Secret(&'a str, &'a str),
    ConfigMap(&'a str, &'a str),
}

/// Istio's `ParseResourceName` plus its access rule: Secrets only from the proxy's namespace.
fn parse<'a>(resource: &'a str, proxy_ns: &'a str) -> Result<Source<'a>, String> {
    if let Some(rest) = resource.strip_prefix(KUBERNETES) {
        let (ns, name) = rest.split_once('/').unwrap_or((proxy_ns, rest));
        if ns != proxy_ns {
            return Err(format!(
                "secret {ns}/{name} is outside the proxy's namespace {proxy_ns:?}, where Istio reads credentials from"
            ));
        }
        return Ok(Source::Secret(ns, name));
    }
    if let Some(rest) = resource.strip_prefix(CONFIGMAP) {
        return match rest.split_once('/') {
            Some((ns, name)) if !ns.is_empty() && !name.is_empty() => Ok(Source::ConfigMap(ns, name)),
            _ => Err(format!("invalid resource name {resource:?}; expected configmap://NAMESPACE/NAME")),
        };
    }
    Err(format!("credential type of {resource:?} is not supported"))
}

/// The SDS resource `resource` for `scope`'s proxy, or why it cannot be served.
pub fn resolve(scope: &Scope<'_>, resource: &str) -> Result<Secret, String> {
    let store = &scope.registry.config;
    let ty = match parse(resource, &scope.proxy.id.namespace)? {
        Source::ConfigMap(ns, name) => {
            let name = name.strip_suffix(CA_SUFFIX).unwrap_or(name);
            ca(store.config_map(ns, name).ok_or_else(|| format!("configmap {ns}/{name} not found"))?)?
        }
        Source::Secret(ns, name) if name.ends_with(CA_SUFFIX) => {
            let stripped = name.strip_suffix(CA_SUFFIX).unwrap_or(name);
            let s = store.secret(ns, name).or_else(|| store.secret(ns, stripped));
            ca(s.ok_or_else(|| format!("secret {ns}/{stripped} not found"))?)?
        }
        Source::Secret(ns, name) => {
            certificate(store.secret(ns, name).ok_or_else(|| format!("secret {ns}/{name} not found"))?)?
        }
    };
    Ok(Secret { name: resource.to_string(), r#type: Some(ty) })
}

fn inline(bytes: &[u8]) -> Option<DataSource> {
    Some(DataSource { specifier: Some(data_source::Specifier::InlineBytes(bytes.to_vec())), ..Default::default() })
}

/// Istio's `ExtractCertInfo` (`cert`/`key` first, then `tls.crt`/`tls.key`), checked.
fn certificate(c: &Credential) -> Result<secret::Type, String> {
    let pairs = [("cert", "key"), ("tls.crt", "tls.key")];
    let Some((cert, key)) = pairs.iter().find_map(|(c1, k1)| Some((c.value(c1)?, c.value(k1)?))) else {
        if let Some((c1, k1)) = pairs.iter().find(|(c1, k1)| c.has(c1) && c.has(k1)) {
            return Err(format!("found keys {c1:?} and {k1:?}, but they were empty"));
        }
        return Err(format!(
            "found secret, but didn't have expected keys (cert and key) or (tls.crt and tls.key); found: {}",
            c.keys_message()
        ));
    };
    x509::check_pair(cert, key).map_err(|e| format!("invalid certificate in {}/{}: {e}", c.namespace, c.name))?;
    Ok(secret::Type::TlsCertificate(TlsCertificate {
        certificate_chain: inline(cert),
        private_key: inline(key),
        ..Default::default()
    }))
}

/// Istio's `ExtractRoot` (`cacert` + `crl`, else `ca.crt` + `ca.crl`), checked.
fn ca(c: &Credential) -> Result<secret::Type, String> {
    let pairs = [("cacert", "crl"), ("ca.crt", "ca.crl")];
    let Some((cert, crl_key)) = pairs.iter().find_map(|(k, crl)| Some((c.value(k)?, *crl))) else {
        if let Some((k, _)) = pairs.iter().find(|(k, _)| c.has(k)) {
            return Err(format!("found key {k:?}, but it was empty"));
        }
        return Err(format!(
            "found secret, but didn't have expected keys cacert or ca.crt; found: {}",
            c.keys_message()
        ));
    };
    let bad = |e: String| format!("invalid CA in {}/{}: {e}", c.namespace, c.name);
    x509::certificates(cert).map_err(bad)?;
    let crl = c.value(crl_key);
    if let Some(crl) = crl {
        x509::check_crl(crl).map_err(bad)?;
    }
    Ok(secret::Type::ValidationContext(CertificateValidationContext {
        trusted_ca: inline(cert),
        crl: crl.and_then(inline),
        ..Default::default()
    }))
}

/// The secrets the generated listeners and clusters reference, for the proxy, sorted by name.
/// Unresolvable ones are left out: listeners never reference them (their chain is dropped),
/// and a cluster that does waits for them as it would in Istio.
pub fn build(scope: &Scope<'_>, listeners: &[Listener], clusters: &[Cluster]) -> Vec<Secret> {
    if scope.registry.config.secrets.is_empty() && scope.registry.config.config_maps.is_empty() {
        return Vec::new();
    }
    referenced(listeners, clusters).iter().filter_map(|name| resolve(scope, name).ok()).collect()
}

/// Names of the ADS SDS resources referenced by TLS transport sockets.
pub fn referenced(listeners: &[Listener], clusters: &[Cluster]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let chains = listeners.iter().flat_map(|l| l.filter_chains.iter().chain(l.default_filter_chain.as_ref()));
    for socket in chains.filter_map(|c| c.transport_socket.as_ref()) {
        if let Some(ctx) = decode::<DownstreamTlsContext>(socket) {
            sds_names(ctx.common_tls_context.as_ref(), &mut out);
        }
    }
    let matched =
        clusters.iter().flat_map(|c| c.transport_socket_matches.iter().filter_map(|m| m.transport_socket.as_ref()));
    for socket in clusters.iter().filter_map(|c| c.transport_socket.as_ref()).chain(matched) {
        if let Some(ctx) = decode::<UpstreamTlsContext>(socket) {
            sds_names(ctx.common_tls_context.as_ref(), &mut out);
        }
    }
    out
}

/// The TLS context in a transport socket, when it may name SDS resources (a cheap byte check
/// first: file-based contexts, the common case, are not decoded).
fn decode<M: Message + Default>(socket: &TransportSocket) -> Option<M> {
    let Some(transport_socket::ConfigType::TypedConfig(any)) = &socket.config_type else { return None };
    if !any.value.windows(3).any(|w| w == b"://") {
        return None;
    }
    M::decode(any.value.as_slice()).ok()
}

fn sds_names(common: Option<&CommonTlsContext>, out: &mut BTreeSet<String>) {
    let Some(common) = common else { return };
    let validation = match &common.validation_context_type {
        Some(ValidationContextType::ValidationContextSdsSecretConfig(s)) => Some(s),
        Some(ValidationContextType::CombinedValidationContext(c)) => c.validation_context_sds_secret_config.as_ref(),
        _ => None,
    };
    // A CA resource where a certificate is expected (or the reverse) is never served: Envoy
    // would refuse a secret of the wrong type.
    let certs = common.tls_certificate_sds_secret_configs.iter().filter(|s| !is_ca(&s.name));
    for s in certs.chain(validation.filter(|s| is_ca(&s.name))) {
        let ads = s.sds_config.as_ref().and_then(|c| c.config_source_specifier.as_ref());
        if matches!(ads, Some(config_source::ConfigSourceSpecifier::Ads(_))) {
            out.insert(s.name.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_names_follow_istio() {
        assert_eq!(resource_name("gw-cert"), "kubernetes://gw-cert");
        assert_eq!(resource_name("kubernetes://ns/gw-cert"), "kubernetes://ns/gw-cert");
        assert_eq!(resource_name("configmap://ns/ca"), "configmap://ns/ca");
        assert_eq!(resource_name("sds://gw-cert"), "kubernetes://gw-cert");
        assert_eq!(ca_resource_name("gw-cert"), "kubernetes://gw-cert-cacert");
        assert_eq!(ca_resource_name("configmap://ns/ca"), "configmap://ns/ca-cacert");
        assert!(is_ca("kubernetes://gw-cert-cacert") && is_ca("configmap://ns/ca") && !is_ca("kubernetes://gw"));
    }

    #[test]
    fn parse_keeps_secrets_in_the_proxy_namespace() {
        assert!(matches!(parse("kubernetes://a", "gw"), Ok(Source::Secret("gw", "a"))));
        assert!(matches!(parse("kubernetes://gw/a", "gw"), Ok(Source::Secret("gw", "a"))));
        assert!(parse("kubernetes://other/a", "gw").unwrap_err().contains("outside the proxy's namespace"));
        assert!(matches!(parse("configmap://other/a", "gw"), Ok(Source::ConfigMap("other", "a"))));
        assert!(parse("configmap://a", "gw").is_err());
        assert!(parse("builtin://", "gw").unwrap_err().contains("not supported"));
    }
}
