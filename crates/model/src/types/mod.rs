//! Types shared by several Istio kinds: string matches, percentages, port selectors, workload
//! selectors and policy target references, with their validation.

pub mod duration;

pub use duration::Duration;

use crate::validation::{Validate, Validator, rules};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Istio `StringMatch`: exactly one of `exact`, `prefix` or `regex` (RE2, full match).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StringMatch {
    /// Exact string match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact: Option<String>,
    /// Prefix match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// RE2 regular expression; must match the whole value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
}

impl Validate for StringMatch {
    fn validate(&self, v: &mut Validator<'_>) {
        let set = [self.exact.is_some(), self.prefix.is_some(), self.regex.is_some()];
        match set.iter().filter(|b| **b).count() {
            0 => v.error("one of exact, prefix or regex must be set"),
            1 => {}
            _ => v.error("only one of exact, prefix or regex may be set"),
        }
        if self.prefix.as_deref() == Some("") {
            v.error_at("prefix", "prefix match must not be empty");
        }
        if let Some(re) = &self.regex {
            v.field("regex", |v| rules::regex(v, re));
        }
    }
}

/// Istio `Percent`: a double in [0, 100].
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Percent {
    /// The percentage.
    #[serde(default)]
    pub value: f64,
}

impl Validate for Percent {
    fn validate(&self, v: &mut Validator<'_>) {
        v.field("value", |v| rules::percentage(v, self.value));
    }
}

/// Istio `PortSelector`: a port number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PortSelector {
    /// The port number.
    #[serde(default)]
    pub number: u32,
}

impl Validate for PortSelector {
    fn validate(&self, v: &mut Validator<'_>) {
        v.field("number", |v| rules::port(v, self.number));
    }
}

/// Networking `WorkloadSelector`: `labels` (no wildcards).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadSelector {
    /// Labels the selected workloads must carry.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl Validate for WorkloadSelector {
    fn validate(&self, v: &mut Validator<'_>) {
        v.field("labels", |v| rules::selector_labels(v, &self.labels));
    }
}

/// Security `WorkloadSelector` (type.v1beta1): `matchLabels`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelector {
    /// Labels the selected workloads must carry.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
}

impl Validate for LabelSelector {
    fn validate(&self, v: &mut Validator<'_>) {
        v.field("matchLabels", |v| rules::selector_labels(v, &self.match_labels));
    }
}

/// `PolicyTargetReference` (security policies' `targetRef`/`targetRefs`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyTargetReference {
    /// API group of the target ("" for core, `gateway.networking.k8s.io`, `networking.istio.io`).
    #[serde(default)]
    pub group: String,
    /// Kind of the target (`Service`, `Gateway`, `ServiceEntry`, …).
    #[serde(default)]
    pub kind: String,
    /// Name of the target.
    #[serde(default)]
    pub name: String,
    /// Namespace of the target; must equal the policy's own namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl Validate for PolicyTargetReference {
    fn validate(&self, v: &mut Validator<'_>) {
        if self.name.is_empty() {
            v.required("name");
        }
        if self.kind.is_empty() {
            v.required("kind");
        } else if !rules::is_kind_name(&self.kind) {
            pattern_error(v, "kind", "^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$", &self.kind);
        }
        if !self.group.is_empty() && !rules::is_dns1123_subdomain(&self.group) {
            pattern_error(
                v,
                "group",
                "^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
                &self.group,
            );
        }
        if let Some(ns) = &self.namespace
            && !ns.is_empty()
            && *ns != v.ctx.namespace
        {
            let message = format!(
                "cross namespace referencing is not currently supported (target namespace {ns:?}, policy namespace {:?})",
                v.ctx.namespace
            );
            v.error_at("namespace", message);
        }
    }
}

/// The API server's OpenAPI pattern error, which names the full field path in its text
/// (`spec.targetRefs[1].kind in body should match '…'`).
fn pattern_error(v: &mut Validator<'_>, field: &str, pattern: &str, value: &str) {
    v.field(field, |v| {
        let at = v.path().to_string();
        v.error(format!("{at} in body should match '{pattern}', got {value:?}"));
    });
}
