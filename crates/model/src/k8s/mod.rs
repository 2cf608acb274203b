//! Checks on the Kubernetes kinds Strait reads (Service, Endpoints, EndpointSlice, Pod,
//! Deployment, Secret, ConfigMap), in the API server's wording. The types come from
//! k8s-openapi; these are the rules the API server would enforce that matter to a mesh
//! (ports, names, selectors), so `strait validate` catches them before `kubectl apply` does.

mod pod;
mod service;

use crate::resource::Resource;
use crate::validation::Validator;
use std::collections::BTreeMap;

/// Validates the spec (and data) of a Kubernetes resource.
pub fn validate(r: &Resource, v: &mut Validator<'_>) {
    match r {
        Resource::Service(s) => v.opt("spec", &s.spec, service::service_spec),
        Resource::Endpoints(e) => service::endpoints(e, v),
        Resource::EndpointSlice(e) => service::endpoint_slice(e, v),
        Resource::Pod(p) => match &p.spec {
            Some(spec) => v.field("spec", |v| pod::pod_spec(spec, v)),
            None => v.required("spec"),
        },
        Resource::Deployment(d) => match &d.spec {
            Some(spec) => v.field("spec", |v| pod::deployment_spec(spec, v)),
            None => v.required("spec"),
        },
        Resource::Secret(s) => {
            if let Some(data) = &s.data {
                config_keys(v, "data", data.keys());
            }
            if let Some(data) = &s.string_data {
                config_keys(v, "stringData", data.keys());
            }
        }
        Resource::ConfigMap(c) => {
            if let Some(data) = &c.data {
                config_keys(v, "data", data.keys());
            }
            if let Some(data) = &c.binary_data {
                config_keys(v, "binaryData", data.keys());
            }
        }
        _ => {}
    }
}

/// ConfigMap and Secret keys: `[-._a-zA-Z0-9]+`, at most 253 characters.
fn config_keys<'a>(v: &mut Validator<'_>, field: &str, keys: impl Iterator<Item = &'a String>) {
    v.field(field, |v| {
        for k in keys {
            let ok = !k.is_empty()
                && k.len() <= 253
                && k.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'));
            if !ok {
                v.key(k, |v| v.error(format!("Invalid value: {k:?}: a valid config key must consist of alphanumeric characters, '-', '_' or '.'")));
            }
        }
    });
}

/// True for an IANA service name as Kubernetes uses for named ports: ≤ 15 chars, lowercase
/// alphanumerics and '-', at least one letter, no leading/trailing or double '-'.
pub fn is_iana_svc_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && s.bytes().any(|c| c.is_ascii_lowercase())
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
}

/// Label selector values must be valid labels (no wildcards in Kubernetes either).
fn selector(v: &mut Validator<'_>, labels: &BTreeMap<String, String>) {
    crate::validation::rules::selector_labels(v, labels);
}
