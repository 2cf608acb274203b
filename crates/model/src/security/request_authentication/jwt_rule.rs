//! `JWTRule` of a RequestAuthentication: one accepted issuer with its keys, token locations,
//! claim-to-header copies and fetch timeout, and the checks of Istio's `validateJwtRule` and
//! the CRD's schema rules (which give the `… in body should …` messages).

use super::{jwks, not_an_object};
use crate::types::Duration;
use crate::validation::{Validate, Validator, rules};
use serde::{Deserialize, Serialize};

/// Most `spaceDelimitedClaims` the CRD accepts.
const MAX_SPACE_DELIMITED_CLAIMS: usize = 64;
/// The CRD's pattern for `outputClaimToHeaders[].header`.
const CLAIM_HEADER_PATTERN: &str = "^[-_A-Za-z0-9]+$";

/// `JWTRule`: how to find, verify and forward one issuer's tokens.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JwtRule {
    /// The token's `iss`. Optional when `jwksUri` is set, but then Envoy cannot pick the
    /// rule by issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Accepted `aud` values; empty accepts any audience.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    /// URL of the issuer's JWKS (http or https). Exclusive with `jwks`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// The CRD's alternative spelling of `jwksUri`, still accepted by the API server.
    #[serde(rename = "jwks_uri", default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri_snake: Option<String>,
    /// Inline JWKS (JSON). Exclusive with `jwksUri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<String>,
    /// Headers carrying the token; default `Authorization: Bearer <token>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_headers: Vec<JwtHeader>,
    /// Query parameters carrying the token; default `access_token`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_params: Vec<String>,
    /// Header that receives the verified payload (base64url JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_payload_to_header: Option<String>,
    /// Cookies carrying the token.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_cookies: Vec<String>,
    /// Keep the token in the request forwarded upstream (it is removed by default).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forward_original_token: bool,
    /// Claims copied to request headers after verification. An element is `None` for a null
    /// YAML entry, reported by validation as the API server does.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output_claim_to_headers: Vec<Option<ClaimToHeader>>,
    /// How long to wait for the JWKS fetch (at least 1ms; Envoy's default is 5s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Claims holding space-separated strings (e.g. `scope`) to match per word.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub space_delimited_claims: Vec<String>,
    /// Whether the token must be present (newer API; absent means optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence: Option<JwtPresence>,
}

/// `JWTHeader`: a header carrying the token.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JwtHeader {
    /// The header name; required (an `Option` only so a missing one is reported as
    /// "Required value" rather than as an empty string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Prefix stripped before the token, e.g. `Bearer ` (note the space).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

/// `ClaimToHeader`: copy one claim of a verified token to a request header.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimToHeader {
    /// The header to set; required, `[-_A-Za-z0-9]+`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// The claim to copy (nested claims with `.`); required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
}

/// `JWTRule.presence`: whether a request without a token is accepted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JwtPresence {
    /// A request without a token passes authentication (the classic behavior).
    #[default]
    Optional,
    /// A request without a token is rejected.
    Required,
}

impl JwtRule {
    /// The JWKS URL, whichever spelling (`jwksUri` or `jwks_uri`) the YAML used.
    pub fn jwks_url(&self) -> Option<&str> {
        self.jwks_uri.as_deref().or(self.jwks_uri_snake.as_deref()).filter(|s| !s.is_empty())
    }
}

impl Validate for JwtRule {
    fn validate(&self, v: &mut Validator<'_>) {
        if self.issuer.as_deref().is_none_or(str::is_empty) && self.jwks_url().is_none() {
            v.error("issuer or jwksUri must be non-empty string");
        }
        v.opt("issuer", &self.issuer, |v, issuer| rules::non_empty(v, issuer));
        v.each("audiences", &self.audiences, |v, audience| rules::non_empty(v, audience));
        let locations = [self.jwks_uri.is_some(), self.jwks_uri_snake.is_some(), self.jwks.is_some()];
        if locations.iter().filter(|set| **set).count() > 1 {
            v.error("only one of jwks or jwksUri can be set");
        }
        v.opt("jwksUri", &self.jwks_uri, |v, uri| jwks::uri(v, uri));
        v.opt("jwks_uri", &self.jwks_uri_snake, |v, uri| jwks::uri(v, uri));
        v.opt("jwks", &self.jwks, |v, set| jwks::inline(v, set));
        v.each("fromHeaders", &self.from_headers, |v, header| header.validate(v));
        v.each("fromParams", &self.from_params, |v, param| rules::non_empty(v, param));
        v.each("fromCookies", &self.from_cookies, |v, cookie| rules::non_empty(v, cookie));
        v.opt("outputPayloadToHeader", &self.output_payload_to_header, |v, h| header_name(v, h));
        v.each("outputClaimToHeaders", &self.output_claim_to_headers, |v, copy| match copy {
            Some(copy) => copy.validate(v),
            None => not_an_object(v),
        });
        v.opt("timeout", &self.timeout, |v, timeout| {
            if timeout.get() < std::time::Duration::from_millis(1) {
                v.error(format!("must be a valid duration greater than 1ms, got {timeout}"));
            }
        });
        v.field("spaceDelimitedClaims", |v| {
            rules::max_items(v, self.space_delimited_claims.len(), MAX_SPACE_DELIMITED_CLAIMS)
        });
        v.each("spaceDelimitedClaims", &self.space_delimited_claims, |v, claim| rules::non_empty(v, claim));
    }
}

