//! `Rule.From.source` of an AuthorizationPolicy: who sent a request (peer identities,
//! namespaces, service accounts, JWT principals, IPs, trust domains, each with a `not*` twin)
//! and its checks: Istio's per-field value rules, the CRD's service-account exclusivity, the
//! fields a CUSTOM action cannot use, and warnings for values that can never match.

use super::values::{self, each_value, go_name};
use crate::validation::{Validator, rules};
use serde::{Deserialize, Serialize};

/// `Source`: a request's origin. Fields are ANDed; values within a field are ORed; `not*`
/// fields are negative matches.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Source {
    /// Peer identities from mTLS (`<trust domain>/ns/<namespace>/sa/<service account>`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub principals: Vec<String>,
    /// Negative match on `principals`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_principals: Vec<String>,
    /// JWT principals (`<iss>/<sub>`), set by RequestAuthentication.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request_principals: Vec<String>,
    /// Negative match on `requestPrincipals`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_request_principals: Vec<String>,
    /// Namespaces of the peer identity (mTLS only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Negative match on `namespaces`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_namespaces: Vec<String>,
    /// Peer service accounts, `sa` (policy namespace) or `namespace/sa`; at most 16; cannot
    /// be combined with `principals` or `namespaces`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_accounts: Vec<String>,
    /// Negative match on `serviceAccounts`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_service_accounts: Vec<String>,
    /// Peer IPs or CIDR ranges (the connection's source address).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_blocks: Vec<String>,
    /// Negative match on `ipBlocks`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_ip_blocks: Vec<String>,
    /// Original client IPs or CIDR ranges (from X-Forwarded-For or the PROXY protocol).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remote_ip_blocks: Vec<String>,
    /// Negative match on `remoteIpBlocks`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_remote_ip_blocks: Vec<String>,
    /// Trust domains of the peer identity (exact, `prefix*`, `*suffix` or `*`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trust_domains: Vec<String>,
    /// Negative match on `trustDomains`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_trust_domains: Vec<String>,
}

/// How the values of a source field are checked.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    Principal,
    RequestPrincipal,
    Namespace,
    ServiceAccount,
    IpBlock,
    TrustDomain,
}

