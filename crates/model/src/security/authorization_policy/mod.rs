//! Istio `AuthorizationPolicy` (security.istio.io v1/v1beta1): the typed model of istio/api
//! `security/v1beta1/authorization_policy.proto` and the checks of Istio's
//! `ValidateAuthorizationPolicy` plus the CRD's schema and CEL rules, in their wording.
//!
//! This file owns the top-level spec (scope, action, provider) and the rule list with the
//! checks that need a whole rule (CUSTOM restrictions, the DENY-on-TCP warning). The parts
//! live next door: `source` (`from[].source`), `operation` (`to[].operation`) and
//! `condition` (`when[]` and its attribute keys); `values` holds the value-list checks they
//! share.

mod condition;
mod operation;
mod source;
mod values;

pub use condition::{Attribute, Condition};
pub use operation::Operation;
pub use source::Source;

use crate::types::{LabelSelector, PolicyTargetReference};
use crate::validation::{Validate, Validator, rules};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Most `rules` (and most `from` entries per rule) the CRD accepts.
const MAX_RULES: usize = 512;

/// `AuthorizationPolicy` spec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthorizationPolicy {
    /// Workloads the policy applies to; absent means every workload of the namespace (or of
    /// the mesh, in the root namespace). Exclusive with `targetRef(s)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// Single target (hidden from Istio's docs; superseded by `targetRefs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<PolicyTargetReference>,
    /// Gateways, GatewayClasses, Services (waypoints) or ServiceEntries the policy binds to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_refs: Vec<PolicyTargetReference>,
    /// Rules matched against a request; a request matching any rule triggers the action.
    /// For ALLOW, no rules means "match nothing" (deny all) while `rules: [{}]` allows all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Rule>,
    /// What to do with a matching request (default `ALLOW`).
    #[serde(default)]
    pub action: Action,
    /// The extension provider that decides a CUSTOM action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ExtensionProvider>,
}

/// `AuthorizationPolicy.Action`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Action {
    /// Allow a request only if it matches the rules (the default).
    #[default]
    Allow,
    /// Deny a request if it matches any of the rules.
    Deny,
    /// Audit a request if it matches any of the rules (no effect on the request).
    Audit,
    /// Delegate the decision to the extension provider named in `provider`.
    Custom,
}

impl Action {
    /// The name as written in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "ALLOW",
            Action::Deny => "DENY",
            Action::Audit => "AUDIT",
            Action::Custom => "CUSTOM",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `AuthorizationPolicy.ExtensionProvider`: a name from meshConfig `extensionProviders`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExtensionProvider {
    /// The extension provider's name.
    #[serde(default)]
    pub name: String,
}

/// `Rule`: matches a request when all of `from`, `to` and `when` match (each list is an OR of
/// its entries; an empty list matches everything).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    /// Who sent the request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from: Vec<RuleFrom>,
    /// What the request asks for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<RuleTo>,
    /// Extra conditions on request attributes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub when: Vec<Condition>,
}

/// `Rule.From`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleFrom {
    /// The request's source; required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
}

/// `Rule.To`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleTo {
    /// The request's operation; required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<Operation>,
}

impl Validate for AuthorizationPolicy {
    fn validate(&self, v: &mut Validator<'_>) {
        rules::policy_scope(v, self.selector.as_ref(), self.target_ref.as_ref(), &self.target_refs);
        self.validate_action(v);
        v.field("rules", |v| rules::max_items(v, self.rules.len(), MAX_RULES));
        let action = self.action;
        v.each("rules", &self.rules, |v, rule| rule.validate_for(v, action));
    }
}

/// Istio's wording for an action that can never trigger because the policy has no rules.
fn never_triggered(action: Action) -> String {
    format!(
        "{action} action without `rules` is meaningless as it will never be triggered, add an empty rule `{{}}` if you want it be triggered for every request"
    )
}

