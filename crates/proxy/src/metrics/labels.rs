//! Istio's standard metric labels, derived as Istio's `istio_stats` filter does: the reporter
//! by the listener's side (outbound: `source`, inbound: `destination`), this proxy's own
//! workload from its node metadata ([`Local`]), the destination service from the cluster's
//! `filter_metadata.istio.services` ([`Service`]) with the `Host` header as fallback and the
//! special clusters and routes named as such (`PassthroughCluster`, `BlackHoleCluster`), the
//! destination workload from the endpoint's `filter_metadata.istio.workload` ([`Workload`]),
//! and "unknown" (or "latest" for revisions) wherever Istio has nothing. Peer metadata
//! exchange and mTLS are not implemented yet, so inbound `source_*` labels and principals are
//! "unknown", and `connection_security_policy` is "unknown" outbound and "none" inbound, as
//! Istio reports plaintext traffic.

use std::collections::BTreeMap;

/// Istio's value for a label it cannot fill.
pub const UNKNOWN: &str = "unknown";
/// Istio's canonical revision when none is known.
const LATEST: &str = "latest";
/// Istio's default cluster id.
const DEFAULT_CLUSTER_ID: &str = "Kubernetes";
/// Clusters whose name is the `destination_service_name`.
const SPECIAL_CLUSTERS: [&str; 5] = [
    "BlackHoleCluster",
    "PassthroughCluster",
    "InboundPassthroughCluster",
    "InboundPassthroughClusterIpv4",
    "InboundPassthroughClusterIpv6",
];

/// This proxy's workload, from its node metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Local {
    /// `WORKLOAD_NAME`.
    pub workload: String,
    /// `NAMESPACE`.
    pub namespace: String,
    /// `service.istio.io/canonical-name`.
    pub canonical_service: String,
    /// `service.istio.io/canonical-revision`.
    pub canonical_revision: String,
    /// The `app` label.
    pub app: String,
    /// The `version` label.
    pub version: String,
    /// `CLUSTER_ID`.
    pub cluster: String,
}

impl Default for Local {
    fn default() -> Self {
        Local::from_node(&BTreeMap::new(), &BTreeMap::new())
    }
}

impl Local {
    /// From node metadata and workload labels. Istio's injector always sets `WORKLOAD_NAME`
    /// and the canonical labels; `strait proxy` may not, so the same fallbacks the injector
    /// uses fill them: the workload from the pod name (the Deployment of a ReplicaSet pod),
    /// the canonical name from `app.kubernetes.io/name`, `app` or the workload, the revision
    /// from `app.kubernetes.io/version`, `version` or "latest".
    pub fn from_node(metadata: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> Self {
        let meta = |k: &str| metadata.get(k).filter(|v| !v.is_empty()).cloned();
        let label = |keys: &[&str]| keys.iter().find_map(|k| labels.get(*k).filter(|v| !v.is_empty()).cloned());
        let pod = meta("POD_NAME").unwrap_or_default();
        let workload = meta("WORKLOAD_NAME").unwrap_or_else(|| workload_of(&pod, labels));
        Local {
            canonical_service: label(&["service.istio.io/canonical-name", "app.kubernetes.io/name", "app"])
                .unwrap_or_else(|| workload.clone()),
            canonical_revision: label(&["service.istio.io/canonical-revision", "app.kubernetes.io/version", "version"])
                .unwrap_or_else(|| LATEST.into()),
            app: label(&["app"]).unwrap_or_default(),
            version: label(&["version"]).unwrap_or_default(),
            namespace: meta("NAMESPACE").unwrap_or_default(),
            cluster: meta("CLUSTER_ID").unwrap_or_else(|| DEFAULT_CLUSTER_ID.into()),
            workload,
        }
    }
}

/// The Deployment name of a ReplicaSet pod (`reviews-v1-545db77b95-2mxwq` → `reviews-v1`),
/// the same heuristic the control plane uses (`strait_registry::identity::workload_name`):
/// the `service.istio.io/workload-name` label, else the name without `-HASH-SUFFIX` when the
/// `pod-template-hash` label says so or both parts look generated, else the pod name.
fn workload_of(pod: &str, labels: &BTreeMap<String, String>) -> String {
    if let Some(name) = labels.get("service.istio.io/workload-name").filter(|n| !n.is_empty()) {
        return name.clone();
    }
    let generated = |s: &str, min: usize, max: usize| {
        (min..=max).contains(&s.len()) && s.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c))
    };
    let Some((rest, suffix)) = pod.rsplit_once('-') else { return pod.to_string() };
    let Some((deployment, hash)) = rest.rsplit_once('-') else { return pod.to_string() };
    let by_label = labels.get("pod-template-hash").is_some_and(|h| h == hash);
    if !deployment.is_empty() && (by_label || (generated(suffix, 5, 5) && generated(hash, 5, 10))) {
        deployment.to_string()
    } else {
        pod.to_string()
    }
}

