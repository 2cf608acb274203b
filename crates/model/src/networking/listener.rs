//! Listener rules shared by Gateway servers, Sidecar listeners and the mesh config: Istio's
//! protocol names, port numbers in its agent wording, bind addresses (an IP or a Unix domain
//! socket), Go-style `host:port` splitting, proxy addresses, and `namespace/dnsName` host
//! entries (`validateSidecarOrGatewayHostnamePart`, `ValidateNamespaceSlashWildcardHostname`).
//!
//! Functions named `check_*` return the problem as text so callers can place it at the most
//! precise path; the others record issues through a [`Validator`] at its current path.

use crate::validation::{Validator, rules};
use std::net::IpAddr;

/// Prefix of a Unix domain socket bind address (`unix:///path` or `unix://@abstract`).
pub const UNIX_PREFIX: &str = "unix://";

/// A port protocol Istio knows (`protocol.Parse`, case-insensitive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Protocol {
    Http,
    Http2,
    Https,
    HttpProxy,
    Grpc,
    GrpcWeb,
    Tcp,
    Tls,
    Udp,
    Mongo,
    Redis,
    MySql,
}

impl Protocol {
    /// Parses a protocol name ignoring case; `None` for names Istio treats as unsupported
    /// (including the empty string).
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "http" => Self::Http,
            "http2" => Self::Http2,
            "https" => Self::Https,
            "http_proxy" => Self::HttpProxy,
            "grpc" => Self::Grpc,
            "grpc-web" => Self::GrpcWeb,
            "tcp" => Self::Tcp,
            "tls" => Self::Tls,
            "udp" => Self::Udp,
            "mongo" => Self::Mongo,
            "redis" => Self::Redis,
            "mysql" => Self::MySql,
            _ => return None,
        })
    }

    /// True for protocols carried over HTTP (Istio `IsHTTP`).
    pub fn is_http(self) -> bool {
        matches!(self, Self::Http | Self::Http2 | Self::HttpProxy | Self::Grpc | Self::GrpcWeb)
    }

    /// True for protocols on top of TLS (Istio `IsTLS`: HTTPS and TLS).
    pub fn is_tls(self) -> bool {
        matches!(self, Self::Https | Self::Tls)
    }
}

/// The protocol names a Gateway server port accepts, for error messages.
pub const SUPPORTED_PROTOCOLS: &str = "HTTP, HTTPS, HTTP2, GRPC, GRPC-WEB, MONGO, REDIS, MYSQL, TCP, TLS";

/// Istio `ValidatePort` (agent wording): 1..=65535.
pub fn check_port(port: i64) -> Result<(), String> {
    if (1..=65535).contains(&port) { Ok(()) } else { Err(format!("port number {port} must be in the range 1..65535")) }
}

/// Records [`check_port`]'s error at the current path.
pub fn port_number(v: &mut Validator<'_>, port: i64) {
    if let Err(e) = check_port(port) {
        v.error(e);
    }
}

/// Istio `ValidateUnixAddress` for the part after `unix://`: an absolute file path or an
/// abstract socket name starting with `@`.
pub fn check_unix_address(addr: &str) -> Result<(), String> {
    if addr.is_empty() {
        return Err("unix address must not be empty".into());
    }
    if addr.starts_with('@') {
        return Ok(());
    }
    if !addr.starts_with('/') || addr.ends_with('/') {
        return Err(format!("{addr} is not an absolute path to a file"));
    }
    Ok(())
}

/// Istio `ValidateIPAddress`: a bare IPv4 or IPv6 address.
pub fn check_ip_address(addr: &str) -> Result<(), String> {
    addr.parse::<IpAddr>().map(|_| ()).map_err(|_| format!("{addr} is not a valid IP"))
}

/// Go `net.SplitHostPort`, with Go's error texts (`address x: missing port in address`), so
/// `127.0.0.1:8080`, `[::1]:8080` and `:8080` split the way Istio splits them.
pub fn split_host_port(hostport: &str) -> Result<(&str, &str), String> {
    let err = |why: &str| Err(format!("address {hostport}: {why}"));
    let Some(colon) = hostport.rfind(':') else { return err("missing port in address") };
    let (host, rest_from, close_from) = if let Some(inner) = hostport.strip_prefix('[') {
        let Some(end) = inner.find(']').map(|e| e + 1) else { return err("missing ']' in address") };
        if end + 1 == hostport.len() {
            return err("missing port in address");
        }
        if end + 1 != colon {
            return err(if hostport.as_bytes()[end + 1] == b':' {
                "too many colons in address"
            } else {
                "missing port in address"
            });
        }
        (&hostport[1..end], 1, end + 1)
    } else {
        let host = &hostport[..colon];
        if host.contains(':') {
            return err("too many colons in address");
        }
        (host, 0, 0)
    };
    if hostport[rest_from..].contains('[') {
        return err("unexpected '[' in address");
    }
    if hostport[close_from..].contains(']') {
        return err("unexpected ']' in address");
    }
    Ok((host, &hostport[colon + 1..]))
}

