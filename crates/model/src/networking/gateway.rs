//! Istio `Gateway` (networking.istio.io; v1, v1beta1 and v1alpha3 share one schema): the typed
//! model of istio/api `networking/v1alpha3/gateway.proto` and the checks of Istio's
//! `ValidateGateway`, `validateServer`, `validateServerPort` and `validateServerBind`, in
//! Istio's wording. TLS settings live in [`super::server_tls`]; host, protocol and bind rules
//! shared with Sidecar live in [`super::listener`].

use super::listener::{self, Protocol, UNIX_PREFIX};
pub use super::server_tls::{ServerTlsSettings, TlsCertificate, TlsMode, TlsProtocol};
use crate::validation::{Validate, Validator};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// `Gateway` spec: listeners (servers) on a set of gateway pods.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Gateway {
    /// The listeners; at least one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<Server>,
    /// Labels of the gateway pods this applies to (any namespace unless scoped by istiod).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub selector: BTreeMap<String, String>,
}

/// One listener of a gateway.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Server {
    /// The port to listen on. Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<Port>,
    /// IP or `unix://` socket to bind (then the port number must be 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
    /// `[namespace/]dnsName` entries selecting the VirtualServices bound here. Required.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// TLS termination or passthrough settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ServerTlsSettings>,
    /// Loopback endpoint to forward to (not implemented by Istio; kept for compatibility).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_endpoint: Option<String>,
    /// Optional server name, unique in the gateway; prefixes stats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A gateway server's port.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Port {
    /// Port number the gateway listens on (0 with a `unix://` bind).
    #[serde(default)]
    pub number: u32,
    /// `HTTP`, `HTTPS`, `GRPC`, `GRPC-WEB`, `HTTP2`, `MONGO`, `REDIS`, `MYSQL`, `TCP` or `TLS`.
    #[serde(default)]
    pub protocol: String,
    /// Port name; unique among the gateway's servers.
    #[serde(default)]
    pub name: String,
    /// Deprecated and rejected on gateways (it only ever applied to ServiceEntries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_port: Option<u32>,
}

impl Port {
    /// The parsed protocol (`None` when Istio does not know the name).
    pub fn parsed_protocol(&self) -> Option<Protocol> {
        Protocol::parse(&self.protocol)
    }
}

impl Server {
    /// True for TLS passthrough servers (`PASSTHROUGH` or `AUTO_PASSTHROUGH`), Istio
    /// `IsPassThroughServer`.
    pub fn is_passthrough(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| matches!(t.effective_mode(), TlsMode::Passthrough | TlsMode::AutoPassthrough))
    }

    fn bind(&self) -> &str {
        self.bind.as_deref().unwrap_or("")
    }
}

/// Istio `validateServerPort`; returns whether the port is valid (the TLS-vs-protocol rules
/// only run on a valid port, as in Istio).
fn validate_port(v: &mut Validator<'_>, port: &Port, bind: &str) -> bool {
    let mut ok = true;
    if port.parsed_protocol().is_none() {
        let msg = if port.protocol.is_empty() {
            "Required value: invalid protocol \"\", a protocol must be set".to_string()
        } else {
            format!("invalid protocol {:?}, supported protocols are {}", port.protocol, listener::SUPPORTED_PROTOCOLS)
        };
        v.error_at("protocol", msg);
        ok = false;
    }
    if (port.number > 0 || !bind.starts_with(UNIX_PREFIX))
        && let Err(e) = listener::check_port(i64::from(port.number))
    {
        v.error_at("number", e);
        ok = false;
    }
    if port.target_port.is_some_and(|p| p > 0) {
        v.error_at("targetPort", "targetPort has no impact on Gateways");
        ok = false;
    }
    if port.name.is_empty() {
        v.error_at("name", "Required value: port name must be set");
        ok = false;
    }
    ok
}

/// Istio `validateServerBind`: an IP, or a Unix socket with port number 0.
fn validate_bind(v: &mut Validator<'_>, port: Option<&Port>, bind: &str) {
    if let Some(path) = bind.strip_prefix(UNIX_PREFIX) {
        if let Err(e) = listener::check_unix_address(path) {
            v.error_at("bind", e);
        }
        if let Some(p) = port.filter(|p| p.number != 0) {
            v.field("port", |v| {
                v.error_at("number", format!("port number must be 0 for unix domain socket, got {}", p.number));
            });
        }
    } else if !bind.is_empty()
        && let Err(e) = listener::check_ip_address(bind)
    {
        v.error_at("bind", e);
    }
}