/// A cluster's service (`filter_metadata.istio.services[0]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// `host` (`reviews.default.svc.cluster.local`).
    pub host: String,
    /// `name`, else the host's first label.
    pub name: String,
}

/// An endpoint's workload (`filter_metadata.istio.workload`:
/// `name;namespace;canonical-name;canonical-revision;cluster`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// Workload name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Canonical service.
    pub canonical_service: String,
    /// Canonical revision.
    pub canonical_revision: String,
    /// Cluster id.
    pub cluster: String,
}

impl Workload {
    /// Parses Istio's five-part encoding (anything else is no workload, as in Istio).
    pub fn parse(s: &str) -> Option<Self> {
        let parts: Vec<&str> = s.split(';').collect();
        let [name, namespace, canonical_service, canonical_revision, cluster] = parts.as_slice() else {
            return None;
        };
        Some(Workload {
            name: (*name).into(),
            namespace: (*namespace).into(),
            canonical_service: (*canonical_service).into(),
            canonical_revision: (*canonical_revision).into(),
            cluster: (*cluster).into(),
        })
    }
}

/// What the labels of one request or connection depend on besides the local workload.
#[derive(Debug, Clone, Copy, Default)]
pub struct Peer<'a> {
    /// An inbound listener: reporter `destination`.
    pub inbound: bool,
    /// The upstream cluster.
    pub cluster: Option<&'a str>,
    /// The route name (`allow_any`, `block_all` name the special clusters).
    pub route: Option<&'a str>,
    /// The `Host` header (HTTP only): the destination service when the cluster says nothing.
    pub authority: Option<&'a str>,
    /// The cluster's service.
    pub service: Option<&'a Service>,
    /// The upstream endpoint's workload (outbound only).
    pub workload: Option<&'a Workload>,
}

