//! MeshConfig: mesh-wide settings, as in the `mesh` key of the `istio` ConfigMap (istio/api
//! `mesh/v1alpha1/config.proto`). Every field of the proto is modelled so real mesh configs
//! decode with unknown fields still rejected; every scalar is an `Option` because a mesh config
//! is an overlay on Istio's defaults ([`MeshConfig::defaults`], [`MeshConfig::with_defaults`]).
//!
//! This file owns the top-level struct and its enums. The parts live next door: `types` (the
//! smaller nested messages), `proxy` and `proxy_types` (`defaultConfig`, the ProxyConfig),
//! `providers` (`extensionProviders`), `validate`, `proxy_validate` and `provider_validate`
//! (Istio's `ValidateMeshConfig`, `ValidateMeshConfigProxyConfig` and extension-provider
//! checks) and `defaults` (Istio's defaults and the effective values).

mod defaults;
mod provider_validate;
mod providers;
mod proxy;
mod proxy_types;
mod proxy_validate;
mod types;
mod validate;

pub use providers::*;
pub use proxy::*;
pub use proxy_types::*;
pub use types::*;

use crate::networking::destination_rule::{LocalityLoadBalancerSetting, TcpKeepalive, ZoneAwareLoadBalancerSetting};
use crate::networking::virtual_service::HttpRetry;
use crate::types::Duration;
use serde::{Deserialize, Serialize};

