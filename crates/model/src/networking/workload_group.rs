//! Istio `WorkloadGroup` (networking.istio.io; v1, v1beta1 and v1alpha3 share one schema): the
//! template from which VM workloads register themselves as WorkloadEntries, and the readiness
//! probe the VM agent runs. Rules: Istio's `ValidateWorkloadGroup` and `validateReadinessProbe`
//! and the CRD schema (header-name pattern, port and scheme rules, non-negative counts).

use super::workload_entry::{EntryRole, WorkloadEntry};
use crate::validation::{Validate, Validator, rules};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The CRD's pattern for probe header names.
const HEADER_NAME_PATTERN: &str = "^[-_A-Za-z0-9]+$";

/// `WorkloadGroup` spec.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadGroup {
    /// Labels and annotations copied onto each registered WorkloadEntry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<WorkloadGroupMetadata>,
    /// Template of the registered WorkloadEntries (address and labels are filled in by the
    /// registering VM). Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<WorkloadEntry>,
    /// Readiness probe the VM agent runs against the workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<ReadinessProbe>,
}

/// Istio `WorkloadGroup.ObjectMeta`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadGroupMetadata {
    /// Labels of registered entries.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations of registered entries.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Istio `ReadinessProbe`: timing plus exactly one check method.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReadinessProbe {
    /// Seconds after start before the first probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_delay_seconds: Option<i32>,
    /// Seconds before a probe times out (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i32>,
    /// Seconds between probes (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_seconds: Option<i32>,
    /// Successes needed to become ready (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_threshold: Option<i32>,
    /// Failures needed to become unready (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<i32>,
    /// HTTP GET check (method oneof).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_get: Option<HttpHealthCheckConfig>,
    /// TCP connect check (method oneof).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_socket: Option<TcpHealthCheckConfig>,
    /// Command check (method oneof).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecHealthCheckConfig>,
    /// gRPC health check (method oneof); Istio's validation does not accept it yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc: Option<GrpcHealthCheckConfig>,
}

/// Istio `HTTPHealthCheckConfig`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpHealthCheckConfig {
    /// Request path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Port on the workload. Required.
    #[serde(default)]
    pub port: u32,
    /// Host to connect to (default: the workload's address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// `HTTP` (default) or `HTTPS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// Extra request headers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_headers: Vec<HttpHeader>,
}

/// Istio `HTTPHeader` (probe request header).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpHeader {
    /// Header name.
    #[serde(default)]
    pub name: String,
    /// Header value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// Istio `TCPHealthCheckConfig`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TcpHealthCheckConfig {
    /// Host to connect to (default: the workload's address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Port on the workload. Required.
    #[serde(default)]
    pub port: u32,
}

/// Istio `ExecHealthCheckConfig`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExecHealthCheckConfig {
    /// Command and arguments; exit status 0 means ready. Required.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
}

/// Istio `GrpcHealthCheckConfig`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GrpcHealthCheckConfig {
    /// Port of the gRPC health service.
    #[serde(default)]
    pub port: u32,
    /// Service name passed in the health check request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

impl Validate for WorkloadGroup {
    fn validate(&self, v: &mut Validator<'_>) {
        v.opt("metadata", &self.metadata, |v, m| {
            v.field("labels", |v| rules::tag_labels(v, &m.labels));
            for (field, map) in [("labels", &m.labels), ("annotations", &m.annotations)] {
                if map.len() > 256 {
                    v.field(field, |v| {
                        let path = v.path().to_string();
                        v.error(format!("Too many: {}: {path} in body should have at most 256 properties", map.len()));
                    });
                }
            }
        });
        match &self.template {
            None => v.required("template"),
            Some(t) => v.field("template", |v| t.validate_as(v, EntryRole::Template)),
        }
        v.opt("probe", &self.probe, |v, p| p.validate(v));
    }
}

impl Validate for ReadinessProbe {
    fn validate(&self, v: &mut Validator<'_>) {
        for (field, value) in [
            ("initialDelaySeconds", self.initial_delay_seconds),
            ("timeoutSeconds", self.timeout_seconds),
            ("periodSeconds", self.period_seconds),
            ("successThreshold", self.success_threshold),
            ("failureThreshold", self.failure_threshold),
        ] {
            v.opt(field, &value, |v, n| rules::openapi_range(v, *n, Some(0), None));
        }
        let methods = [self.http_get.is_some(), self.tcp_socket.is_some(), self.exec.is_some(), self.grpc.is_some()];
        match methods.iter().filter(|m| **m).count() {
            0 => v.error("unknown health check method <nil>: set one of httpGet, tcpSocket or exec"),
            1 => {}
            _ => v.error("only one of httpGet, tcpSocket, exec or grpc can be set"),
        }
        v.opt("httpGet", &self.http_get, |v, h| h.validate(v));
        v.opt("tcpSocket", &self.tcp_socket, |v, t| v.field("port", |v| rules::port(v, t.port)));
        v.opt("exec", &self.exec, |v, e| {
            if e.command.is_empty() {
                v.required("command");
            }
            v.each("command", &e.command, |v, c| rules::non_empty(v, c));
        });
        v.opt("grpc", &self.grpc, |v, g| {
            // Istio's validateReadinessProbe has no case for gRPC and rejects it.
            v.error("unknown health check method grpc: Istio accepts only httpGet, tcpSocket or exec probes");
            v.field("port", |v| rules::port(v, g.port));
        });
    }
}

impl Validate for HttpHealthCheckConfig {
    fn validate(&self, v: &mut Validator<'_>) {
        v.field("port", |v| rules::port(v, self.port));
        if let Some(s) = self.scheme.as_deref().filter(|s| !matches!(*s, "" | "HTTP" | "HTTPS")) {
            v.error_at("scheme", format!("Invalid value: {s:?}: scheme must be one of [HTTP, HTTPS]"));
        }
        v.each("httpHeaders", &self.http_headers, |v, h| {
            v.field("name", |v| probe_header_name(v, &h.name));
        });
    }
}

/// The CRD pattern first (its wording is what `kubectl` prints), then Istio's stricter
/// `ValidateProbeHeaderName`, which also refuses `_`.
fn probe_header_name(v: &mut Validator<'_>, name: &str) {
    let crd_ok = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
    if name.is_empty() {
        v.error("header name cannot be empty");
    } else if !name.bytes().all(crd_ok) {
        rules::openapi_pattern_mismatch(v, name, HEADER_NAME_PATTERN);
    } else if name.contains('_') {
        v.error(format!("header name {name} is not a valid header name"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::validate_spec;
    use serde_json::json;

    fn issues(doc: serde_json::Value) -> Vec<String> {
        let wg: WorkloadGroup = serde_json::from_value(doc).expect("decodes");
        validate_spec(&wg, "default").iter().map(ToString::to_string).collect()
    }

    #[test]
    fn probes() {
        assert!(issues(json!({"template": {}, "probe": {"exec": {"command": ["true"]}}})).is_empty());
        let got = issues(json!({"template": {}, "probe": {"periodSeconds": -1}}));
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].starts_with("spec.probe.periodSeconds: Invalid value: -1"), "{got:?}");
        assert!(got[1].starts_with("spec.probe: unknown health check method"), "{got:?}");
        let got = issues(json!({"template": {}, "probe": {"httpGet": {"port": 80, "httpHeaders": [{"name": "a_b"}]}}}));
        assert_eq!(got, vec!["spec.probe.httpGet.httpHeaders[0].name: header name a_b is not a valid header name"]);
    }

    #[test]
    fn template_is_required() {
        assert_eq!(issues(json!({})), vec!["spec.template: Required value"]);
    }
}