/// A label set in Istio's order.
pub type Labels = Vec<(&'static str, String)>;

fn or<'a>(v: Option<&'a str>, default: &'a str) -> &'a str {
    v.filter(|s| !s.is_empty()).unwrap_or(default)
}

/// The reporter and peer labels (everything but protocol, response and security).
pub fn peer_labels(local: &Local, p: &Peer<'_>) -> Labels {
    let (host, name) = destination_service(p);
    let mut l: Labels = Vec::with_capacity(25);
    let mut push = |k: &'static str, v: &str| l.push((k, v.to_string()));
    if p.inbound {
        push("reporter", "destination");
        for k in ["source_workload", "source_canonical_service"] {
            push(k, UNKNOWN);
        }
        push("source_canonical_revision", LATEST);
        for k in ["source_workload_namespace", "source_principal", "source_app", "source_version", "source_cluster"] {
            push(k, UNKNOWN);
        }
        push("destination_workload", &local.workload);
        push("destination_workload_namespace", &local.namespace);
        push("destination_principal", UNKNOWN);
        push("destination_app", &local.app);
        push("destination_version", &local.version);
        push("destination_service", or(host, &local.canonical_service));
        push("destination_canonical_service", &local.canonical_service);
        push("destination_canonical_revision", &local.canonical_revision);
        push("destination_service_name", or(name, &local.canonical_service));
        push("destination_service_namespace", &local.namespace);
        push("destination_cluster", &local.cluster);
    } else {
        let w = p.workload;
        push("reporter", "source");
        push("source_workload", &local.workload);
        push("source_canonical_service", &local.canonical_service);
        push("source_canonical_revision", &local.canonical_revision);
        push("source_workload_namespace", &local.namespace);
        push("source_principal", UNKNOWN);
        push("source_app", &local.app);
        push("source_version", &local.version);
        push("source_cluster", &local.cluster);
        push("destination_workload", or(w.map(|w| w.name.as_str()), UNKNOWN));
        push("destination_workload_namespace", or(w.map(|w| w.namespace.as_str()), UNKNOWN));
        push("destination_principal", UNKNOWN);
        // The endpoint encoding carries neither app nor version.
        push("destination_app", UNKNOWN);
        push("destination_version", UNKNOWN);
        push("destination_service", or(host, UNKNOWN));
        push("destination_canonical_service", or(w.map(|w| w.canonical_service.as_str()), UNKNOWN));
        push("destination_canonical_revision", or(w.map(|w| w.canonical_revision.as_str()), LATEST));
        push("destination_service_name", or(name, UNKNOWN));
        push("destination_service_namespace", or(w.map(|w| w.namespace.as_str()), UNKNOWN));
        push("destination_cluster", or(w.map(|w| w.cluster.as_str()), UNKNOWN));
    }
    l
}

/// (destination_service, destination_service_name) as Istio computes them.
fn destination_service<'a>(p: &Peer<'a>) -> (Option<&'a str>, Option<&'a str>) {
    let host = p.authority;
    match (p.route, p.cluster) {
        (Some("block_all"), _) => (host, Some("BlackHoleCluster")),
        (Some("allow_any"), _) => (host, Some("PassthroughCluster")),
        (_, Some(c)) if SPECIAL_CLUSTERS.contains(&c) => (host, Some(c)),
        _ => match p.service {
            Some(s) => (Some(s.host.as_str()), Some(s.name.as_str())),
            None => (host, host),
        },
    }
}

/// The labels that end an HTTP label set.
pub fn http_tail(l: &mut Labels, inbound: bool, grpc: Option<&str>, status: u16, flags: &str) {
    l.push(("request_protocol", if grpc.is_some() { "grpc" } else { "http" }.into()));
    l.push(("response_code", status.to_string()));
    l.push(("grpc_response_status", grpc.unwrap_or_default().to_string()));
    tail(l, inbound, flags);
}

/// The labels that end a TCP label set.
pub fn tcp_tail(l: &mut Labels, inbound: bool, flags: &str) {
    l.push(("request_protocol", "tcp".into()));
    tail(l, inbound, flags);
}

fn tail(l: &mut Labels, inbound: bool, flags: &str) {
    l.push(("response_flags", or(Some(flags), "-").into()));
    l.push(("connection_security_policy", if inbound { "none" } else { UNKNOWN }.into()));
}

/// The gRPC status Istio reports: the response's `grpc-status`, else one inferred from the
/// HTTP status (Envoy's `httpToGrpcStatus`), none without a response.
pub fn grpc_status(grpc_status: Option<u32>, http_status: u16) -> Option<u32> {
    grpc_status.or(match http_status {
        0 => None,
        400 => Some(13),
        401 => Some(16),
        403 => Some(7),
        404 => Some(12),
        429 | 502..=504 => Some(14),
        _ => Some(2),
    })
}

/// A gRPC request: `content-type: application/grpc` (or `application/grpc+proto`, …), as
/// Envoy's `isGrpcRequestHeaders`.
pub fn is_grpc(content_type: Option<&http::HeaderValue>) -> bool {
    content_type.and_then(|v| v.to_str().ok()).is_some_and(|ct| {
        ct.strip_prefix("application/grpc").is_some_and(|rest| rest.is_empty() || rest.starts_with(['+', ';']))
    })
}

/// A `grpc-status` header value.
pub fn grpc_status_header(v: Option<&http::HeaderValue>) -> Option<u32> {
    v.and_then(|v| v.to_str().ok()).and_then(|s| s.trim().parse().ok())
}

#[cfg(test)]
mod tests;
