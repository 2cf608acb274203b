//! Matching a connecting proxy to its workload, as istiod does when a node connects: find the
//! Pod or WorkloadEntry by (namespace, pod name), else by IP, and take labels and service
//! account from it unless the node's metadata says otherwise; derive the workload name (the
//! Deployment behind a ReplicaSet pod) for metrics and logs.

use crate::proxy::{NodeId, Proxy};
use crate::{Registry, Workload};
use std::collections::BTreeMap;

/// The capture-free outbound port, Istio's `proxyListenPort` default.
pub const DEFAULT_OUTBOUND_PORT: u32 = 15001;
/// Where the local app listens unless the node says otherwise.
pub const DEFAULT_APP_ADDRESS: &str = "127.0.0.1";
/// The mesh-wide switch for `x-strait-reason`: `defaultConfig.proxyMetadata` entry.
pub const REASON_HEADER_PROXY_METADATA: &str = "ISTIO_META_STRAIT_REASON_HEADER";
/// Label overriding the workload name (Istio's `service.istio.io/workload-name`).
const WORKLOAD_NAME_LABEL: &str = "service.istio.io/workload-name";
/// Label Kubernetes puts on ReplicaSet pods: the hash suffix of the ReplicaSet's name.
const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// The alphabet of Kubernetes' generated name suffixes (`rand.SafeEncodeString`).
const GENERATED_ALPHABET: &str = "bcdfghjklmnpqrstvwxz2456789";

/// What a proxy tells about itself in its node metadata (each field optional).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyMetadata {
    /// `LABELS`: replaces the matched workload's labels.
    pub labels: Option<BTreeMap<String, String>>,
    /// `SERVICE_ACCOUNT`: replaces the matched workload's service account.
    pub service_account: Option<String>,
    /// `WORKLOAD_NAME`: replaces the derived workload name.
    pub workload_name: Option<String>,
    /// The capture-free outbound port (default 15001).
    pub outbound_port: Option<u32>,
    /// `INTERCEPTION_MODE` is not `NONE`: traffic is captured by iptables.
    pub captured: bool,
    /// `APP_ADDRESS`: where the local app listens (default `127.0.0.1`).
    pub app_address: Option<String>,
    /// `STRAIT_REASON_HEADER` is `true`: local replies carry `x-strait-reason`.
    pub reason_header: bool,
}

/// The workload a node id belongs to: by (namespace, pod name), else by IP (same namespace
/// first).
pub fn workload_for<'a>(reg: &'a Registry, id: &NodeId) -> Option<&'a Workload> {
    let by_name = reg.workloads.iter().find(|w| w.namespace == id.namespace && w.name == id.pod);
    // min_by_key keeps the first of equals: the first same-namespace match, else the first.
    let by_ip = || reg.workloads.iter().filter(|w| w.ip == id.ip).min_by_key(|w| w.namespace != id.namespace);
    by_name.or_else(by_ip)
}

/// The proxy for node `id` with `metadata`, completed from its workload in `reg`.
pub fn proxy_for(reg: &Registry, id: NodeId, metadata: &ProxyMetadata) -> Proxy {
    let workload = workload_for(reg, &id);
    let labels = metadata.labels.clone().or_else(|| workload.map(|w| w.labels.clone())).unwrap_or_default();
    let service_account = metadata
        .service_account
        .clone()
        .filter(|s| !s.is_empty())
        .or_else(|| workload.map(|w| w.service_account.clone()))
        .unwrap_or_else(|| "default".into());
    let pod_name = workload.map_or(id.pod.as_str(), |w| w.name.as_str());
    let workload_name =
        metadata.workload_name.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| workload_name(pod_name, &labels));
    Proxy {
        id,
        labels,
        service_account,
        workload_name,
        outbound_port: metadata.outbound_port.unwrap_or(DEFAULT_OUTBOUND_PORT),
        captured: metadata.captured,
        // The node asks for it (`strait up` sidecars do), or the mesh's default ProxyConfig sets
        // the metadata for every proxy, the way Istio turns `proxyMetadata` ISTIO_META_* entries
        // into node metadata.
        reason_header: metadata.reason_header
            || reg.mesh.default_config.as_ref().is_some_and(|pc| {
                pc.proxy_metadata.get(REASON_HEADER_PROXY_METADATA).is_some_and(|v| v.eq_ignore_ascii_case("true"))
            }),
        app_address: metadata
            .app_address
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| DEFAULT_APP_ADDRESS.into()),
    }
}

/// Istio's workload name heuristic (`GetWorkloadMetaFromPod`) without owner references: the
/// `service.istio.io/workload-name` label; else the Deployment name of a ReplicaSet pod, found
/// by stripping `-HASH-SUFFIX` when `pod-template-hash` says so or when both look generated;
/// else the pod name.
pub fn workload_name(pod: &str, labels: &BTreeMap<String, String>) -> String {
    if let Some(name) = labels.get(WORKLOAD_NAME_LABEL).filter(|n| !n.is_empty()) {
        return name.clone();
    }
    let Some((rest, suffix)) = pod.rsplit_once('-') else { return pod.to_string() };
    let Some((deployment, hash)) = rest.rsplit_once('-') else { return pod.to_string() };
    let by_label = labels.get(POD_TEMPLATE_HASH).is_some_and(|h| h == hash);
    let looks_generated = generated(suffix, 5..=5) && generated(hash, 5..=10);
    if !deployment.is_empty() && (by_label || looks_generated) { deployment.to_string() } else { pod.to_string() }
}

fn generated(s: &str, len: std::ops::RangeInclusive<usize>) -> bool {
    len.contains(&s.len()) && s.chars().all(|c| GENERATED_ALPHABET.contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_name_table() {
        let none = BTreeMap::new();
        let hash = BTreeMap::from([(POD_TEMPLATE_HASH.to_string(), "abc12".to_string())]);
        let named = BTreeMap::from([(WORKLOAD_NAME_LABEL.to_string(), "custom".to_string())]);
        let cases = [
            ("reviews-v1-545db77b95-2mxwq", &none, "reviews-v1"),
            ("productpage-v1-7d6cfb7dfd-5x9xz", &none, "productpage-v1"),
            ("ratings-v1-abc12-xxxxx", &hash, "ratings-v1"),
            ("reviews-v1", &none, "reviews-v1"),
            ("reviews-v1-abc", &none, "reviews-v1-abc"),
            ("my-app-aaaaa-bbbbb", &none, "my-app-aaaaa-bbbbb"),
            ("web", &none, "web"),
            ("reviews-v1-545db77b95-2mxwq", &named, "custom"),
        ];
        for (pod, labels, want) in cases {
            assert_eq!(workload_name(pod, labels), want, "{pod}");
        }
    }
}