/// Mesh-wide configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MeshConfig {
    /// Port the proxy listens on for all captured outbound traffic (default 15001).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_listen_port: Option<i32>,
    /// Port the proxy listens on for all captured inbound traffic (default 15006).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_inbound_listen_port: Option<i32>,
    /// Port for HTTP PROXY (CONNECT) requests, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_http_port: Option<i32>,
    /// Upstream connect timeout (default 10s, at least 1ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<Duration>,
    /// Idle timeout of HBONE connection pools to ztunnel (default 1h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hbone_idle_timeout: Option<Duration>,
    /// How long protocol sniffing waits for the client's first bytes (0 = no timeout, the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_detection_timeout: Option<Duration>,
    /// TCP keepalive for upstream connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_keepalive: Option<TcpKeepalive>,
    /// `kubernetes.io/ingress.class` handled by the Istio ingress controller (default `istio`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_class: Option<String>,
    /// Service of the ingress controller (default `istio-ingressgateway`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_service: Option<String>,
    /// Which Ingress resources the controller acts on (default `STRICT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_controller_mode: Option<IngressControllerMode>,
    /// `istio: <selector>` label of the gateway serving Ingress resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_selector: Option<String>,
    /// Generate trace spans and request IDs (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_tracing: Option<bool>,
    /// Access log file (`/dev/stdout`); empty disables access logging (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_log_file: Option<String>,
    /// Access log format; empty uses the proxy's default format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_log_format: Option<String>,
    /// Access log encoding (default `TEXT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_log_encoding: Option<AccessLogEncoding>,
    /// Enable Envoy's gRPC access log service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_envoy_access_log_service: Option<bool>,
    /// Disable listener access logs (emitted for `NoRoute`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_envoy_listener_log: Option<bool>,
    /// Default proxy settings; merged field by field over Istio's defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_config: Option<ProxyConfig>,
    /// Handling of traffic to unknown destinations (default `ALLOW_ANY`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_traffic_policy: Option<OutboundTrafficPolicy>,
    /// Where inbound traffic is sent (default `PASSTHROUGH` to the original destination).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbound_traffic_policy: Option<InboundTrafficPolicy>,
    /// Config sources (MCP servers) for istiod.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config_sources: Vec<ConfigSource>,
    /// Automatic mutual TLS to workloads with sidecars (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_auto_mtls: Option<bool>,
    /// SPIFFE trust domain (default `cluster.local`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_domain: Option<String>,
    /// Other trust domains treated as equivalent in authorization.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trust_domain_aliases: Vec<String>,
    /// Extra root certificates for workload mTLS.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ca_certificates: Vec<CertificateData>,
    /// Default `exportTo` of Services and ServiceEntries (default `["*"]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub default_service_export_to: Vec<String>,
    /// Default `exportTo` of VirtualServices (default `["*"]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub default_virtual_service_export_to: Vec<String>,
    /// Default `exportTo` of DestinationRules (default `["*"]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub default_destination_rule_export_to: Vec<String>,
    /// Namespace whose Sidecar/PeerAuthentication/… apply mesh-wide (default `istio-system`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_namespace: Option<String>,
    /// Mesh-wide locality load balancing (enabled by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality_lb_setting: Option<LocalityLoadBalancerSetting>,
    /// Mesh-wide zone-aware load balancing (wins over locality LB when both are set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone_aware_lb_setting: Option<ZoneAwareLoadBalancerSetting>,
    /// DNS refresh rate of DNS-resolved clusters after failures (default 60s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_refresh_rate: Option<Duration>,
    /// Default HTTP/1.1 to HTTP/2 upgrade policy for sidecar-to-sidecar traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub h2_upgrade_policy: Option<H2UpgradePolicy>,
    /// Stat name pattern of inbound clusters (`%SERVICE%`, `%SERVICE_PORT%`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbound_cluster_stat_name: Option<String>,
    /// Stat name pattern of outbound clusters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_cluster_stat_name: Option<String>,
    /// Deprecated: DNS certificates provisioned by istiod (use cert-manager or istio-csr).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<Certificate>,
    /// Per-host service settings (e.g. `clusterLocal`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_settings: Vec<ServiceSettings>,
    /// Multi-cluster service scope (local or global) by namespace/service selectors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_scope_configs: Vec<ServiceScopeConfigs>,
    /// Merge application and proxy Prometheus metrics on the agent (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_prometheus_merge: Option<bool>,
    /// Deprecated: verify server certificates at the client (now always on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_certificate_at_client: Option<bool>,
    /// External certificate authority used by istiod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<Ca>,
    /// Named providers for tracing, metrics, access logs and external authorization.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extension_providers: Vec<ExtensionProvider>,
    /// Providers used when Telemetry does not name any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_providers: Option<DefaultProviders>,
    /// Namespaces istiod watches (any selector matching; all when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub discovery_selectors: Vec<LabelSelector>,
    /// URL path normalization before authorization and routing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_normalization: Option<ProxyPathNormalization>,
    /// Default retry policy of HTTP routes (VirtualService's `HTTPRetry`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_http_retry_policy: Option<HttpRetry>,
    /// Default retry policy of inbound routes on sidecars (only attempts, retryOn, backoff).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_inbound_http_retry_policy: Option<HttpRetry>,
    /// TLS settings of Istio mTLS between workloads.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "meshMTLS")]
    pub mesh_mtls: Option<TlsConfig>,
    /// Default TLS settings of non-mesh TLS (gateways, DestinationRule SIMPLE/MUTUAL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_defaults: Option<TlsConfig>,
    /// Baseline connection pool and outlier detection for every destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_traffic_policy: Option<DefaultTrafficPolicy>,
    /// Default visibility of ServiceEntries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_entry_visibility: Option<ServiceEntryVisibility>,

    // Fields removed from Istio (reserved in the proto). Old installs still carry them and
    // Istio ignores them, so they decode here and validation warns that they have no effect.
    #[doc(hidden)]
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "mixerCheckServer")]
    pub removed_mixer_check_server: Option<serde_json::Value>,
    #[doc(hidden)]
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "mixerReportServer")]
    pub removed_mixer_report_server: Option<serde_json::Value>,
    #[doc(hidden)]
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "disablePolicyChecks")]
    pub removed_disable_policy_checks: Option<serde_json::Value>,
    #[doc(hidden)]
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "disableMixerHttpReports")]
    pub removed_disable_mixer_http_reports: Option<serde_json::Value>,
    #[doc(hidden)]
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "policyCheckFailOpen")]
    pub removed_policy_check_fail_open: Option<serde_json::Value>,
    #[doc(hidden)]
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "sidecarToTelemetrySessionAffinity")]
    pub removed_sidecar_to_telemetry_session_affinity: Option<serde_json::Value>,
    #[doc(hidden)]
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "authPolicy")]
    pub removed_auth_policy: Option<serde_json::Value>,
    #[doc(hidden)]
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "rdsRefreshDelay")]
    pub removed_rds_refresh_delay: Option<serde_json::Value>,
    #[doc(hidden)]
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "mixerAddress")]
    pub removed_mixer_address: Option<serde_json::Value>,
    #[doc(hidden)]
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "enableClientSidePolicyCheck")]
    pub removed_enable_client_side_policy_check: Option<serde_json::Value>,
    #[doc(hidden)]
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "sdsUdsPath")]
    pub removed_sds_uds_path: Option<serde_json::Value>,
    #[doc(hidden)]
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "sdsRefreshDelay")]
    pub removed_sds_refresh_delay: Option<serde_json::Value>,
    #[doc(hidden)]
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "enableSdsTokenMount")]
    pub removed_enable_sds_token_mount: Option<serde_json::Value>,
    #[doc(hidden)]
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "sdsUseK8sSaJwt")]
    pub removed_sds_use_k8s_sa_jwt: Option<serde_json::Value>,
    #[doc(hidden)]
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "terminationDrainDuration")]
    pub removed_termination_drain_duration: Option<serde_json::Value>,
    #[doc(hidden)]
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "disableReportBatch")]
    pub removed_disable_report_batch: Option<serde_json::Value>,
    #[doc(hidden)]
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "reportBatchMaxEntries")]
    pub removed_report_batch_max_entries: Option<serde_json::Value>,
    #[doc(hidden)]
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "reportBatchMaxTime")]
    pub removed_report_batch_max_time: Option<serde_json::Value>,
    #[doc(hidden)]
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "fileFlushInterval")]
    pub removed_file_flush_interval: Option<serde_json::Value>,
    #[doc(hidden)]
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "fileFlushMinSize")]
    pub removed_file_flush_min_size: Option<serde_json::Value>,
    #[doc(hidden)]
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "thriftConfig")]
    pub removed_thrift_config: Option<serde_json::Value>,
}

