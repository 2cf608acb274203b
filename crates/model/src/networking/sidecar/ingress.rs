//! Sidecar ingress listeners (Istio `ValidateSidecar`, ingress part, and
//! `validateSidecarIngressPortAndBind`): a required port with a known protocol, unique port
//! numbers, an IP bind, a loopback/wildcard or Unix `defaultEndpoint`, and TLS limited to what a
//! sidecar can terminate (SIMPLE or MUTUAL with files, on an HTTPS/TLS port).

use super::{IstioIngressListener, SidecarPort};
use crate::networking::listener::{self, Protocol, UNIX_PREFIX};
use crate::networking::server_tls::{ServerTlsSettings, TlsMode};
use crate::validation::{Validate, Validator, rules};
use std::collections::BTreeSet;

/// Hosts a `defaultEndpoint` may name: loopback or the wildcard address (the instance IP).
const ENDPOINT_HOSTS: &[&str] = &["", "127.0.0.1", "0.0.0.0", "::1", "::"];

/// Validates every ingress listener under `ingress[i]`.
pub(super) fn validate(v: &mut Validator<'_>, listeners: &[IstioIngressListener]) {
    let mut ports = BTreeSet::new();
    v.each("ingress", listeners, |v, l| {
        let Some(port) = &l.port else {
            v.error_at("port", "Required value: sidecar: port is required for ingress listeners");
            return;
        };
        v.field("port", |v| {
            port_fields(v, port, "Sidecars");
            v.field("number", |v| {
                listener::port_number(v, i64::from(port.number()));
                if !ports.insert(port.number()) {
                    v.error("sidecar: ports on IP bound listeners must be unique");
                }
            });
        });
        if let Some(bind) = l.bind.as_deref().filter(|b| !b.is_empty()) {
            v.field("bind", |v| ingress_bind(v, bind));
        }
        if let Some(endpoint) = l.default_endpoint.as_deref().filter(|e| !e.is_empty()) {
            v.field("defaultEndpoint", |v| default_endpoint(v, endpoint));
        }
        v.opt("tls", &l.tls, |v, tls| ingress_tls(v, tls, port));
        connection_pool(v, l, port);
    });
}

/// Checks shared by ingress and egress ports: deprecated `targetPort`, DNS-label name and a
/// known (or empty, meaning sniffed) protocol.
pub(super) fn port_fields(v: &mut Validator<'_>, port: &SidecarPort, kind: &str) {
    if port.target_port.is_some_and(|p| p > 0) {
        v.error_at("targetPort", format!("targetPort has no impact on {kind}"));
    }
    if let Some(name) = port.name.as_deref().filter(|n| !n.is_empty())
        && !rules::is_dns1123_label(name)
    {
        v.error_at("name", format!("invalid port name: {name}"));
    }
    let protocol = port.protocol();
    if !protocol.is_empty() && Protocol::parse(protocol).is_none() {
        v.error_at("protocol", format!("unsupported protocol: {protocol}"));
    }
}

fn ingress_bind(v: &mut Validator<'_>, bind: &str) {
    if let Err(e) = listener::check_ip_address(bind) {
        if bind.starts_with(UNIX_PREFIX) {
            v.error(format!("{e}: Unix domain socket addresses are not allowed in the bind of ingress listeners"));
        } else {
            v.error(e);
        }
    }
}

/// `127.0.0.1:PORT`, `0.0.0.0:PORT`, `[::1]:PORT`, `[::]:PORT`, `:PORT` or `unix:///path`.
fn default_endpoint(v: &mut Validator<'_>, endpoint: &str) {
    if let Some(path) = endpoint.strip_prefix(UNIX_PREFIX) {
        if let Err(e) = listener::check_unix_address(path) {
            v.error(e);
        }
        return;
    }
    let (host, port) = match listener::split_host_port(endpoint) {
        Ok(parts) => parts,
        Err(e) => return v.error(e),
    };
    if !ENDPOINT_HOSTS.contains(&host) {
        v.error(format!(
            "sidecar: defaultEndpoint must be of form 127.0.0.1:<port>,0.0.0.0:<port>,[::1]:port,[::]:port,unix://filepath or unset, got {endpoint:?}"
        ));
    }
    match port.parse::<i64>() {
        Ok(n) => listener::port_number(v, n),
        Err(_) => v.error(format!("sidecar: defaultEndpoint port ({port}) is not a number")),
    }
}

/// Sidecar TLS termination: files only (no SDS credentials), no client SAN checks or redirect,
/// not ISTIO_MUTUAL/AUTO_PASSTHROUGH, on an HTTPS/TLS port; then the usual TLS rules.
fn ingress_tls(v: &mut Validator<'_>, tls: &ServerTlsSettings, port: &SidecarPort) {
    if !tls.subject_alt_names.is_empty() {
        v.error_at("subjectAltNames", "sidecar: subjectAltNames is not supported in ingress tls");
    }
    if tls.https_redirect == Some(true) {
        v.error_at("httpsRedirect", "sidecar: httpsRedirect is not supported");
    }
    if tls.credential_name.as_deref().is_some_and(|c| !c.is_empty()) {
        v.error_at("credentialName", "sidecar: credentialName is not currently supported");
    }
    if !tls.credential_names.is_empty() {
        v.error_at("credentialNames", "sidecar: credentialNames is not currently supported");
    }
    if !tls.tls_certificates.is_empty() {
        v.error_at("tlsCertificates", "sidecar: tls_certificates is not currently supported");
    }
    let mode = tls.effective_mode();
    if matches!(mode, TlsMode::IstioMutual | TlsMode::AutoPassthrough) {
        v.error_at(
            "mode",
            format!("configuration is invalid: cannot set mode to {} in sidecar ingress tls", mode.as_str()),
        );
    }
    if !Protocol::parse(port.protocol()).is_some_and(Protocol::is_tls) {
        v.error("server cannot have TLS settings for non HTTPS/TLS ports");
    }
    tls.validate(v);
}

/// The port's connection pool; HTTP settings on a non-HTTP port are ignored, and Istio warns.
fn connection_pool(v: &mut Validator<'_>, l: &IstioIngressListener, port: &SidecarPort) {
    let Some(cp) = &l.connection_pool else { return };
    v.field("connectionPool", |v| cp.validate(v));
    if cp.http.is_some() && !Protocol::parse(port.protocol()).is_some_and(Protocol::is_http) {
        v.field("connectionPool", |v| {
            v.warn(format!(
                "sidecar: HTTP connection pool settings are configured for port {} ({:?}) but its protocol is not HTTP ({}); only TCP settings will apply",
                port.number(),
                port.name.as_deref().unwrap_or(""),
                port.protocol()
            ))
        });
    }
}
