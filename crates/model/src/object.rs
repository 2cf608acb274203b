//! The envelope of an Istio resource (`apiVersion`, `kind`, `metadata`, `spec`, `status`) and
//! the checks on metadata that every kind shares.

use crate::validation::{Issue, Validator, rules};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

/// An Istio custom resource with spec type `S`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Object<S> {
    /// `group/version`, e.g. `networking.istio.io/v1`.
    pub api_version: String,
    /// The kind name.
    pub kind: String,
    /// Standard Kubernetes metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The kind-specific spec.
    pub spec: S,
    /// Status written by controllers; kept, never validated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<serde_json::Value>,
}

/// Validates `metadata.name` and `metadata.namespace` (Kubernetes naming rules).
///
/// A bad name on an Istio kind is a warning, not an error: Istio's file-based config source
/// accepts it (Istio's own test configs use `BACKEND`), though `kubectl apply` would refuse it.
pub fn validate_metadata(meta: &ObjectMeta, namespaced: bool, istio: bool, v: &mut Validator<'_>) {
    v.field("metadata", |v| {
        match meta.name.as_deref() {
            None | Some("") if meta.generate_name.is_none() => v.required("name"),
            Some(name) if !name.is_empty() && !rules::is_dns1123_subdomain(name) && istio => v.field("name", |v| {
                v.warn(format!("Kubernetes would reject this name: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character, got {name:?}"))
            }),
            Some(name) if !name.is_empty() && !rules::is_dns1123_subdomain(name) => v.error_at(
                "name",
                format!("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character, got {name:?}"),
            ),
            _ => {}
        }
        if let Some(ns) = meta.namespace.as_deref() {
            if !namespaced {
                v.error_at("namespace", "not allowed on a cluster-scoped kind");
            } else if !rules::is_k8s_dns1123_label(ns) {
                v.error_at("namespace", format!("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', got {ns:?}"));
            }
        }
        if let Some(labels) = &meta.labels {
            v.field("labels", |v| {
                for (k, val) in labels {
                    v.key(k, |v| {
                        if !rules::is_label_key(k) {
                            v.error(format!("invalid label key {k:?}"));
                        }
                        if !rules::is_label_value(val) {
                            v.error(format!("invalid label value {val:?}: at most 63 alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric"));
                        }
                    });
                }
            });
        }
    });
}

/// Convenience used by tests: an error list rendered one per line.
pub fn render(issues: &[Issue]) -> String {
    issues.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}
