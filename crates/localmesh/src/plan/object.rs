//! The Pod objects the control plane's registry reads: what the kubelet and the ReplicaSet
//! controller would have written to the API server (labels, service account, container
//! ports, `status.podIP`, the `Ready` condition). The local mesh writes them as one `List` file
//! beside the user's manifests; the control plane's file watcher picks up every rewrite, so a
//! pod turning ready or not ready changes the Service's endpoints as in a cluster.

use super::PodPlan;
use serde_json::{Value, json};

/// A Pod object for `pod`, `Running` with its `Ready` condition.
pub fn pod(pod: &PodPlan, ready: bool) -> Value {
    let containers: Vec<Value> = pod
        .containers
        .iter()
        .enumerate()
        .map(|(i, c)| {
            // Ports are per container in the manifest; the plan keeps them per pod, so the
            // first container declares them all (the registry reads the pod's union anyway).
            let ports: Vec<Value> =
                if i == 0 { pod.ports.iter().map(|(name, n)| port(name.as_deref(), *n)).collect() } else { Vec::new() };
            json!({"name": c.name, "image": c.image.clone().unwrap_or_else(|| "local".into()), "ports": ports})
        })
        .collect();
    let condition = if ready { "True" } else { "False" };
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod.name,
            "namespace": pod.namespace,
            "labels": pod.labels,
            "annotations": pod.annotations,
        },
        "spec": {"serviceAccountName": pod.service_account, "containers": containers},
        "status": {
            "phase": "Running",
            "podIP": pod.ip.to_string(),
            "hostIP": pod.host_ip.to_string(),
            "conditions": [{"type": "Ready", "status": condition}],
        },
    })
}

fn port(name: Option<&str>, number: u16) -> Value {
    match name {
        Some(name) => json!({"name": name, "containerPort": number}),
        None => json!({"containerPort": number}),
    }
}

/// A `List` of Pod objects, as one JSON document.
pub fn list<'a>(pods: impl IntoIterator<Item = (&'a PodPlan, bool)>) -> String {
    let items: Vec<Value> = pods.into_iter().map(|(p, ready)| pod(p, ready)).collect();
    serde_json::to_string_pretty(&json!({"apiVersion": "v1", "kind": "List", "items": items})).unwrap_or_default()
}