impl MeshConfig {
    /// The removed (reserved) fields this config still sets; Istio ignores them.
    pub fn removed_fields(&self) -> Vec<&'static str> {
        let fields = [
            ("mixerCheckServer", self.removed_mixer_check_server.is_some()),
            ("mixerReportServer", self.removed_mixer_report_server.is_some()),
            ("disablePolicyChecks", self.removed_disable_policy_checks.is_some()),
            ("disableMixerHttpReports", self.removed_disable_mixer_http_reports.is_some()),
            ("policyCheckFailOpen", self.removed_policy_check_fail_open.is_some()),
            ("sidecarToTelemetrySessionAffinity", self.removed_sidecar_to_telemetry_session_affinity.is_some()),
            ("authPolicy", self.removed_auth_policy.is_some()),
            ("rdsRefreshDelay", self.removed_rds_refresh_delay.is_some()),
            ("mixerAddress", self.removed_mixer_address.is_some()),
            ("enableClientSidePolicyCheck", self.removed_enable_client_side_policy_check.is_some()),
            ("sdsUdsPath", self.removed_sds_uds_path.is_some()),
            ("sdsRefreshDelay", self.removed_sds_refresh_delay.is_some()),
            ("enableSdsTokenMount", self.removed_enable_sds_token_mount.is_some()),
            ("sdsUseK8sSaJwt", self.removed_sds_use_k8s_sa_jwt.is_some()),
            ("terminationDrainDuration", self.removed_termination_drain_duration.is_some()),
            ("disableReportBatch", self.removed_disable_report_batch.is_some()),
            ("reportBatchMaxEntries", self.removed_report_batch_max_entries.is_some()),
            ("reportBatchMaxTime", self.removed_report_batch_max_time.is_some()),
            ("fileFlushInterval", self.removed_file_flush_interval.is_some()),
            ("fileFlushMinSize", self.removed_file_flush_min_size.is_some()),
            ("thriftConfig", self.removed_thrift_config.is_some()),
        ];
        fields.into_iter().filter(|(_, set)| *set).map(|(name, _)| name).collect()
    }
}

/// Which Ingress resources the Istio ingress controller acts on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum IngressControllerMode {
    #[default]
    Unspecified,
    Off,
    Default,
    Strict,
}

/// Access log encoding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum AccessLogEncoding {
    #[default]
    Text,
    Json,
}

/// HTTP/1.1 to HTTP/2 upgrade policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum H2UpgradePolicy {
    #[default]
    DoNotUpgrade,
    Upgrade,
}
