//! Header manipulation (`headers.request` / `headers.response` with `set`, `add`, `remove`),
//! used on HTTP routes and on each weighted destination, and Istio's checks of header names
//! (no pseudo-headers except `:authority`/`host` when setting request headers; never removing
//! `host`) and values (no control characters; Envoy's `%VARIABLE%` syntax well formed).

use crate::validation::{Validate, Validator, rules};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Istio `Headers`: changes to request and response headers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Headers {
    /// Changes to the request before forwarding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<HeaderOperations>,
    /// Changes to the response before returning it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<HeaderOperations>,
}

/// Istio `Headers.HeaderOperations`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HeaderOperations {
    /// Overwrite these headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<String, String>,
    /// Append these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub add: BTreeMap<String, String>,
    /// Remove these headers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
}

impl Validate for Headers {
    fn validate(&self, v: &mut Validator<'_>) {
        v.opt("request", &self.request, |v, ops| ops.validate_ops(v, true));
        v.opt("response", &self.response, |v, ops| ops.validate_ops(v, false));
    }
}

impl HeaderOperations {
    /// Request `set`/`add` may rewrite the authority (`:authority` or `host`); everything else
    /// (request `remove`, all response operations) may not touch pseudo-headers or `host`.
    fn validate_ops(&self, v: &mut Validator<'_>, request: bool) {
        for (field, map) in [("set", &self.set), ("add", &self.add)] {
            v.field(field, |v| {
                for (name, value) in map {
                    v.key(name, |v| {
                        if request {
                            settable_request_header(v, name)
                        } else {
                            operation_header(v, name)
                        }
                        header_value(v, value);
                    });
                }
            });
        }
        v.each("remove", &self.remove, |v, name| operation_header(v, name));
    }
}

/// True for a name Envoy manages itself (pseudo-headers and `host`).
fn is_internal_header(name: &str) -> bool {
    name.starts_with(':') || name.eq_ignore_ascii_case("host")
}

/// True for the names that carry the authority (`:authority`, `host`).
pub(super) fn is_authority_header(name: &str) -> bool {
    name.eq_ignore_ascii_case(":authority") || name.eq_ignore_ascii_case("host")
}

/// Envoy rejects header names that are not RFC 7230 tokens; Istio leaves that to Envoy, we
/// report it here so the route is not refused later.
fn token_name(v: &mut Validator<'_>, name: &str) {
    if !name.starts_with(':') && !rules::is_header_name(name) {
        v.error(format!("header name {name} is not a valid header name"));
    }
}

/// Istio `ValidateHTTPHeaderWithAuthorityOperationName` (request `set`/`add`).
fn settable_request_header(v: &mut Validator<'_>, name: &str) {
    if name.is_empty() {
        v.error("header name cannot be empty");
    } else if is_internal_header(name) && !is_authority_header(name) {
        v.error(format!("invalid header {name:?}: header cannot have \":\" prefix"));
    } else {
        token_name(v, name);
    }
}

/// Istio `ValidateHTTPHeaderOperationName` (request `remove`, all response operations).
fn operation_header(v: &mut Validator<'_>, name: &str) {
    if name.is_empty() {
        v.error("header name cannot be empty");
    } else if name.eq_ignore_ascii_case("host") {
        v.error(format!("invalid header {name:?}: cannot set Host header"));
    } else if is_internal_header(name) {
        v.error(format!("invalid header {name:?}: header cannot have \":\" prefix"));
    } else {
        token_name(v, name);
    }
}

/// Istio `ValidateHTTPHeaderValue`: no control characters (tab allowed), and `%` either
/// doubled or opening an Envoy `%VARIABLE%` / `%VARIABLE(args)%` expression.
pub(super) fn header_value(v: &mut Validator<'_>, value: &str) {
    if value.chars().any(|c| matches!(c, '\u{0}'..='\u{8}' | '\u{a}'..='\u{1f}' | '\u{7f}')) {
        v.error(format!("header value configuration {value} is invalid"));
    } else if let Err(e) = envoy_header_format(value) {
        v.error(format!("header value configuration: {e}"));
    }
}