/// HTTPS and TLS ports need TLS settings; plain ports may not have them, except an HTTP port
/// whose settings only ask for `httpsRedirect`.
fn validate_tls_for_protocol(v: &mut Validator<'_>, server: &Server, protocol: Protocol) {
    match &server.tls {
        None if protocol.is_tls() => v.error_at("tls", "server must have TLS settings for HTTPS/TLS protocols"),
        Some(tls) if !protocol.is_tls() => {
            let set = |s: &Option<String>| s.as_deref().is_some_and(|s| !s.is_empty());
            if !protocol.is_http() {
                v.error_at("tls", "server cannot have TLS settings for non HTTPS/TLS ports");
            } else if !server.is_passthrough()
                || set(&tls.ca_certificates)
                || set(&tls.private_key)
                || set(&tls.server_certificate)
            {
                v.error_at("tls", "server cannot have TLS settings for plain text HTTP ports");
            }
        }
        _ => {}
    }
}

impl Validate for Server {
    /// Istio `validateServer`.
    fn validate(&self, v: &mut Validator<'_>) {
        if self.hosts.is_empty() {
            v.error_at("hosts", "server config must contain at least one host");
        }
        v.each("hosts", &self.hosts, |v, host| listener::namespace_host(v, host, true));
        let port_ok = match &self.port {
            Some(port) => v.field("port", |v| validate_port(v, port, self.bind())),
            None => {
                v.error_at("port", "Required value: port is required");
                false
            }
        };
        validate_bind(v, self.port.as_ref(), self.bind());
        v.opt("tls", &self.tls, |v, tls| tls.validate(v));
        if port_ok && let Some(protocol) = self.port.as_ref().and_then(Port::parsed_protocol) {
            validate_tls_for_protocol(v, self, protocol);
        }
        if self.default_endpoint.as_deref().is_some_and(|e| !e.is_empty()) {
            v.field("defaultEndpoint", |v| {
                v.warn("defaultEndpoint is not implemented for Gateway servers and is ignored")
            });
        }
    }
}

impl Validate for Gateway {
    /// Istio `ValidateGateway` (the gateway-name rule needs the metadata and lives elsewhere).
    fn validate(&self, v: &mut Validator<'_>) {
        if self.servers.is_empty() {
            v.error_at("servers", "gateway must have at least one server");
        }
        v.each("servers", &self.servers, |v, s| s.validate(v));
        let mut port_names = BTreeSet::new();
        let mut server_names = BTreeSet::new();
        v.each("servers", &self.servers, |v, s| {
            if let Some(port) = &s.port {
                if !port.name.is_empty() && !port_names.insert(port.name.clone()) {
                    v.field("port", |v| {
                        v.error_at(
                            "name",
                            format!("port names in servers must be unique: duplicate name {}", port.name),
                        )
                    });
                }
                let redirect = s.tls.as_ref().and_then(|t| t.https_redirect).unwrap_or(false);
                if redirect && !port.parsed_protocol().is_some_and(Protocol::is_http) {
                    v.field("tls", |v| {
                        v.field("httpsRedirect", |v| v.warn("tls.httpsRedirect should only be used with http servers"))
                    });
                }
            }
            if let Some(name) = s.name.as_deref().filter(|n| !n.is_empty())
                && !server_names.insert(name.to_string())
            {
                v.field("name", |v| v.warn(format!("server names must be unique in a gateway: duplicate name {name}")));
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::validate_spec;
    use serde_json::json;

    fn issues(doc: serde_json::Value) -> String {
        let gw: Gateway = serde_json::from_value(doc).expect("decodes");
        validate_spec(&gw, "default").iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
    }

    #[test]
    fn https_redirect_on_http_is_fine() {
        let doc = json!({"servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"},
            "hosts": ["bar.com"], "tls": {"httpsRedirect": true}}]});
        assert_eq!(issues(doc), "");
    }

    #[test]
    fn unix_bind_needs_port_zero() {
        let doc = json!({"servers": [{"port": {"number": 7, "name": "http", "protocol": "http"},
            "hosts": ["foo.bar.com"], "bind": "unix://@foobar"}]});
        assert!(issues(doc).contains("spec.servers[0].port.number: port number must be 0 for unix domain socket"));
        let doc = json!({"servers": [{"port": {"number": 0, "name": "http", "protocol": "http"},
            "hosts": ["foo.bar.com"], "bind": "unix://@foobar"}]});
        assert_eq!(issues(doc), "");
    }

    #[test]
    fn invalid_port_skips_tls_protocol_rule() {
        let doc = json!({"servers": [{"port": {"number": 443, "protocol": "HTTPS"}, "hosts": ["a.com"]}]});
        let out = issues(doc);
        assert!(out.contains("port name must be set"), "{out}");
        assert!(!out.contains("must have TLS settings"), "{out}");
    }
}
