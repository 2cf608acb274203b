//! Workloads (Pods and WorkloadEntries) and what the build reads from them: IP, labels,
//! service account, readiness, sidecar presence, container ports; and the [`Endpoint`] a
//! workload becomes once a service selects it.

use super::index::Index;
use super::{meta_name, meta_namespace};
use crate::{Endpoint, Workload};
use k8s_openapi::api::core::v1 as core;
use std::collections::BTreeMap;
use strait_model::Object;
use strait_model::networking::workload_entry::WorkloadEntry;

/// Pod label Istio's injector sets to say whether the pod's sidecar terminates mTLS.
pub(crate) const TLS_MODE_LABEL: &str = "security.istio.io/tlsMode";
/// Opt-out from sidecar injection (annotation, or the newer label of the same name).
const INJECT: &str = "sidecar.istio.io/inject";
/// Istio's locality label on workloads (`region.zone.subzone`, dots for slashes).
const LOCALITY_LABEL: &str = "istio-locality";

/// Every Pod with an IP and every WorkloadEntry, as workloads (unsorted).
pub(super) fn all(idx: &Index<'_>) -> Vec<Workload> {
    let pods = idx.pods.iter().filter_map(|p| pod_workload(p));
    let entries = idx.workload_entries.iter().map(|w| entry_workload(w));
    pods.chain(entries).collect()
}

fn pod_workload(pod: &core::Pod) -> Option<Workload> {
    Some(Workload {
        name: meta_name(&pod.metadata).to_string(),
        namespace: meta_namespace(&pod.metadata).to_string(),
        ip: pod_ip(pod)?.to_string(),
        labels: pod_labels(pod),
        service_account: pod_service_account(pod),
        ports: container_ports(pod),
    })
}

fn entry_workload(w: &Object<WorkloadEntry>) -> Workload {
    Workload {
        name: meta_name(&w.metadata).to_string(),
        namespace: meta_namespace(&w.metadata).to_string(),
        ip: w.spec.address().to_string(),
        labels: w.spec.labels.clone(),
        service_account: w.spec.service_account.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| "default".into()),
        ports: w.spec.ports.clone(),
    }
}

/// The pod's IP (`status.podIP`, else the first of `status.podIPs`); none for pods without
/// one or whose phase is terminal (their IP may already belong to another pod).
pub(crate) fn pod_ip(pod: &core::Pod) -> Option<&str> {
    let status = pod.status.as_ref()?;
    if matches!(status.phase.as_deref(), Some("Succeeded" | "Failed")) {
        return None;
    }
    let first = || status.pod_ips.as_ref()?.first().map(|p| p.ip.as_str());
    status.pod_ip.as_deref().filter(|ip| !ip.is_empty()).or_else(first)
}

/// The pod's labels.
pub(crate) fn pod_labels(pod: &core::Pod) -> BTreeMap<String, String> {
    pod.metadata.labels.clone().unwrap_or_default()
}

/// `spec.serviceAccountName` (or the deprecated `serviceAccount`), `default` when unset.
pub(crate) fn pod_service_account(pod: &core::Pod) -> String {
    let spec = pod.spec.as_ref();
    let sa = spec.and_then(|s| s.service_account_name.as_deref().or(s.service_account.as_deref()));
    sa.filter(|s| !s.is_empty()).unwrap_or("default").to_string()
}

/// Ready unless the pod's `Ready` condition says `False` (files rarely carry status, and a
/// pod written by hand is meant to serve).
pub(crate) fn pod_ready(pod: &core::Pod) -> bool {
    let conditions = pod.status.as_ref().and_then(|s| s.conditions.as_ref());
    !conditions.is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "False"))
}

/// Whether the pod's proxy terminates Istio mTLS. The injector's `security.istio.io/tlsMode`
/// label decides when present. Without it, files mode (no injector ran) assumes every pod has
/// a sidecar unless it opts out with `sidecar.istio.io/inject: "false"` (annotation or label),
/// so a hand-written mesh gets mTLS between its pods as an injected cluster would.
pub(crate) fn has_sidecar(pod: &core::Pod) -> bool {
    let labels = pod.metadata.labels.as_ref();
    if let Some(mode) = labels.and_then(|l| l.get(TLS_MODE_LABEL)) {
        return mode == "istio";
    }
    let opted_out = |m: Option<&BTreeMap<String, String>>| m.and_then(|m| m.get(INJECT)).is_some_and(|v| v == "false");
    !(opted_out(labels) || opted_out(pod.metadata.annotations.as_ref()))
}

/// Declared container ports, name → number. Unnamed ports are keyed by their number (port
/// names must contain a letter, so the keys cannot collide).
pub(crate) fn container_ports(pod: &core::Pod) -> BTreeMap<String, u32> {
    let containers = pod.spec.iter().flat_map(|s| s.containers.iter());
    let ports = containers.flat_map(|c| c.ports.iter().flatten());
    ports
        .filter_map(|p| {
            let number = u32::try_from(p.container_port).ok()?;
            Some((p.name.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| number.to_string()), number))
        })
        .collect()
}

/// True when every selector label is on the workload (an empty selector selects nothing, as
/// for Kubernetes Services and ServiceEntry workload selectors).
pub(crate) fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Istio's locality label, `region.zone.subzone` → `region/zone/subzone`.
fn locality_label(labels: &BTreeMap<String, String>) -> String {
    labels.get(LOCALITY_LABEL).map(|l| l.replace('.', "/")).unwrap_or_default()
}

/// The endpoint a pod is for a service, with its resolved port map.
pub(crate) fn pod_endpoint(pod: &core::Pod, address: &str, ports: BTreeMap<u32, u32>, ready: bool) -> Endpoint {
    let labels = pod_labels(pod);
    Endpoint {
        address: address.to_string(),
        ports,
        locality: locality_label(&labels),
        service_account: pod_service_account(pod),
        namespace: meta_namespace(&pod.metadata).to_string(),
        workload: meta_name(&pod.metadata).to_string(),
        istio_tls: has_sidecar(pod),
        ready: ready && pod_ready(pod),
        weight: 1,
        labels,
    }
}

/// The endpoint a WorkloadEntry (standalone, or inline in a ServiceEntry with `name` "") is.
/// As in Istio, its mTLS mode is the `security.istio.io/tlsMode` label, else `istio` when a
/// service account is set; the service account stays empty when unset.
pub(crate) fn entry_endpoint(ns: &str, name: &str, we: &WorkloadEntry, ports: BTreeMap<u32, u32>) -> Endpoint {
    let sa = we.service_account.clone().unwrap_or_default();
    let istio_tls = match we.labels.get(TLS_MODE_LABEL) {
        Some(mode) => mode == "istio",
        None => !sa.is_empty(),
    };
    Endpoint {
        address: we.address().to_string(),
        ports,
        labels: we.labels.clone(),
        service_account: sa,
        namespace: ns.to_string(),
        workload: name.to_string(),
        istio_tls,
        ready: true,
        weight: we.weight.filter(|w| *w > 0).unwrap_or(1),
        locality: we.locality.clone().filter(|l| !l.is_empty()).unwrap_or_else(|| locality_label(&we.labels)),
    }
}
