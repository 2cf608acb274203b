//! Istio `RequestAuthentication` (security.istio.io v1/v1beta1): the typed model of istio/api
//! `security/v1beta1/request_authentication.proto` (which JWTs a workload accepts) and the
//! checks of Istio's `ValidateRequestAuthentication` plus the CRD's schema and CEL rules, in
//! their wording.
//!
//! This file owns the top-level spec (scope and the rule list); `jwt_rule` owns `JWTRule` and
//! its parts, `jwks` the checks on the JWKS location (`jwksUri`) and inline key sets (`jwks`).

mod jwks;
mod jwt_rule;

pub use jwt_rule::{ClaimToHeader, JwtHeader, JwtPresence, JwtRule};

use crate::types::{LabelSelector, PolicyTargetReference};
use crate::validation::{Validate, Validator, rules};
use serde::{Deserialize, Serialize};

/// Most `jwtRules` the CRD accepts.
const MAX_JWT_RULES: usize = 4096;

/// `RequestAuthentication` spec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequestAuthentication {
    /// Workloads the policy applies to; absent means every workload of the namespace (or of
    /// the mesh, in the root namespace). Exclusive with `targetRef(s)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// Single target (superseded by `targetRefs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<PolicyTargetReference>,
    /// Gateways, GatewayClasses, Services (waypoints) or ServiceEntries the policy binds to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_refs: Vec<PolicyTargetReference>,
    /// The JWTs accepted. An element is `None` when the YAML has a null entry (`- ` alone),
    /// which validation reports the way the API server does ("must be of type object")
    /// instead of failing the whole decode.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jwt_rules: Vec<Option<JwtRule>>,
}

impl RequestAuthentication {
    /// The JWT rules, skipping null entries (which validation rejects).
    pub fn rules(&self) -> impl Iterator<Item = &JwtRule> {
        self.jwt_rules.iter().flatten()
    }
}

impl Validate for RequestAuthentication {
    fn validate(&self, v: &mut Validator<'_>) {
        rules::policy_scope(v, self.selector.as_ref(), self.target_ref.as_ref(), &self.target_refs);
        v.field("jwtRules", |v| rules::max_items(v, self.jwt_rules.len(), MAX_JWT_RULES));
        v.each("jwtRules", &self.jwt_rules, |v, rule| match rule {
            Some(rule) => rule.validate(v),
            None => not_an_object(v),
        });
    }
}

/// The API server's error for a null list element where an object is required.
pub(crate) fn not_an_object(v: &mut Validator<'_>) {
    let path = v.path().to_string();
    v.error(format!("Invalid value: \"null\": {path} in body must be of type object: \"null\""));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::validate_spec;
    use serde_json::json;

    fn errors(spec: serde_json::Value) -> Vec<String> {
        let ra: RequestAuthentication = serde_json::from_value(spec).expect("decodes");
        validate_spec(&ra, "default").iter().map(ToString::to_string).collect()
    }

    #[test]
    fn null_rule_and_scope() {
        let got = errors(json!({"jwtRules": [null]}));
        assert_eq!(
            got,
            vec![r#"spec.jwtRules[0]: Invalid value: "null": spec.jwtRules[0] in body must be of type object: "null""#]
        );
        let got =
            errors(json!({"selector": {"matchLabels": {"a": "b"}}, "targetRefs": [{"kind": "Service", "name": "x"}]}));
        assert_eq!(got, vec!["spec: only one of targetRefs or selector can be set"]);
        let got = errors(json!({"targetRef": {"kind": "Pod", "name": "x"}}));
        assert_eq!(got.len(), 1);
        assert!(got[0].starts_with("spec.targetRef.kind: targetRef must be to one of"), "{got:?}");
    }
}
