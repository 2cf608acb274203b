//! `ProxyConfig` (istio/api `mesh/v1alpha1/proxy.proto`): the per-proxy settings that
//! MeshConfig's `defaultConfig` sets for every sidecar and gateway (and the
//! `proxy.istio.io/config` annotation overrides per pod). Its nested messages live in
//! `proxy_types`.

use super::proxy_types::*;
use crate::networking::workload_group::ReadinessProbe;
use crate::types::Duration;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Proxy settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProxyConfig {
    /// Directory for the generated Envoy configuration (default `./etc/istio/proxy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_path: Option<String>,
    /// Path of the proxy binary (default `/usr/local/bin/envoy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary_path: Option<String>,
    /// Service cluster name (one-of with `tracingServiceName`; default `istio-proxy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_cluster: Option<String>,
    /// How the tracing service name is derived (one-of with `serviceCluster`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing_service_name: Option<TracingServiceName>,
    /// How long connections drain on shutdown and hot restart (default 45s, whole seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain_duration: Option<Duration>,
    /// `host:port` of the discovery service (default `istiod.istio-system.svc:15012`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery_address: Option<String>,
    /// Deprecated and unused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery_refresh_delay: Option<Duration>,
    /// Deprecated: use `tracing.zipkin.address`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zipkin_address: Option<String>,
    /// `host:port` of a statsd UDP listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statsd_udp_address: Option<String>,
    /// Deprecated: use `envoyMetricsService`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy_metrics_service_address: Option<String>,
    /// Envoy admin port (default 15000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_admin_port: Option<i32>,
    /// Deprecated and unused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
    /// Authentication to the control plane (default `MUTUAL_TLS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane_auth_policy: Option<AuthenticationPolicy>,
    /// Custom bootstrap configuration file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_config_file: Option<String>,
    /// Maximum length of stat names (default 189).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stat_name_length: Option<i32>,
    /// Worker threads; 0 means one per core (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<i32>,
    /// Bootstrap template path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_bootstrap_template_path: Option<String>,
    /// Inbound interception mode (default `REDIRECT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interception_mode: Option<InterceptionMode>,
    /// Legacy tracer configuration (the Telemetry API and extension providers replace it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing: Option<Tracing>,
    /// Deprecated SDS settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sds: Option<Sds>,
    /// gRPC access log service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy_access_log_service: Option<RemoteService>,
    /// Metrics service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy_metrics_service: Option<RemoteService>,
    /// Environment variables for the agent (`ISTIO_META_*` become node metadata).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub proxy_metadata: BTreeMap<String, String>,
    /// Envoy runtime values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub runtime_values: BTreeMap<String, String>,
    /// Agent status port (health, merged metrics; default 15020).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_port: Option<i32>,
    /// Extra request attributes exposed as metric tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_stat_tags: Vec<String>,
    /// Network topology of a gateway (trusted proxies, XFCC handling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_topology: Option<Topology>,
    /// How long the proxy drains when the pod terminates (default 5s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_drain_duration: Option<Duration>,
    /// Mesh ID (defaults to the trust domain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mesh_id: Option<String>,
    /// VM readiness probe (WorkloadGroup's type).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness_probe: Option<ReadinessProbe>,
    /// Which Envoy stats to keep beyond the default set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_stats_matcher: Option<ProxyStatsMatcher>,
    /// Start the application only once the proxy is ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_application_until_proxy_starts: Option<bool>,
    /// Extra PEM roots for the control plane connection.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ca_certificates_pem: Vec<String>,
    /// Proxy image flavour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ProxyImage>,
    /// Hardware private-key provider (CryptoMB or QAT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_provider: Option<PrivateKeyProvider>,
    /// Headers the proxy adds or forwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_headers: Option<ProxyHeaders>,
    /// Access-log flush interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_flush_interval: Option<Duration>,
    /// Access-log flush buffer size in KiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_flush_min_size_kb: Option<u32>,
    /// Compress the stats endpoint's responses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats_compression: Option<bool>,
    /// Connection limits and HTTP timeouts of the proxy's listeners and clusters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_settings: Option<ConnectionSettings>,
    /// Removed from Istio (reserved); old configs carry it and it is ignored with a warning.
    #[doc(hidden)]
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "connectTimeout")]
    pub removed_connect_timeout: Option<serde_json::Value>,
    /// Removed from Istio (reserved); old configs carry it and it is ignored with a warning.
    #[doc(hidden)]
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "parentShutdownDuration")]
    pub removed_parent_shutdown_duration: Option<serde_json::Value>,
}

/// Control-plane authentication policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuthenticationPolicy {
    /// Plain text.
    #[default]
    None,
    /// Mutual TLS (Istio's default).
    MutualTls,
    /// Inherit from the parent (not valid in a ProxyConfig).
    Inherit,
}

impl AuthenticationPolicy {
    /// Istio's name of the policy.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::MutualTls => "MUTUAL_TLS",
            Self::Inherit => "INHERIT",
        }
    }
}

/// How the tracing service name is derived.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum TracingServiceName {
    #[default]
    AppLabelAndNamespace,
    CanonicalNameOnly,
    CanonicalNameAndNamespace,
}

/// Inbound interception mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InterceptionMode {
    /// iptables REDIRECT (the default).
    #[default]
    Redirect,
    /// iptables TPROXY (keeps the source IP).
    Tproxy,
    /// No interception.
    None,
}

/// The proxy image flavour (`default`, `debug`, `distroless`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProxyImage {
    /// Image type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_type: Option<String>,
}
