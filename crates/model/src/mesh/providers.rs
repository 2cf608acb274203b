//! `extensionProviders`: named providers that Telemetry and AuthorizationPolicy (CUSTOM) refer
//! to — external authorization (HTTP/gRPC), tracers, metrics, access loggers and SDS. Each
//! provider is a one-of, modelled as optional fields and checked for "exactly one" by
//! validation (see `validate`).

use crate::types::Duration;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A named provider; exactly one provider kind must be set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct ExtensionProvider {
    /// Unique name, referenced from Telemetry and AuthorizationPolicy.
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy_ext_authz_http: Option<ExtAuthzHttp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy_ext_authz_grpc: Option<ExtAuthzGrpc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zipkin: Option<ZipkinProvider>,
    /// Deprecated: use `opentelemetry`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lightstep: Option<LightstepProvider>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datadog: Option<TracingService>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stackdriver: Option<StackdriverProvider>,
    /// Deprecated: use `opentelemetry`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opencensus: Option<OpenCensusProvider>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skywalking: Option<SkyWalkingProvider>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opentelemetry: Option<OpenTelemetryProvider>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<super::Empty>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy_file_access_log: Option<FileAccessLogProvider>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy_http_als: Option<GrpcLogProvider>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy_tcp_als: Option<GrpcLogProvider>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy_otel_als: Option<OtelLogProvider>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sds: Option<SdsProvider>,
}

impl ExtensionProvider {
    /// The names of the provider kinds that are set (exactly one in a valid provider).
    pub fn kinds(&self) -> Vec<&'static str> {
        let set = [
            ("envoyExtAuthzHttp", self.envoy_ext_authz_http.is_some()),
            ("envoyExtAuthzGrpc", self.envoy_ext_authz_grpc.is_some()),
            ("zipkin", self.zipkin.is_some()),
            ("lightstep", self.lightstep.is_some()),
            ("datadog", self.datadog.is_some()),
            ("stackdriver", self.stackdriver.is_some()),
            ("opencensus", self.opencensus.is_some()),
            ("skywalking", self.skywalking.is_some()),
            ("opentelemetry", self.opentelemetry.is_some()),
            ("prometheus", self.prometheus.is_some()),
            ("envoyFileAccessLog", self.envoy_file_access_log.is_some()),
            ("envoyHttpAls", self.envoy_http_als.is_some()),
            ("envoyTcpAls", self.envoy_tcp_als.is_some()),
            ("envoyOtelAls", self.envoy_otel_als.is_some()),
            ("sds", self.sds.is_some()),
        ];
        set.into_iter().filter(|(_, on)| *on).map(|(name, _)| name).collect()
    }
}

/// Request body sent to an external authorizer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct ExtAuthzRequestBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_request_bytes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_partial_message: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pack_as_bytes: Option<bool>,
}

/// HTTP external authorization service.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct ExtAuthzHttp {
    /// `[namespace/]host` of the service.
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub port: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_open: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clear_route_cache: Option<bool>,
    /// HTTP status returned when the authorizer fails (default 403).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_on_error: Option<String>,
    /// Deprecated: use `includeRequestHeadersInCheck`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include_headers_in_check: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include_request_headers_in_check: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub include_additional_headers_in_check: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_request_body_in_check: Option<ExtAuthzRequestBody>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers_to_upstream_on_allow: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers_to_downstream_on_deny: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers_to_downstream_on_allow: Vec<String>,
}

/// gRPC external authorization service.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct ExtAuthzGrpc {
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub port: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_open: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clear_route_cache: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_on_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_request_body_in_check: Option<ExtAuthzRequestBody>,
}

/// Zipkin trace context propagation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum TraceContextOption {
    #[default]
    UseB3,
    UseB3WithW3cPropagation,
}

/// A header sent to a collector: `value` or `envName` (one-of).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct HttpHeader {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Environment variable of the proxy holding the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_name: Option<String>,
}

/// Zipkin tracer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct ZipkinProvider {
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub port: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tag_length: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable64bit_trace_id: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_context_option: Option<TraceContextOption>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<HttpHeader>,
}

/// Lightstep tracer (deprecated).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct LightstepProvider {
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub port: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tag_length: Option<u32>,
}

/// A tracer reached at `service:port` (Datadog).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct TracingService {
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub port: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tag_length: Option<u32>,
}

/// SkyWalking tracer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct SkyWalkingProvider {
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub port: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
}

/// Stackdriver (Google Cloud) telemetry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct StackdriverProvider {
    /// Deprecated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debug: Option<bool>,
    /// Deprecated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_number_of_attributes: Option<i64>,
    /// Deprecated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_number_of_annotations: Option<i64>,
    /// Deprecated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_number_of_message_events: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tag_length: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<StackdriverLogging>,
}

/// `StackdriverProvider.Logging`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StackdriverLogging {
    /// Extra log labels (CEL expressions).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// OpenCensus agent tracer (deprecated).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct OpenCensusProvider {
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub port: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub context: Vec<super::TraceContext>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tag_length: Option<u32>,
}

/// Access-log format: `text` or `labels` (one-of).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogFormat {
    /// A text format with Envoy command operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// A JSON object of labels (a protobuf `Struct`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<serde_json::Map<String, serde_json::Value>>,
}

/// File access logger.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct FileAccessLogProvider {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub omit_empty_values: Option<bool>,
}

/// gRPC access log service (HTTP or TCP).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct GrpcLogProvider {
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub port: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filter_state_objects_to_log: Vec<String>,
    /// HTTP only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_request_headers_to_log: Vec<String>,
    /// HTTP only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_response_headers_to_log: Vec<String>,
    /// HTTP only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_response_trailers_to_log: Vec<String>,
}

/// OpenTelemetry access logger.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct OtelLogProvider {
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub port: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
}

/// How OpenTelemetry service attributes are set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum ServiceAttributeEnrichment {
    #[default]
    IstioCanonical,
    OtelSemanticConventions,
}

/// OpenTelemetry tracer (gRPC by default, or HTTP).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct OpenTelemetryProvider {
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub port: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tag_length: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpService>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc: Option<GrpcService>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_detectors: Option<ResourceDetectors>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_attribute_enrichment: Option<ServiceAttributeEnrichment>,
    /// The only sampler of the `sampling` one-of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynatrace_sampler: Option<DynatraceSampler>,
}

/// OTLP over HTTP.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct HttpService {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<HttpHeader>,
}

/// OTLP over gRPC.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct GrpcService {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub initial_metadata: Vec<HttpHeader>,
}

/// Resource detectors of the OpenTelemetry tracer (presence turns one on).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct ResourceDetectors {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<super::Empty>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynatrace: Option<super::Empty>,
}

/// Dynatrace sampler.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct DynatraceSampler {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_spans_per_minute: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_service: Option<DynatraceApi>,
}

/// `DynatraceSampler.DynatraceApi`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct DynatraceApi {
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub port: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpService>,
}

/// An SDS server for gateway credentials.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct SdsProvider {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub port: u32,
}
