//! The nested messages of `ProxyConfig`: the legacy tracer configuration, SDS, gateway
//! topology, private-key providers, remote services, stats matching, proxy headers and
//! connection settings.

use crate::networking::destination_rule::{ClientTlsSettings, TcpKeepalive};
use crate::types::Duration;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Legacy tracer configuration: exactly one tracer, plus custom tags and sampling.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tracing {
    /// Zipkin collector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zipkin: Option<TracerAddress>,
    /// Lightstep collector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lightstep: Option<LightstepTracer>,
    /// Datadog agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datadog: Option<TracerAddress>,
    /// Stackdriver (Cloud Trace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stackdriver: Option<StackdriverTracer>,
    /// OpenCensus agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_census_agent: Option<OpenCensusAgentTracer>,
    /// Tags added to every span.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_tags: BTreeMap<String, CustomTag>,
    /// Maximum length of the request path tag (default 256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_path_tag_length: Option<u32>,
    /// Percentage of requests sampled, 0.0–100.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling: Option<f64>,
    /// TLS to the tracer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_settings: Option<ClientTlsSettings>,
    /// Add Istio's standard tags to spans (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_istio_tags: Option<bool>,
}

/// A collector at `host:port` (Zipkin, Datadog).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TracerAddress {
    /// `host:port`; `$(HOST_IP)` stands for the node IP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// Lightstep collector.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LightstepTracer {
    /// `host:port` of the satellite pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Access token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
}

/// Stackdriver tracer limits.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StackdriverTracer {
    /// Log debug information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debug: Option<bool>,
    /// Maximum attributes per span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_number_of_attributes: Option<i64>,
    /// Maximum annotations per span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_number_of_annotations: Option<i64>,
    /// Maximum message events per span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_number_of_message_events: Option<i64>,
}

/// Trace context propagation formats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum TraceContext {
    #[default]
    Unspecified,
    W3cTraceContext,
    GrpcBin,
    CloudTraceContext,
    B3,
}

/// OpenCensus agent tracer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OpenCensusAgentTracer {
    /// gRPC address of the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Propagation formats.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub context: Vec<TraceContext>,
}

/// A custom span tag: exactly one of `literal`, `environment` and `header`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomTag {
    /// A fixed value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub literal: Option<LiteralTag>,
    /// An environment variable of the proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<NamedTagSource>,
    /// A request header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<NamedTagSource>,
}

/// `Tracing.Literal`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LiteralTag {
    /// The value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `Tracing.Environment` and `Tracing.RequestHeader`: a name and a fallback value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamedTagSource {
    /// Variable or header name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Value used when it is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_value: Option<String>,
}

/// Deprecated SDS settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Sds {
    /// Enable SDS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Path of the service-account JWT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k8s_sa_jwt_path: Option<String>,
}

/// `x-forwarded-client-cert` handling.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum ForwardClientCertDetails {
    #[default]
    Undefined,
    Sanitize,
    ForwardOnly,
    AppendForward,
    SanitizeSet,
    AlwaysForwardOnly,
}

/// Network topology of a gateway.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Topology {
    /// Trusted proxies in front of the gateway (for `x-forwarded-for`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_trusted_proxies: Option<u32>,
    /// XFCC handling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_client_cert_details: Option<ForwardClientCertDetails>,
    /// Expect PROXY protocol on incoming connections (an empty message turns it on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_protocol: Option<Empty>,
}

/// An empty message (presence is the setting).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// A hardware private-key provider: exactly one of `cryptomb` and `qat`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrivateKeyProvider {
    /// Intel CryptoMB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cryptomb: Option<PollingKeyProvider>,
    /// Intel QAT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qat: Option<PollingKeyProvider>,
}

/// CryptoMB or QAT settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PollingKeyProvider {
    /// How long to wait before processing a batch (required, non-zero).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_delay: Option<Duration>,
    /// Fall back to software when the hardware is unavailable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<bool>,
}

/// A remote gRPC service (access log or metrics service).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RemoteService {
    /// `host:port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// TLS to the service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_settings: Option<ClientTlsSettings>,
    /// TCP keepalive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_keepalive: Option<TcpKeepalive>,
}

/// Extra Envoy stats to keep.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProxyStatsMatcher {
    /// Stat name prefixes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inclusion_prefixes: Vec<String>,
    /// Stat name suffixes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inclusion_suffixes: Vec<String>,
    /// Stat name regexes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inclusion_regexps: Vec<String>,
}

/// A header the proxy sends unless `disabled` (`requestId`, `attemptCount`, `envoyDebugHeaders`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DisableableHeader {
    /// Turn the header off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
}

/// A header the proxy only sends when `enabled` (`xForwardedHost`, `xForwardedPort`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnableableHeader {
    /// Turn the header on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// The `server` response header.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerHeader {
    /// Turn the header off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// Replacement value (default `istio-envoy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// Metadata exchange header mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum MetadataExchangeMode {
    #[default]
    Undefined,
    InMesh,
}

/// `ProxyHeaders.MetadataExchangeHeaders`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetadataExchangeHeaders {
    /// When the `x-envoy-peer-metadata` headers are sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<MetadataExchangeMode>,
}

/// Which client certificate details go into XFCC.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct SetCurrentClientCertDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<bool>,
}

/// Headers the proxy adds, forwards or strips.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProxyHeaders {
    /// XFCC handling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarded_client_cert: Option<ForwardClientCertDetails>,
    /// XFCC contents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_current_client_cert_details: Option<SetCurrentClientCertDetails>,
    /// `x-request-id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<DisableableHeader>,
    /// `server`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerHeader>,
    /// `x-envoy-attempt-count`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt_count: Option<DisableableHeader>,
    /// `x-envoy-*` debug headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy_debug_headers: Option<DisableableHeader>,
    /// `x-envoy-peer-metadata` headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_exchange_headers: Option<MetadataExchangeHeaders>,
    /// Keep the case of HTTP/1 header names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preserve_http1_header_case: Option<bool>,
    /// `x-forwarded-host`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x_forwarded_host: Option<EnableableHeader>,
    /// `x-forwarded-port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x_forwarded_port: Option<EnableableHeader>,
}

/// Listener/cluster profile of connection settings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum ConnectionProfile {
    #[default]
    Sidecar,
    Edge,
}

/// What to do with header names containing underscores.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum HeadersWithUnderscoresAction {
    #[default]
    HeadersWithUnderscoresUnspecified,
    HeadersWithUnderscoresAllow,
    HeadersWithUnderscoresRejectRequest,
    HeadersWithUnderscoresDropHeader,
}

/// What to do with `%2F`/`%5C` in paths.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum PathWithEscapedSlashesAction {
    #[default]
    PathWithEscapedSlashesUnspecified,
    KeepUnchanged,
    RejectRequest,
    UnescapeAndRedirect,
    UnescapeAndForward,
}

/// Connection limits, buffers and HTTP timeouts of the proxy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct ConnectionSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<ConnectionProfile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_per_connection_buffer_limit_bytes: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_per_connection_buffer_limit_bytes: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_idle_timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_max_connection_duration: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_drain_timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_request_timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_request_headers_timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_stream_idle_timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_max_stream_duration: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_max_concurrent_streams: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http2_initial_stream_window_size: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http2_initial_connection_window_size: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_headers_with_underscores_action: Option<HeadersWithUnderscoresAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_merge_slashes: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_path_with_escaped_slashes_action: Option<PathWithEscapedSlashesAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_connection_limit: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global_downstream_connection_limit: Option<i32>,
}