/// Where the scanner of [`envoy_header_format`] is inside a header value.
#[derive(Clone, Copy, PartialEq)]
enum Scan {
    Literal,
    VariableName,
    ExpectArray,
    ExpectString,
    InString,
    ExpectDelimiterOrEnd,
    ExpectArgsEnd,
    ExpectVariableEnd,
}

/// The checks of Envoy's header formatter parser (`header_parser.cc`), as Istio ports them:
/// balanced `%…%`, and in `%VAR([…])%` a JSON-like list of strings.
fn envoy_header_format(value: &str) -> Result<(), String> {
    let bytes = value.as_bytes();
    let mut state = Scan::Literal;
    let mut pos = 0;
    while pos < bytes.len() {
        let ch = bytes[pos];
        let has_next = pos + 1 < bytes.len();
        state = match state {
            Scan::Literal if ch != b'%' => Scan::Literal,
            Scan::Literal if !has_next => return Err("invalid header configuration. Un-escaped %".into()),
            Scan::Literal if bytes[pos + 1] == b'%' => {
                pos += 1;
                Scan::Literal
            }
            Scan::Literal => Scan::VariableName,
            Scan::VariableName if ch == b'%' => Scan::Literal,
            Scan::VariableName if ch == b'(' => Scan::ExpectArray,
            Scan::VariableName => Scan::VariableName,
            Scan::ExpectArray if ch == b'[' => Scan::ExpectString,
            Scan::ExpectArray if ch != b' ' => Scan::InString,
            Scan::ExpectArray => Scan::ExpectArray,
            Scan::ExpectDelimiterOrEnd if ch == b',' => Scan::ExpectString,
            Scan::ExpectDelimiterOrEnd if ch == b']' => Scan::ExpectArgsEnd,
            Scan::ExpectDelimiterOrEnd if ch != b' ' => {
                return Err("invalid header configuration. Expecting ',', ']', or whitespace".into());
            }
            Scan::ExpectDelimiterOrEnd => Scan::ExpectDelimiterOrEnd,
            Scan::ExpectString if ch == b'"' => Scan::InString,
            Scan::ExpectString if ch != b' ' => return Err("invalid header configuration. Expecting '\"'".into()),
            Scan::ExpectString => Scan::ExpectString,
            Scan::InString if ch == b'\\' && !has_next => {
                return Err("invalid header configuration. Un-terminated backslash in JSON string".into());
            }
            Scan::InString if ch == b'\\' => {
                pos += 1;
                Scan::InString
            }
            Scan::InString if ch == b')' => Scan::ExpectVariableEnd,
            Scan::InString if ch == b'"' => Scan::ExpectDelimiterOrEnd,
            Scan::InString => Scan::InString,
            Scan::ExpectArgsEnd if ch == b')' => Scan::ExpectVariableEnd,
            Scan::ExpectArgsEnd if ch != b' ' => {
                return Err("invalid header configuration. Expecting ')' or whitespace after ']'".into());
            }
            Scan::ExpectArgsEnd => Scan::ExpectArgsEnd,
            Scan::ExpectVariableEnd if ch == b'%' => Scan::Literal,
            Scan::ExpectVariableEnd if ch != b' ' => {
                return Err("invalid header configuration. Expecting '%' or whitespace after ')'".into());
            }
            Scan::ExpectVariableEnd => Scan::ExpectVariableEnd,
        };
        pos += 1;
    }
    if state != Scan::Literal {
        return Err(format!("invalid header configuration. Un-terminated variable expression '{value}'"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::envoy_header_format as f;

    #[test]
    fn envoy_variables() {
        for ok in
            ["", "foo", "%HOSTNAME%", "100%%", "prefix %HOSTNAME% suffix", "%REQ(x-foo)%", "%START_TIME([\"%s\"])%"]
        {
            assert_eq!(f(ok), Ok(()), "{ok}");
        }
        for bad in ["abc%123", "%START_TIME%%", "abcd%oijasodifj", "%", "%VAR([x])%"] {
            assert!(f(bad).is_err(), "{bad}");
        }
    }
}
