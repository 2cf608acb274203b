//! `Rule.To.operation` of an AuthorizationPolicy: what a request asks for (hosts, ports,
//! methods, paths, each with a `not*` twin) and its checks: Istio's port and path-template
//! rules, plus warnings for methods and paths that can never match a request.

use super::values::{self, each_value, go_name};
use crate::validation::Validator;
use serde::{Deserialize, Serialize};

/// Path-template operator matching exactly one path segment.
const MATCH_ONE: &str = "{*}";
/// Path-template operator matching any number of segments; must be the last operator.
const MATCH_ANY: &str = "{**}";

/// `Operation`: what a request asks for. Fields are ANDed; values within a field are ORed;
/// `not*` fields are negative matches. Only `ports` work on plain TCP.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Operation {
    /// Hosts from the HTTP Host/:authority header (case-insensitive; `*` prefix/suffix).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// Negative match on `hosts`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_hosts: Vec<String>,
    /// Destination ports, as strings (`"8080"`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
    /// Negative match on `ports`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_ports: Vec<String>,
    /// HTTP methods (`GET`; for gRPC always `POST`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// Negative match on `methods`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_methods: Vec<String>,
    /// Request paths (normalized per meshConfig), with `*` prefix/suffix or the `{*}`/`{**}`
    /// path templates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// Negative match on `paths`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_paths: Vec<String>,
}

impl Operation {
    fn fields(&self) -> [(&'static str, &[String]); 8] {
        [
            ("hosts", &self.hosts),
            ("notHosts", &self.not_hosts),
            ("ports", &self.ports),
            ("notPorts", &self.not_ports),
            ("methods", &self.methods),
            ("notMethods", &self.not_methods),
            ("paths", &self.paths),
            ("notPaths", &self.not_paths),
        ]
    }

    /// True when no field is set (Istio rejects such an operation).
    pub fn is_empty(&self) -> bool {
        self.fields().iter().all(|(_, values)| values.is_empty())
    }

    /// True when the operation names ports, the only attribute available on plain TCP.
    pub fn has_tcp_attributes(&self) -> bool {
        !self.ports.is_empty() || !self.not_ports.is_empty()
    }

    pub(super) fn validate(&self, v: &mut Validator<'_>) {
        if self.is_empty() {
            v.error("`to.operation` must not be empty");
        }
        for (name, list) in self.fields() {
            if list.is_empty() {
                continue;
            }
            let key = go_name(name);
            v.field(name, |v| {
                each_value(v, list, "", |value| values::not_empty(&key, value));
                match name {
                    "ports" | "notPorts" => {
                        each_value(
                            v,
                            list,
                            "",
                            |value| if value.is_empty() { Ok(()) } else { values::port(&key, value) },
                        );
                        values::port_warnings(v, list);
                    }
                    "methods" | "notMethods" => method_warnings(v, list),
                    "paths" | "notPaths" => {
                        each_value(v, list, "", |value| path_template(&key, value));
                        path_warnings(v, list);
                    }
                    _ => {}
                }
            });
        }
    }
}

/// True for a path segment Envoy accepts as a literal next to path templates (RFC 3986
/// pchar).
fn is_valid_literal(segment: &str) -> bool {
    !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%!$&'()+,;:@=".contains(&b))
}

/// Istio `CheckValidPathTemplate` for one path: `{*}` and `{**}` only as whole segments,
/// `{**}` last, and plain pchar literals in the other segments of a templated path.
fn path_template(key: &str, path: &str) -> Result<(), String> {
    let templated = path.contains(MATCH_ONE) || path.contains(MATCH_ANY);
    let trimmed = path.trim_matches('/');
    let mut seen_any = false;
    for segment in trimmed.split('/') {
        if segment == MATCH_ONE || segment == MATCH_ANY {
            if seen_any {
                return Err(format!(
                    "invalid or unsupported path {trimmed}, found in {key}. {{**}} is not the last operator"
                ));
            }
            seen_any |= segment == MATCH_ANY;
            continue;
        }
        if segment.contains(['{', '}']) {
            return Err(format!(
                "invalid or unsupported path {trimmed}, found in {key}. Contains '{{' or '}}' beyond a supported path template"
            ));
        }
        if templated && !is_valid_literal(segment) {
            return Err(format!(
                "invalid or unsupported path {trimmed}, found in {key}. Contains segment {segment} with invalid string literal"
            ));
        }
    }
    Ok(())
}

/// Request paths always start with `/`; any other value (except a `*` wildcard) is compared
/// literally and never matches.
fn path_warnings(v: &mut Validator<'_>, list: &[String]) {
    for (i, path) in list.iter().enumerate() {
        if !path.is_empty() && !path.starts_with('/') && !path.starts_with('*') {
            v.index(i, |v| v.warn(format!("paths must start with '/' or '*'; {path:?} never matches a request path")));
        }
    }
}

/// HTTP methods are case-sensitive tokens and every standard one is uppercase.
fn method_warnings(v: &mut Validator<'_>, list: &[String]) {
    for (i, method) in list.iter().enumerate() {
        if method.bytes().any(|b| b.is_ascii_lowercase()) {
            v.index(i, |v| {
                v.warn(format!(
                    "HTTP methods are case-sensitive and uppercase (GET, POST, …); {method:?} only matches a request with exactly that method"
                ))
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_templates() {
        for ok in ["/exact", "/prefix/*", "*/suffix", "*", "/path/template/{*}", "/{**}/path/template", "/a/{*}/b/{**}"]
        {
            assert_eq!(path_template("Paths", ok), Ok(()), "{ok}");
        }
        let err = |p: &str| path_template("Paths", p).unwrap_err();
        assert!(err("/{**}/foo/{*}").contains("{**} is not the last operator"));
        assert!(err("/foo/{*}.txt").contains("Contains '{' or '}' beyond a supported path template"));
        assert!(err("/*/baz/{*}").contains("Contains segment * with invalid string literal"));
        assert!(err("/foo//{*}").contains("with invalid string literal"));
    }
}