impl Validate for JwtHeader {
    fn validate(&self, v: &mut Validator<'_>) {
        match &self.name {
            None => v.required("name"),
            Some(name) => v.field("name", |v| {
                rules::non_empty(v, name);
                header_name(v, name);
            }),
        }
    }
}

impl Validate for ClaimToHeader {
    fn validate(&self, v: &mut Validator<'_>) {
        match &self.header {
            None => v.required("header"),
            Some(header) => v.field("header", |v| {
                rules::non_empty(v, header);
                let ok = header.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if !header.is_empty() && !ok {
                    let path = v.path().to_string();
                    v.error(format!("Invalid value: {header:?}: {path} in body should match '{CLAIM_HEADER_PATTERN}'"));
                }
            }),
        }
        match &self.claim {
            None => v.required("claim"),
            Some(claim) => v.field("claim", |v| rules::non_empty(v, claim)),
        }
    }
}

/// Envoy checks these header names only loosely (no NUL, CR or LF); anything else that is
/// not an RFC 7230 token is accepted but no client can send such a header.
fn header_name(v: &mut Validator<'_>, name: &str) {
    if name.contains(['\0', '\r', '\n']) {
        v.error(format!("header name {name:?} must not contain NUL, CR or LF"));
    } else if !name.is_empty() && !rules::is_header_name(name) {
        v.warn(format!("{name:?} is not a valid HTTP header name (RFC 7230 token), so no request carries it"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::{Severity, validate_spec};
    use serde_json::json;

    fn issues(rule: serde_json::Value) -> Vec<(Severity, String)> {
        let rule: JwtRule = serde_json::from_value(rule).expect("decodes");
        validate_spec(&rule, "default").iter().map(|i| (i.severity, i.to_string())).collect()
    }

    #[test]
    fn issuer_or_jwks_uri() {
        let got = issues(json!({"audiences": ["a"]}));
        assert_eq!(got, vec![(Severity::Error, "spec: issuer or jwksUri must be non-empty string".to_string())]);
        assert!(issues(json!({"jwks_uri": "https://example.com/keys"})).is_empty());
    }

    #[test]
    fn jwks_location_is_exclusive() {
        let got = issues(json!({"issuer": "a", "jwksUri": "https://x/k", "jwks_uri": "https://x/k"}));
        assert_eq!(got, vec![(Severity::Error, "spec: only one of jwks or jwksUri can be set".to_string())]);
    }

    #[test]
    fn claim_headers() {
        let got = issues(
            json!({"issuer": "a", "outputClaimToHeaders": [{"claim": "sub"}, null, {"header": "x y", "claim": ""}]}),
        );
        let msgs: Vec<&str> = got.iter().map(|(_, m)| m.as_str()).collect();
        assert_eq!(msgs[0], "spec.outputClaimToHeaders[0].header: Required value");
        assert!(msgs[1].contains("spec.outputClaimToHeaders[1] in body must be of type object"));
        assert!(msgs[2].contains("spec.outputClaimToHeaders[2].header in body should match"));
        assert!(msgs[3].contains("spec.outputClaimToHeaders[2].claim in body should be at least 1 chars long"));
    }

    #[test]
    fn timeout_floor() {
        let got = issues(json!({"issuer": "a", "timeout": "0s"}));
        assert_eq!(got.len(), 1);
        assert!(got[0].1.starts_with("spec.timeout: must be a valid duration greater than 1ms"));
    }
}