impl AuthorizationPolicy {
    fn validate_action(&self, v: &mut Validator<'_>) {
        match self.action {
            Action::Custom => {
                if self.rules.is_empty() {
                    v.error_at("rules", never_triggered(Action::Custom));
                }
                match &self.provider {
                    None => v.error_at("provider", "`provider.name` must not be empty"),
                    Some(p) if p.name.is_empty() => {
                        v.field("provider", |v| v.error_at("name", "`provider.name` must not be empty"))
                    }
                    Some(_) => {}
                }
            }
            Action::Deny if self.rules.is_empty() => v.error_at("rules", never_triggered(Action::Deny)),
            // Istio accepts this, but like DENY it can never trigger.
            Action::Audit if self.rules.is_empty() => v.field("rules", |v| v.warn(never_triggered(Action::Audit))),
            _ => {}
        }
        if self.provider.is_some() && self.action != Action::Custom {
            v.error_at("provider", format!("`provider` must not be with non CUSTOM action, found {}", self.action));
        }
    }
}

impl Rule {
    fn validate_for(&self, v: &mut Validator<'_>, action: Action) {
        let custom = action == Action::Custom;
        v.field("from", |v| rules::max_items(v, self.from.len(), MAX_RULES));
        v.each("from", &self.from, |v, from| match &from.source {
            None => v.error_at("source", "`from.source` must not be nil"),
            Some(source) => v.field("source", |v| source.validate_for(v, custom)),
        });
        v.each("to", &self.to, |v, to| match &to.operation {
            None => v.error_at("operation", "`to.operation` must not be nil"),
            Some(operation) => v.field("operation", |v| operation.validate(v)),
        });
        v.each("when", &self.when, |v, condition| condition.validate_for(v, custom));
        if action == Action::Deny && self.only_http_attributes() {
            v.warn(
                "configured AuthorizationPolicy will deny all traffic to TCP ports under its scope due to the use of only HTTP attributes in a DENY rule; it is recommended to explicitly specify the port",
            );
        }
    }

    /// Istio's test for a DENY rule that, having only HTTP attributes, turns into "deny
    /// everything" on TCP ports: sources without TCP attributes and no operations, or
    /// operations without ports.
    fn only_http_attributes(&self) -> bool {
        let sources: Vec<&Source> = self.from.iter().filter_map(|f| f.source.as_ref()).collect();
        let operations: Vec<&Operation> = self.to.iter().filter_map(|t| t.operation.as_ref()).collect();
        let tcp_in_from = sources.iter().any(|s| s.has_tcp_attributes());
        let tcp_in_to = operations.iter().any(|o| o.has_tcp_attributes());
        (!sources.is_empty() && operations.is_empty() && !tcp_in_from) || (!operations.is_empty() && !tcp_in_to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::{Severity, validate_spec};
    use serde_json::json;

    fn issues(spec: serde_json::Value) -> Vec<(Severity, String)> {
        let ap: AuthorizationPolicy = serde_json::from_value(spec).expect("decodes");
        validate_spec(&ap, "foo").iter().map(|i| (i.severity, i.to_string())).collect()
    }

    #[test]
    fn custom_needs_provider_and_rules() {
        let got = issues(json!({"action": "CUSTOM"}));
        assert!(got.iter().any(|(_, m)| m.starts_with("spec.rules: CUSTOM action without `rules`")), "{got:?}");
        let got = issues(json!({"action": "CUSTOM", "rules": [{}]}));
        assert_eq!(got, vec![(Severity::Error, "spec.provider: `provider.name` must not be empty".to_string())]);
        let got = issues(json!({"action": "DENY", "provider": {"name": "x"}, "rules": [{}]}));
        assert!(got.iter().any(|(_, m)| m.contains("`provider` must not be with non CUSTOM action, found DENY")));
    }

    #[test]
    fn deny_with_only_http_attributes_warns() {
        let got = issues(json!({"action": "DENY", "rules": [{"to": [{"operation": {"paths": ["/a"]}}]}]}));
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].0, Severity::Warning);
        assert!(got[0].1.starts_with("spec.rules[0]: configured AuthorizationPolicy will deny all traffic"));
        let got = issues(json!({"action": "DENY", "rules": [{"to": [{"operation": {"ports": ["80"]}}]}]}));
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn audit_without_rules_warns() {
        let got = issues(json!({"action": "AUDIT"}));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, Severity::Warning);
    }
}
