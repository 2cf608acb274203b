//! Istio `PeerAuthentication` (security.istio.io v1/v1beta1): the typed model of istio/api
//! `security/v1beta1/peer_authentication.proto` (which mTLS mode a workload accepts, per
//! workload, namespace or mesh, optionally per port) and the checks of Istio's
//! `ValidatePeerAuthentication` plus the CRD's schema and CEL rules, in their wording.

use crate::types::LabelSelector;
use crate::validation::{Validate, Validator};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `PeerAuthentication` spec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PeerAuthentication {
    /// Workloads the policy applies to; absent means every workload of the namespace (or of
    /// the mesh, in the root namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// mTLS settings for the selected workloads; absent inherits from the parent scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtls: Option<MutualTls>,
    /// Per-port mTLS settings, keyed by port number. The proto key is a `uint32`, but YAML
    /// writes it as a string; the keys stay strings here so a bad key (`"acd"`, `"0"`) is
    /// reported at its place by validation instead of failing the whole decode. `Some` of an
    /// empty map is kept apart from absent because the CRD rejects `portLevelMtls: {}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_level_mtls: Option<BTreeMap<String, MutualTls>>,
}

/// `PeerAuthentication.MutualTLS`: the accepted mTLS mode.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MutualTls {
    /// The mode; `UNSET` (the default) inherits the parent scope's mode.
    #[serde(default, skip_serializing_if = "MtlsMode::is_unset")]
    pub mode: MtlsMode,
}

/// `PeerAuthentication.MutualTLS.Mode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MtlsMode {
    /// Inherit from the parent scope; at the mesh level this means `PERMISSIVE`.
    #[default]
    Unset,
    /// Plaintext only: the connection is not tunneled through mTLS.
    Disable,
    /// Accept both plaintext and mTLS.
    Permissive,
    /// mTLS only: plaintext connections are rejected.
    Strict,
}

impl MtlsMode {
    /// True for `UNSET` (inherit).
    pub fn is_unset(&self) -> bool {
        *self == MtlsMode::Unset
    }
}

impl PeerAuthentication {
    /// The port-level settings whose keys are valid port numbers (1-65535). Validation
    /// reports the others, so on a validated resource this is every entry.
    pub fn port_level(&self) -> impl Iterator<Item = (u16, &MutualTls)> {
        self.port_level_mtls
            .iter()
            .flatten()
            .filter_map(|(k, mtls)| k.parse::<u16>().ok().filter(|p| *p != 0).map(|p| (p, mtls)))
    }

    /// True when the selector names at least one label (a workload-level policy).
    pub fn has_workload_selector(&self) -> bool {
        self.selector.as_ref().is_some_and(|s| !s.match_labels.is_empty())
    }
}

impl Validate for PeerAuthentication {
    fn validate(&self, v: &mut Validator<'_>) {
        if let Some(selector) = &self.selector {
            v.field("selector", |v| {
                selector.validate(v);
                if selector.match_labels.is_empty() {
                    v.warn("workload selector specified without labels");
                }
            });
        }
        if let Some(ports) = &self.port_level_mtls {
            v.field("portLevelMtls", |v| self.validate_port_level(v, ports));
        }
    }
}

impl PeerAuthentication {
    fn validate_port_level(&self, v: &mut Validator<'_>, ports: &BTreeMap<String, MutualTls>) {
        if ports.is_empty() {
            let path = v.path().to_string();
            v.error(format!(
                "{path} in body should have at least 1 properties (port level mTLS, if defined, must have at least one element)"
            ));
        }
        if !self.has_workload_selector() {
            v.error("portLevelMtls requires selector: mesh/namespace peer authentication cannot have port level mTLS");
        }
        for key in ports.keys() {
            v.key(key, |v| port_key(v, key));
        }
    }
}

/// Checks one `portLevelMtls` key: the CRD converts it with CEL `int(key)` and requires
/// 1-65535.
fn port_key(v: &mut Validator<'_>, key: &str) {
    match key.parse::<i64>() {
        Err(_) => v.error(format!(
            "type conversion error from 'string' to 'int': port key {key:?} is not a number; port must be between 1-65535"
        )),
        Ok(p) if !(1..=65535).contains(&p) => v.error(format!("port must be between 1-65535, got {p}")),
        Ok(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::validate_spec;
    use serde_json::json;

    fn check(spec: serde_json::Value) -> Vec<String> {
        let pa: PeerAuthentication = serde_json::from_value(spec).expect("decodes");
        validate_spec(&pa, "default").iter().map(ToString::to_string).collect()
    }

    #[test]
    fn port_keys_and_selector() {
        let errs = check(json!({"portLevelMtls": {"80": {"mode": "STRICT"}, "x": {}, "0": {}}}));
        assert!(errs.iter().any(|e| e.starts_with("spec.portLevelMtls: portLevelMtls requires selector")), "{errs:?}");
        assert!(errs.iter().any(|e| e.starts_with("spec.portLevelMtls[x]: type conversion error from")), "{errs:?}");
        assert!(errs.iter().any(|e| e == "spec.portLevelMtls[0]: port must be between 1-65535, got 0"), "{errs:?}");
        let ok =
            check(json!({"selector": {"matchLabels": {"app": "a"}}, "portLevelMtls": {"8080": {"mode": "DISABLE"}}}));
        assert!(ok.is_empty(), "{ok:?}");
    }

    #[test]
    fn port_level_iterator_skips_bad_keys() {
        let pa: PeerAuthentication =
            serde_json::from_value(json!({"portLevelMtls": {"80": {"mode": "STRICT"}, "x": {}, "70000": {}}}))
                .expect("decodes");
        let ports: Vec<u16> = pa.port_level().map(|(p, _)| p).collect();
        assert_eq!(ports, vec![80]);
        assert_eq!(pa.port_level().next().map(|(_, m)| m.mode), Some(MtlsMode::Strict));
    }

    #[test]
    fn unset_mode_is_not_serialized() {
        let pa: PeerAuthentication = serde_json::from_value(json!({"mtls": {}})).expect("decodes");
        assert_eq!(serde_json::to_value(&pa).ok(), Some(json!({"mtls": {}})));
    }
}
