//! `Rule.when[]` of an AuthorizationPolicy: a condition on one request attribute. Owns the
//! attribute keys Istio supports (`request.headers[<h>]`, `source.ip`, …, nested
//! `request.auth.claims[a][b]`, `experimental.envoy.filters.*`), parsed into [`Attribute`],
//! and the per-attribute value checks of Istio's `ValidateAttribute`.

use super::values::{self, each_value};
use crate::validation::Validator;
use serde::{Deserialize, Serialize};

/// `Condition`: `key` must match one of `values` and none of `notValues`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Condition {
    /// The attribute, e.g. `request.headers[x-user]` or `source.ip`; required.
    #[serde(default)]
    pub key: String,
    /// Values, any of which matches (exact, `prefix*`, `*suffix`, `*`; IPs and CIDRs for IP
    /// attributes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// Values none of which may match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_values: Vec<String>,
}

/// A condition key, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attribute {
    /// `request.headers[<name>]`.
    RequestHeader(String),
    /// `source.ip`: the connection's peer address.
    SourceIp,
    /// `remote.ip`: the original client address (X-Forwarded-For, PROXY protocol).
    RemoteIp,
    /// `source.namespace`: namespace of the peer identity.
    SourceNamespace,
    /// `source.serviceAccount`: `sa` or `namespace/sa` of the peer identity.
    SourceServiceAccount,
    /// `source.principal`: the peer identity.
    SourcePrincipal,
    /// `source.trustDomain`: trust domain of the peer identity.
    SourceTrustDomain,
    /// `request.auth.principal`: the JWT's `iss/sub`.
    RequestPrincipal,
    /// `request.auth.audiences`: the JWT's `aud`.
    RequestAudiences,
    /// `request.auth.presenter`: the JWT's `azp`.
    RequestPresenter,
    /// `request.auth.claims[a][b]…`: a (possibly nested) JWT claim, as its path of names.
    RequestClaims(Vec<String>),
    /// `destination.ip`: the connection's local address.
    DestinationIp,
    /// `destination.port`: the connection's local port.
    DestinationPort,
    /// `connection.sni`: the TLS server name.
    ConnectionSni,
    /// `experimental.envoy.filters.<filter>[<key>]`: Envoy filter metadata; holds the key
    /// without the `experimental.` prefix.
    Experimental(String),
}

/// Keys listed in the "unknown attribute" message.
const SUPPORTED: &str = "request.headers[<name>], source.ip, remote.ip, source.namespace, source.serviceAccount, source.principal, source.trustDomain, request.auth.principal, request.auth.audiences, request.auth.presenter, request.auth.claims[<name>], destination.ip, destination.port, connection.sni, experimental.envoy.filters.*";

/// The bracketed part of `name[inner]`, as Istio's `validateMapKey` accepts it: something
/// before the first `[`, a closing `]` at the end, and a non-empty inside.
fn map_key(key: &str) -> Result<&str, String> {
    match key.find('[') {
        Some(open) if open > 0 && key.ends_with(']') && open + 2 < key.len() => Ok(&key[open + 1..key.len() - 1]),
        _ => Err(format!("bad key ({key}): should have format a[b]")),
    }
}

impl Attribute {
    /// Parses a condition key, with Istio's message for keys it refuses.
    pub fn parse(key: &str) -> Result<Self, String> {
        Ok(match key {
            "source.ip" => Attribute::SourceIp,
            "remote.ip" => Attribute::RemoteIp,
            "source.namespace" => Attribute::SourceNamespace,
            "source.serviceAccount" => Attribute::SourceServiceAccount,
            "source.principal" => Attribute::SourcePrincipal,
            "source.trustDomain" => Attribute::SourceTrustDomain,
            "request.auth.principal" => Attribute::RequestPrincipal,
            "request.auth.audiences" => Attribute::RequestAudiences,
            "request.auth.presenter" => Attribute::RequestPresenter,
            "destination.ip" => Attribute::DestinationIp,
            "destination.port" => Attribute::DestinationPort,
            "connection.sni" => Attribute::ConnectionSni,
            "destination.namespace" => return Err(format!("attribute {key} is replaced by the metadata.namespace")),
            "destination.name" | "destination.user" => {
                return Err(format!("deprecated attribute {key}: only supported in v1alpha1"));
            }
            _ if key.starts_with("request.headers") => Attribute::RequestHeader(map_key(key)?.to_string()),
            _ if key.starts_with("request.auth.claims") => {
                Attribute::RequestClaims(map_key(key)?.split("][").map(str::to_string).collect())
            }
            _ if key.starts_with("experimental.envoy.filters.") => {
                map_key(key)?;
                Attribute::Experimental(key.trim_start_matches("experimental.").to_string())
            }
            _ if key.starts_with("destination.labels") => {
                return Err(format!("attribute {key} is replaced by the workload selector"));
            }
            _ => return Err(format!("unknown attribute: {key}; supported keys: {SUPPORTED}")),
        })
    }

