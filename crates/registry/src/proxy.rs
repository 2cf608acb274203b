//! Proxy identity, as Istio does it: the node id `sidecar~IP~POD.NS~NS.svc.cluster.local`
//! (`router~…` for gateways) plus metadata; the control plane matches it to its workload to
//! learn labels and service account.

use std::collections::BTreeMap;
use std::fmt;

/// Sidecar or gateway (router).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NodeType {
    /// An application sidecar.
    Sidecar,
    /// A gateway (ingress/egress).
    Router,
}

/// A parsed node id.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeId {
    /// Sidecar or router.
    pub node_type: NodeType,
    /// The proxy's IP.
    pub ip: String,
    /// Pod name.
    pub pod: String,
    /// Namespace.
    pub namespace: String,
    /// DNS domain (`NS.svc.cluster.local`).
    pub domain: String,
}

impl NodeId {
    /// Parses `TYPE~IP~POD.NS~DOMAIN`.
    pub fn parse(id: &str) -> Result<NodeId, String> {
        let parts: Vec<&str> = id.split('~').collect();
        let [ty, ip, pod_ns, domain] = parts.as_slice() else {
            return Err(format!("node id {id:?} must have 4 parts TYPE~IP~POD.NAMESPACE~DOMAIN"));
        };
        let node_type = match *ty {
            "sidecar" => NodeType::Sidecar,
            "router" => NodeType::Router,
            other => return Err(format!("node id {id:?}: unknown type {other:?} (want sidecar or router)")),
        };
        let (pod, namespace) =
            pod_ns.rsplit_once('.').ok_or_else(|| format!("node id {id:?}: third part must be POD.NAMESPACE"))?;
        if ip.is_empty() || pod.is_empty() || namespace.is_empty() {
            return Err(format!("node id {id:?}: IP, pod and namespace must not be empty"));
        }
        Ok(NodeId {
            node_type,
            ip: ip.to_string(),
            pod: pod.to_string(),
            namespace: namespace.to_string(),
            domain: domain.to_string(),
        })
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ty = match self.node_type {
            NodeType::Sidecar => "sidecar",
            NodeType::Router => "router",
        };
        write!(f, "{ty}~{}~{}.{}~{}", self.ip, self.pod, self.namespace, self.domain)
    }
}

/// A proxy asking for config: its id plus what the control plane knows of its workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proxy {
    /// The parsed node id.
    pub id: NodeId,
    /// Workload labels (from the matched Pod, or node metadata `LABELS`).
    pub labels: BTreeMap<String, String>,
    /// Service account (from the Pod, or metadata `SERVICE_ACCOUNT`).
    pub service_account: String,
    /// Workload name (Deployment or pod), for metrics and logs.
    pub workload_name: String,
    /// Port the capture-free outbound HTTP proxy listens on (`--outbound-port`, 15001).
    pub outbound_port: u32,
    /// Istio's `interceptionMode`: true for iptables capture (15001/15006 with original
    /// destination), false for capture-free (`NONE`) where apps target the proxy explicitly.
    pub captured: bool,
    /// Where the local app listens, for inbound clusters (`127.0.0.1` unless the node metadata
    /// `APP_ADDRESS` says otherwise; local meshes give each app its own loopback address).
    pub app_address: String,
    /// Local replies carry an `x-strait-reason` header that explains them (node metadata
    /// `STRAIT_REASON_HEADER`, or the mesh's `defaultConfig.proxyMetadata`).
    pub reason_header: bool,
}

impl Proxy {
    /// The SPIFFE identity of this proxy's workload.
    pub fn spiffe_id(&self, trust_domain: &str) -> String {
        format!("spiffe://{trust_domain}/ns/{}/sa/{}", self.id.namespace, self.service_account)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_round_trip() {
        let id = "sidecar~127.0.0.10~productpage-v1-abc.default~default.svc.cluster.local";
        let n = NodeId::parse(id).expect("parses");
        assert_eq!(
            (n.pod.as_str(), n.namespace.as_str(), n.ip.as_str()),
            ("productpage-v1-abc", "default", "127.0.0.10")
        );
        assert_eq!(n.to_string(), id);
        assert_eq!(
            NodeId::parse("router~1.2.3.4~gw.istio-system~istio-system.svc.cluster.local").map(|n| n.node_type),
            Ok(NodeType::Router)
        );
        for bad in ["", "sidecar~1~2", "proxy~1.2.3.4~a.b~c", "sidecar~1.2.3.4~nodot~c", "sidecar~~a.b~c"] {
            assert!(NodeId::parse(bad).is_err(), "{bad}");
        }
    }
}
