//! Istio's names for what a line talks about: the upstream cluster (`outbound|9080|v1|reviews…`,
//! `inbound|8001||`, `BlackHoleCluster`, `PassthroughCluster`), the mTLS SNI
//! (`outbound_.9080_.v1_.reviews…`), and the service and namespace inside a
//! `NAME.NAMESPACE.svc.DOMAIN` host.

use serde::Serialize;

/// An upstream cluster, by Istio's naming.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ClusterRef {
    /// `outbound|PORT|SUBSET|HOST`.
    Outbound {
        /// Service port.
        port: u32,
        /// Subset (None when empty).
        subset: Option<String>,
        /// FQDN.
        host: String,
    },
    /// `inbound|PORT||` (Istio ≥ 1.10) or `inbound|PORT|NAME|HOST` (older).
    Inbound {
        /// The port the app listens on.
        port: u32,
        /// The service host, when the older form names it.
        host: Option<String>,
    },
    /// `BlackHoleCluster`: unknown destination under REGISTRY_ONLY.
    BlackHole,
    /// `PassthroughCluster`: unknown destination under ALLOW_ANY, sent as is.
    Passthrough,
    /// `InboundPassthroughCluster`: inbound traffic to a port no Service declares.
    InboundPassthrough,
    /// Anything else (gateway-internal clusters, custom names).
    Other {
        /// The name as logged.
        name: String,
    },
}

impl ClusterRef {
    /// Reads a cluster name.
    pub fn parse(name: &str) -> ClusterRef {
        match name {
            "BlackHoleCluster" => return ClusterRef::BlackHole,
            "PassthroughCluster" => return ClusterRef::Passthrough,
            "InboundPassthroughCluster" | "InboundPassthroughClusterIpv4" | "InboundPassthroughClusterIpv6" => {
                return ClusterRef::InboundPassthrough;
            }
            _ => {}
        }
        let parts: Vec<&str> = name.split('|').collect();
        match parts.as_slice() {
            ["outbound", port, subset, host] if !host.is_empty() => match port.parse() {
                Ok(port) => ClusterRef::Outbound {
                    port,
                    subset: (!subset.is_empty()).then(|| (*subset).to_string()),
                    host: (*host).to_string(),
                },
                Err(_) => ClusterRef::Other { name: name.to_string() },
            },
            ["inbound", port, _, host] => match port.parse() {
                Ok(port) => ClusterRef::Inbound { port, host: (!host.is_empty()).then(|| (*host).to_string()) },
                Err(_) => ClusterRef::Other { name: name.to_string() },
            },
            _ => ClusterRef::Other { name: name.to_string() },
        }
    }
}

/// `outbound_.9080_.v1_.reviews.default.svc.cluster.local` → (9080, Some("v1"), host).
pub fn parse_sni(sni: &str) -> Option<(u32, Option<String>, String)> {
    let rest = sni.strip_prefix("outbound_.")?;
    let (port, rest) = rest.split_once("_.")?;
    let (subset, host) = rest.split_once("_.")?;
    let subset = (!subset.is_empty()).then(|| subset.to_string());
    Some((port.parse().ok()?, subset, host.to_string()))
}

/// `reviews.bookinfo.svc.cluster.local` → (`reviews`, Some(`bookinfo`)); other hosts → (host, None).
pub fn service_and_namespace(host: &str) -> (&str, Option<&str>) {
    let mut parts = host.splitn(4, '.');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(name), Some(ns), Some("svc")) => (name, Some(ns)),
        _ => (host, None),
    }
}

/// `10.0.0.1:9080`, `[2001:db8::1]:9080` → (IP, port).
pub fn split_addr(addr: &str) -> Option<(&str, u32)> {
    let (ip, port) = addr.rsplit_once(':')?;
    let ip = ip.strip_prefix('[').and_then(|i| i.strip_suffix(']')).unwrap_or(ip);
    Some((ip, port.parse().ok()?))
}

/// `reviews:9080` → (`reviews`, Some(9080)); `reviews` → (`reviews`, None).
pub fn split_authority(authority: &str) -> (&str, Option<u32>) {
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') && port.parse::<u32>().is_ok() => (host, port.parse().ok()),
        _ => (authority, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_istio_names() {
        assert_eq!(
            ClusterRef::parse("outbound|9080|v1|reviews.default.svc.cluster.local"),
            ClusterRef::Outbound {
                port: 9080,
                subset: Some("v1".into()),
                host: "reviews.default.svc.cluster.local".into()
            }
        );
        assert_eq!(ClusterRef::parse("inbound|8001||"), ClusterRef::Inbound { port: 8001, host: None });
        assert_eq!(ClusterRef::parse("BlackHoleCluster"), ClusterRef::BlackHole);
        assert_eq!(ClusterRef::parse("xds-grpc"), ClusterRef::Other { name: "xds-grpc".into() });
        assert_eq!(
            parse_sni("outbound_.8001_._.api.prod.svc.cluster.local"),
            Some((8001, None, "api.prod.svc.cluster.local".into()))
        );
        assert_eq!(service_and_namespace("reviews.bookinfo.svc.cluster.local"), ("reviews", Some("bookinfo")));
        assert_eq!(service_and_namespace("api.github.com"), ("api.github.com", None));
        assert_eq!(split_addr("[2001:2::f0f0:89b7]:10002"), Some(("2001:2::f0f0:89b7", 10002)));
        assert_eq!(split_authority("reviews:9080"), ("reviews", Some(9080)));
        assert_eq!(split_authority("[::1]"), ("[::1]", None));
    }
}