    /// True for attributes about the peer identity or the JWT, which Istio does not support
    /// in CUSTOM policies.
    fn unsupported_with_custom(&self) -> bool {
        matches!(
            self,
            Attribute::SourceNamespace
                | Attribute::SourceServiceAccount
                | Attribute::SourceTrustDomain
                | Attribute::SourcePrincipal
                | Attribute::RequestPrincipal
                | Attribute::RequestAudiences
                | Attribute::RequestPresenter
                | Attribute::RequestClaims(_)
        )
    }

    /// The value check Istio's `ValidateAttribute` applies for this attribute.
    fn check(&self) -> fn(&str, &str) -> Result<(), String> {
        match self {
            Attribute::SourceIp | Attribute::RemoteIp | Attribute::DestinationIp => values::ip_block,
            Attribute::SourceServiceAccount => values::service_account,
            Attribute::SourceTrustDomain => values::wildcard,
            Attribute::DestinationPort => values::port,
            _ => |_, _| Ok(()),
        }
    }
}

impl Condition {
    pub(super) fn validate_for(&self, v: &mut Validator<'_>, custom: bool) {
        let key = self.key.as_str();
        let attribute = match Attribute::parse(key) {
            Ok(a) => Some(a),
            Err(_) if key.is_empty() => {
                v.required("key");
                None
            }
            Err(e) => {
                v.error_at("key", e);
                None
            }
        };
        if custom && attribute.as_ref().is_some_and(Attribute::unsupported_with_custom) {
            v.error_at("key", format!("{key} is currently not supported with CUSTOM action"));
        }
        if self.values.is_empty() && self.not_values.is_empty() {
            v.error(format!("at least one of `values` or `notValues` must be set for key {key}"));
        }
        for (field, list, what) in [("values", &self.values, "value"), ("notValues", &self.not_values, "notValue")] {
            let prefix = format!("invalid `{what}` for `key` {key}: ");
            v.field(field, |v| {
                each_value(v, list, &prefix, |value| values::not_empty(key, value));
                if let Some(attribute) = &attribute {
                    let check = attribute.check();
                    each_value(v, list, &prefix, |value| if value.is_empty() { Ok(()) } else { check(key, value) });
                    attribute_warnings(v, attribute, list);
                }
            });
        }
    }
}

fn attribute_warnings(v: &mut Validator<'_>, attribute: &Attribute, list: &[String]) {
    match attribute {
        Attribute::SourceServiceAccount if list.len() > values::MAX_SERVICE_ACCOUNTS => {
            v.error(format!("may not have more than {} values", values::MAX_SERVICE_ACCOUNTS));
        }
        Attribute::SourcePrincipal | Attribute::RequestPrincipal => values::literal_wildcard_warnings(v, list),
        Attribute::DestinationPort => values::port_warnings(v, list),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keys() {
        assert_eq!(Attribute::parse("request.headers[X-header]"), Ok(Attribute::RequestHeader("X-header".into())));
        assert_eq!(
            Attribute::parse("request.auth.claims[nested1][nested2]"),
            Ok(Attribute::RequestClaims(vec!["nested1".into(), "nested2".into()]))
        );
        assert_eq!(
            Attribute::parse("experimental.envoy.filters.a.b[c]"),
            Ok(Attribute::Experimental("envoy.filters.a.b[c]".into()))
        );
        assert!(Attribute::parse("request.headers[]").unwrap_err().contains("should have format a[b]"));
        assert!(Attribute::parse("request.headers").is_err());
        assert!(Attribute::parse("experimental.envoy.filters.a").is_err());
        assert!(Attribute::parse("destination.namespace").unwrap_err().contains("replaced by the metadata.namespace"));
        assert!(Attribute::parse("destination.labels[app]").unwrap_err().contains("workload selector"));
        assert!(Attribute::parse("source.user").unwrap_err().starts_with("unknown attribute: source.user"));
    }
}
