//! Istio's xDS naming conventions (istio-compat.md §1.12): users' runbooks, istioctl output,
//! Kiali and access logs all depend on these exact strings.

/// Cluster for traffic to unknown destinations under ALLOW_ANY (ORIGINAL_DST).
pub const PASSTHROUGH_CLUSTER: &str = "PassthroughCluster";
/// Cluster with no endpoints for blocked traffic under REGISTRY_ONLY.
pub const BLACKHOLE_CLUSTER: &str = "BlackHoleCluster";
/// Inbound traffic to a port no Service declares.
pub const INBOUND_PASSTHROUGH_CLUSTER: &str = "InboundPassthroughCluster";
/// The outbound capture listener (15001).
pub const VIRTUAL_OUTBOUND: &str = "virtualOutbound";
/// The inbound capture listener (15006).
pub const VIRTUAL_INBOUND: &str = "virtualInbound";
/// Virtual host for unmatched HTTP under ALLOW_ANY.
pub const ALLOW_ANY_VHOST: &str = "allow_any";
/// Virtual host for unmatched HTTP under REGISTRY_ONLY (502).
pub const BLOCK_ALL_VHOST: &str = "block_all";

/// `outbound|PORT|SUBSET|HOST`.
pub fn outbound_cluster(port: u32, subset: &str, host: &str) -> String {
    format!("outbound|{port}|{subset}|{host}")
}

/// `inbound|PORT||`.
pub fn inbound_cluster(port: u32) -> String {
    format!("inbound|{port}||")
}

/// `outbound_.PORT_.SUBSET_.HOST`: the mTLS SNI.
pub fn outbound_sni(port: u32, subset: &str, host: &str) -> String {
    format!("outbound_.{port}_.{subset}_.{host}")
}

/// Parses `outbound|PORT|SUBSET|HOST` into (port, subset, host).
pub fn parse_outbound_cluster(name: &str) -> Option<(u32, &str, &str)> {
    let mut parts = name.splitn(4, '|');
    if parts.next()? != "outbound" {
        return None;
    }
    let port = parts.next()?.parse().ok()?;
    Some((port, parts.next()?, parts.next()?))
}

/// Listener name for an address and port (`0.0.0.0_9080`, `10.0.0.1_5432`).
pub fn listener_name(address: &str, port: u32) -> String {
    format!("{address}_{port}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_istio() {
        let c = outbound_cluster(9080, "v1", "reviews.default.svc.cluster.local");
        assert_eq!(c, "outbound|9080|v1|reviews.default.svc.cluster.local");
        assert_eq!(parse_outbound_cluster(&c), Some((9080, "v1", "reviews.default.svc.cluster.local")));
        assert_eq!(outbound_cluster(80, "", "a.b"), "outbound|80||a.b");
        assert_eq!(inbound_cluster(9080), "inbound|9080||");
        assert_eq!(
            outbound_sni(9080, "", "r.default.svc.cluster.local"),
            "outbound_.9080_._.r.default.svc.cluster.local"
        );
        assert_eq!(parse_outbound_cluster("inbound|9080||"), None);
    }
}