/// Istio `ValidateProxyAddress`: `host:port` where host is an FQDN or an IP and port is valid
/// (discovery, statsd, metrics and access-log service addresses).
pub fn check_proxy_address(addr: &str) -> Result<(), String> {
    let (host, port) = split_host_port(addr).map_err(|e| format!("unable to split {addr:?}: {e}"))?;
    let port: i64 = port.parse().map_err(|_| format!("port ({port}) is not a number"))?;
    check_port(port)?;
    if rules::check_fqdn_strict(host).is_err() && host.parse::<IpAddr>().is_err() {
        return Err(format!("{host:?} is not a valid hostname or an IP address"));
    }
    Ok(())
}

/// Istio `ValidatePartialWildCard`: `*` alone or a `*.` prefix, never `*foo`.
fn check_partial_wildcard(host: &str) -> Result<(), String> {
    if host.contains('*') && host.len() != 1 && !host.starts_with("*.") {
        return Err(format!("partial wildcard {host:?} not allowed"));
    }
    Ok(())
}

/// Istio `validateSidecarOrGatewayHostnamePart`: the `dnsName` of a host entry. Gateways also
/// accept an IP address.
fn hostname_part(v: &mut Validator<'_>, hostname: &str, is_gateway: bool) {
    if hostname != "*" && !hostname.contains('.') {
        v.error(format!("short names (non FQDN) are not allowed: {hostname:?}"));
    }
    if let Err(e) = rules::check_wildcard_domain_strict(hostname)
        && !(is_gateway && hostname.parse::<IpAddr>().is_ok())
    {
        v.error(e);
    }
    if let Err(e) = check_partial_wildcard(hostname) {
        v.error(e);
    }
}

/// Istio `ValidateNamespaceSlashWildcardHostname`: a `[namespace/]dnsName` host entry of a
/// Gateway server (`namespace` is `*`, `.` or a name; it may be omitted) or of a Sidecar egress
/// listener (`namespace` is required and may also be `~` or `~name`, which excludes it).
pub fn namespace_host(v: &mut Validator<'_>, host: &str, is_gateway: bool) {
    let Some((ns, name)) = host.split_once('/') else {
        if is_gateway {
            hostname_part(v, host, true);
        } else {
            v.error(format!("host must be of form namespace/dnsName, got {host:?}"));
        }
        return;
    };
    if ns.is_empty() || name.is_empty() {
        v.error(format!("config namespace and dnsName in host entry cannot be empty, got {host:?}"));
    }
    if is_gateway {
        if ns != "*" && ns != "." && !rules::is_dns1123_label(ns) {
            v.error(format!("invalid namespace value {ns:?} in gateway"));
        }
    } else {
        let bare = ns.strip_prefix('~').unwrap_or(ns);
        if !bare.is_empty() && bare != "*" && bare != "." && !rules::is_dns1123_label(bare) {
            v.error(format!("invalid namespace value {ns:?} in sidecar"));
        }
    }
    hostname_part(v, name, is_gateway);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::Context;

    fn host_errors(host: &str, gateway: bool) -> Vec<String> {
        let ctx = Context::default();
        let mut v = Validator::new(&ctx, crate::FieldPath::root());
        namespace_host(&mut v, host, gateway);
        v.into_issues().into_iter().map(|i| i.message).collect()
    }

    #[test]
    fn protocols() {
        assert_eq!(Protocol::parse("grpc-web"), Some(Protocol::GrpcWeb));
        assert_eq!(Protocol::parse("HTTPS").map(Protocol::is_tls), Some(true));
        assert_eq!(Protocol::parse("kafka"), None);
        assert_eq!(Protocol::parse(""), None);
    }

    #[test]
    fn host_port_splitting() {
        assert_eq!(split_host_port("127.0.0.1:80"), Ok(("127.0.0.1", "80")));
        assert_eq!(split_host_port("[::1]:80"), Ok(("::1", "80")));
        assert_eq!(split_host_port(":80"), Ok(("", "80")));
        assert!(split_host_port("127.0.0.1").is_err_and(|e| e.contains("missing port")));
        assert!(split_host_port("::1:80").is_err_and(|e| e.contains("too many colons")));
        assert!(split_host_port("[::1]80").is_err());
        assert!(check_proxy_address("istiod.istio-system.svc:15012").is_ok());
        assert!(check_proxy_address("10.0.0.1:99999").is_err());
        assert!(check_proxy_address("bad_host:80").is_err());
    }

    #[test]
    fn host_entries() {
        for ok in ["foo.bar.com", "*", "ns1/foo.bar.com", "*/foo.bar.com", "./*", "1.1.1.1", "*.bar.com"] {
            assert!(host_errors(ok, true).is_empty(), "{ok}: {:?}", host_errors(ok, true));
        }
        for ok in ["*/*", "./foo.com", "~/*", "~ns1/*", "ns1/*.example.com"] {
            assert!(host_errors(ok, false).is_empty(), "{ok}: {:?}", host_errors(ok, false));
        }
        assert!(host_errors("~/foo.bar.com", true)[0].contains("invalid namespace value"));
        assert!(host_errors("foo", true)[0].contains("short names"));
        assert!(host_errors("*bar.com", true)[0].contains("partial wildcard"));
        assert!(host_errors("*", false)[0].contains("namespace/dnsName"));
        assert!(host_errors("~Invalid_NS/*", false)[0].contains("invalid namespace value"));
        assert!(host_errors("/", false)[0].contains("cannot be empty"));
    }
}