impl Source {
    /// Every field with its YAML name and how its values are checked.
    fn fields(&self) -> [(&'static str, Check, &[String]); 14] {
        [
            ("principals", Check::Principal, &self.principals),
            ("notPrincipals", Check::Principal, &self.not_principals),
            ("requestPrincipals", Check::RequestPrincipal, &self.request_principals),
            ("notRequestPrincipals", Check::RequestPrincipal, &self.not_request_principals),
            ("namespaces", Check::Namespace, &self.namespaces),
            ("notNamespaces", Check::Namespace, &self.not_namespaces),
            ("serviceAccounts", Check::ServiceAccount, &self.service_accounts),
            ("notServiceAccounts", Check::ServiceAccount, &self.not_service_accounts),
            ("ipBlocks", Check::IpBlock, &self.ip_blocks),
            ("notIpBlocks", Check::IpBlock, &self.not_ip_blocks),
            ("remoteIpBlocks", Check::IpBlock, &self.remote_ip_blocks),
            ("notRemoteIpBlocks", Check::IpBlock, &self.not_remote_ip_blocks),
            ("trustDomains", Check::TrustDomain, &self.trust_domains),
            ("notTrustDomains", Check::TrustDomain, &self.not_trust_domains),
        ]
    }

    /// True when no field is set (Istio rejects such a source).
    pub fn is_empty(&self) -> bool {
        self.fields().iter().all(|(_, _, values)| values.is_empty())
    }

    /// True when the source uses an attribute available on plain TCP connections (Istio's
    /// list: peer identities, namespaces, service accounts and IPs, not JWT principals).
    pub fn has_tcp_attributes(&self) -> bool {
        self.fields().iter().any(|(_, check, values)| {
            !values.is_empty() && !matches!(check, Check::RequestPrincipal | Check::TrustDomain)
        })
    }

    pub(super) fn validate_for(&self, v: &mut Validator<'_>, custom: bool) {
        let identity = !(self.principals.is_empty()
            && self.not_principals.is_empty()
            && self.namespaces.is_empty()
            && self.not_namespaces.is_empty());
        if identity && !(self.service_accounts.is_empty() && self.not_service_accounts.is_empty()) {
            v.error("Cannot set serviceAccounts with namespaces or principals");
        }
        if self.is_empty() {
            v.error("`from.source` must not be empty");
        }
        for (name, check, values) in self.fields() {
            if values.is_empty() {
                continue;
            }
            v.field(name, |v| {
                // Istio does not (yet) build identity or JWT matchers for CUSTOM (ext_authz)
                // policies; only IP fields are supported there.
                if custom && check != Check::IpBlock {
                    v.error(format!("From.{} is currently not supported with CUSTOM action", go_name(name)));
                }
                check_values(v, name, check, values);
            });
        }
    }
}

fn check_values(v: &mut Validator<'_>, name: &str, check: Check, values: &[String]) {
    let key = go_name(name);
    let check_one: fn(&str, &str) -> Result<(), String> = match check {
        Check::Principal | Check::RequestPrincipal | Check::Namespace => values::not_empty,
        Check::ServiceAccount => values::service_account,
        Check::IpBlock => |key, value| values::not_empty(key, value).and_then(|()| values::ip_block(key, value)),
        Check::TrustDomain => values::trust_domain,
    };
    each_value(v, values, "", |value| check_one(&key, value));
    match check {
        Check::Principal => {
            values::literal_wildcard_warnings(v, values);
            spiffe_prefix_warnings(v, values);
        }
        Check::RequestPrincipal => values::literal_wildcard_warnings(v, values),
        Check::Namespace => namespace_warnings(v, values),
        Check::ServiceAccount if values.len() > values::MAX_SERVICE_ACCOUNTS => {
            rules::max_items(v, values.len(), values::MAX_SERVICE_ACCOUNTS);
            v.error(format!("may not have more than {} values", values::MAX_SERVICE_ACCOUNTS));
        }
        _ => {}
    }
}

/// Istio prepends `spiffe://` to every principal, so one already carrying it never matches.
fn spiffe_prefix_warnings(v: &mut Validator<'_>, values: &[String]) {
    for (i, value) in values.iter().enumerate() {
        if value.starts_with("spiffe://") {
            v.index(i, |v| {
                v.warn(format!(
                    "principals are written without the spiffe:// prefix (e.g. cluster.local/ns/default/sa/sleep); Istio adds it, so {value:?} never matches"
                ))
            });
        }
    }
}

/// Namespace values are matched (with `*` anywhere) against the namespace of the peer's
/// SPIFFE identity; a value with characters no namespace name has can never match.
fn namespace_warnings(v: &mut Validator<'_>, values: &[String]) {
    for (i, value) in values.iter().enumerate() {
        let bad = value.bytes().any(|b| !(b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'*'));
        if bad {
            v.index(i, |v| {
                v.warn(format!("namespace names are lowercase RFC 1123 labels, so {value:?} never matches"))
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::{Context, Severity};
    use serde_json::json;

    fn issues(source: serde_json::Value, custom: bool) -> Vec<(Severity, String)> {
        let source: Source = serde_json::from_value(source).expect("decodes");
        let ctx = Context::default();
        let mut v = Validator::new(&ctx, crate::FieldPath::root().field("source"));
        source.validate_for(&mut v, custom);
        v.into_issues().iter().map(|i| (i.severity, i.to_string())).collect()
    }

    #[test]
    fn custom_rejects_identity_fields_but_not_ips() {
        let got = issues(json!({"principals": ["a"], "ipBlocks": ["1.2.3.4"]}), true);
        assert_eq!(
            got,
            vec![(
                Severity::Error,
                "source.principals: From.Principals is currently not supported with CUSTOM action".to_string()
            )]
        );
    }

    #[test]
    fn warnings_for_values_that_never_match() {
        let got = issues(json!({"principals": ["spiffe://td/ns/a/sa/b", "a*b"], "namespaces": ["Foo"]}), false);
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got.iter().all(|(s, _)| *s == Severity::Warning));
        for at in [
            "source.principals[0]: principals are written without",
            "source.principals[1]: wildcard",
            "source.namespaces[0]:",
        ] {
            assert!(got.iter().any(|(_, m)| m.starts_with(at)), "{at}: {got:?}");
        }
    }

    #[test]
    fn service_account_limit() {
        let many: Vec<String> = (0..17).map(|i| format!("sa{i}")).collect();
        let got = issues(json!({"serviceAccounts": many}), false);
        assert!(got.iter().any(|(_, m)| m == "source.serviceAccounts: may not have more than 16 values"), "{got:?}");
    }
}
