//! Pod and Deployment checks: containers, their ports (names decide protocols and probes
//! refer to them) and the Deployment selector, which must select its own template.

use super::{is_iana_svc_name, selector};
use crate::validation::{Validator, rules};
use k8s_openapi::api::apps::v1::DeploymentSpec;
use k8s_openapi::api::core::v1::{Container, PodSpec, Probe};
use std::collections::BTreeSet;

/// Validates a Pod spec.
pub(super) fn pod_spec(spec: &PodSpec, v: &mut Validator<'_>) {
    if spec.containers.is_empty() {
        v.error_at("containers", "Required value: a pod needs at least one container");
    }
    let mut names = BTreeSet::new();
    v.each("containers", &spec.containers, |v, c| container(v, c, &mut names));
    v.each("initContainers", spec.init_containers.as_deref().unwrap_or_default(), |v, c| container(v, c, &mut names));
}

fn container(v: &mut Validator<'_>, c: &Container, names: &mut BTreeSet<String>) {
    if c.name.is_empty() {
        v.required("name");
    } else if !rules::is_k8s_dns1123_label(&c.name) {
        v.error_at("name", format!("Invalid value: {:?}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'", c.name));
    } else if !names.insert(c.name.clone()) {
        v.error_at("name", format!("Duplicate value: {:?}", c.name));
    }
    if c.image.as_deref().is_none_or(str::is_empty) && c.command.is_none() {
        v.required("image");
    }
    let mut port_names = BTreeSet::new();
    v.each("ports", c.ports.as_deref().unwrap_or_default(), |v, p| {
        v.field("containerPort", |v| rules::port(v, u32::try_from(p.container_port).unwrap_or(0)));
        if let Some(n) = p.name.as_deref() {
            if !is_iana_svc_name(n) {
                v.error_at("name", format!("Invalid value: {n:?}: must be no more than 15 lowercase alphanumerics or '-', with at least one letter"));
            } else if !port_names.insert(n.to_string()) {
                v.error_at("name", format!("Duplicate value: {n:?}"));
            }
        }
    });
    v.each("env", c.env.as_deref().unwrap_or_default(), |v, e| {
        if e.name.is_empty() {
            v.required("name");
        }
    });
    for (field, probe) in [
        ("readinessProbe", &c.readiness_probe),
        ("livenessProbe", &c.liveness_probe),
        ("startupProbe", &c.startup_probe),
    ] {
        v.opt(field, probe, probe_handler);
    }
}

fn probe_handler(v: &mut Validator<'_>, p: &Probe) {
    let set = [p.http_get.is_some(), p.tcp_socket.is_some(), p.exec.is_some(), p.grpc.is_some()];
    match set.iter().filter(|b| **b).count() {
        0 => v.error("Required value: must specify a handler type (httpGet, tcpSocket, exec or grpc)"),
        1 => {}
        _ => v.error("Forbidden: may not specify more than 1 handler type"),
    }
    if let Some(h) = &p.http_get {
        v.field("httpGet", |v| super::service::target_port_named(v, "port", &h.port));
    }
    if let Some(t) = &p.tcp_socket {
        v.field("tcpSocket", |v| super::service::target_port_named(v, "port", &t.port));
    }
}

/// Validates a Deployment spec: selector, replicas and its pod template.
pub(super) fn deployment_spec(spec: &DeploymentSpec, v: &mut Validator<'_>) {
    if let Some(r) = spec.replicas
        && r < 0
    {
        v.error_at("replicas", format!("Invalid value: {r}: must be greater than or equal to 0"));
    }
    let wanted = spec.selector.match_labels.clone().unwrap_or_default();
    if wanted.is_empty() && spec.selector.match_expressions.as_deref().unwrap_or_default().is_empty() {
        v.field("selector", |v| v.error("Required value: a Deployment needs a non-empty selector"));
    }
    v.field("selector", |v| v.field("matchLabels", |v| selector(v, &wanted)));
    let labels = spec.template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default();
    let selects_template = wanted.iter().all(|(k, val)| labels.get(k) == Some(val));
    if !selects_template {
        v.field("template", |v| {
            v.field("metadata", |v| v.error_at("labels", "Invalid value: `selector` does not match template `labels`"))
        });
    }
    v.field("template", |v| match &spec.template.spec {
        Some(pod) => v.field("spec", |v| pod_spec(pod, v)),
        None => v.required("spec"),
    });
}
