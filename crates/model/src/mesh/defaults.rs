//! Istio's mesh defaults (`pkg/config/mesh/mesh.go`: `DefaultMeshConfig`,
//! `DefaultProxyConfig`) and how a user's mesh config is laid over them (`ApplyMeshConfig`):
//! top-level fields replace the default, `defaultConfig` is merged field by field (with
//! `proxyMetadata` merged key by key), extension providers are merged by name and trust-domain
//! aliases are united. The `effective_*` helpers answer single questions without building the
//! merged config.

use super::{
    AccessLogEncoding, AuthenticationPolicy, ExtensionProvider, FileAccessLogProvider, InboundMode,
    InboundTrafficPolicy, IngressControllerMode, MeshConfig, OutboundMode, OutboundTrafficPolicy, ProxyConfig,
    StackdriverProvider,
};
use crate::networking::destination_rule::LocalityLoadBalancerSetting;
use crate::types::Duration;
use serde_json::{Map, Value};

/// Default upstream connect timeout.
pub const CONNECT_TIMEOUT: Duration = Duration(std::time::Duration::from_secs(10));
/// Default DNS refresh rate.
pub const DNS_REFRESH_RATE: Duration = Duration(std::time::Duration::from_secs(60));
/// Default trust domain.
pub const TRUST_DOMAIN: &str = "cluster.local";
/// Default root namespace.
pub const ROOT_NAMESPACE: &str = "istio-system";
/// Default outbound capture port.
pub const PROXY_LISTEN_PORT: i32 = 15001;
/// Default inbound capture port.
pub const PROXY_INBOUND_LISTEN_PORT: i32 = 15006;
/// Default discovery address.
pub const DISCOVERY_ADDRESS: &str = "istiod.istio-system.svc:15012";
/// Default drain duration.
pub const DRAIN_DURATION: Duration = Duration(std::time::Duration::from_secs(45));
/// Default termination drain duration.
pub const TERMINATION_DRAIN_DURATION: Duration = Duration(std::time::Duration::from_secs(5));
/// Default Envoy admin port.
pub const PROXY_ADMIN_PORT: i32 = 15000;
/// Default agent status port.
pub const STATUS_PORT: i32 = 15020;

fn provider(name: &str) -> ExtensionProvider {
    ExtensionProvider { name: name.into(), ..Default::default() }
}

impl ProxyConfig {
    /// Istio `DefaultProxyConfig`.
    pub fn defaults() -> Self {
        Self {
            config_path: Some("./etc/istio/proxy".into()),
            binary_path: Some("/usr/local/bin/envoy".into()),
            service_cluster: Some("istio-proxy".into()),
            drain_duration: Some(DRAIN_DURATION),
            termination_drain_duration: Some(TERMINATION_DRAIN_DURATION),
            proxy_admin_port: Some(PROXY_ADMIN_PORT),
            control_plane_auth_policy: Some(AuthenticationPolicy::MutualTls),
            discovery_address: Some(DISCOVERY_ADDRESS.into()),
            stat_name_length: Some(189),
            status_port: Some(STATUS_PORT),
            ..Default::default()
        }
    }
}

impl MeshConfig {
    /// Istio `DefaultMeshConfig`: what a mesh with no mesh config runs with.
    pub fn defaults() -> Self {
        let star = vec!["*".to_string()];
        Self {
            enable_tracing: Some(true),
            access_log_file: Some(String::new()),
            access_log_encoding: Some(AccessLogEncoding::Text),
            access_log_format: Some(String::new()),
            enable_envoy_access_log_service: Some(false),
            protocol_detection_timeout: Some(Duration::default()),
            ingress_service: Some("istio-ingressgateway".into()),
            ingress_controller_mode: Some(IngressControllerMode::Strict),
            ingress_class: Some("istio".into()),
            trust_domain: Some(TRUST_DOMAIN.into()),
            enable_auto_mtls: Some(true),
            outbound_traffic_policy: Some(OutboundTrafficPolicy { mode: Some(OutboundMode::AllowAny), tls: None }),
            inbound_traffic_policy: Some(InboundTrafficPolicy { mode: Some(InboundMode::Passthrough) }),
            locality_lb_setting: Some(LocalityLoadBalancerSetting { enabled: Some(true), ..Default::default() }),
            default_config: Some(ProxyConfig::defaults()),
            root_namespace: Some(ROOT_NAMESPACE.into()),
            proxy_listen_port: Some(PROXY_LISTEN_PORT),
            proxy_inbound_listen_port: Some(PROXY_INBOUND_LISTEN_PORT),
            connect_timeout: Some(CONNECT_TIMEOUT),
            default_service_export_to: star.clone(),
            default_virtual_service_export_to: star.clone(),
            default_destination_rule_export_to: star,
            dns_refresh_rate: Some(DNS_REFRESH_RATE),
            enable_prometheus_merge: Some(true),
            default_providers: Some(Default::default()),
            extension_providers: vec![
                ExtensionProvider { prometheus: Some(Default::default()), ..provider("prometheus") },
                ExtensionProvider { stackdriver: Some(StackdriverProvider::default()), ..provider("stackdriver") },
                ExtensionProvider {
                    envoy_file_access_log: Some(FileAccessLogProvider {
                        path: Some("/dev/stdout".into()),
                        ..Default::default()
                    }),
                    ..provider("envoy")
                },
            ],
            ..Default::default()
        }
    }

    /// This mesh config laid over [`MeshConfig::defaults`], as Istio's `ApplyMeshConfig` does.
    pub fn with_defaults(&self) -> Self {
        let base = Self::defaults();
        let mut merged = overlay(&base, self).unwrap_or_else(|_| self.clone());
        merged.extension_providers = merge_providers(&base.extension_providers, &self.extension_providers);
        let mut aliases = self.trust_domain_aliases.clone();
        aliases.sort();
        aliases.dedup();
        merged.trust_domain_aliases = aliases;
        merged
    }

    /// The proxy settings every proxy starts from: Istio's defaults with `defaultConfig` merged in.
    pub fn effective_proxy_config(&self) -> ProxyConfig {
        let user = MeshConfig { default_config: self.default_config.clone(), ..Default::default() };
        let base = MeshConfig { default_config: Some(ProxyConfig::defaults()), ..Default::default() };
        overlay(&base, &user).ok().and_then(|m| m.default_config).unwrap_or_else(ProxyConfig::defaults)
    }

    /// Upstream connect timeout (10s).
    pub fn effective_connect_timeout(&self) -> Duration {
        self.connect_timeout.unwrap_or(CONNECT_TIMEOUT)
    }

    /// Protocol sniffing timeout (0 = none).
    pub fn effective_protocol_detection_timeout(&self) -> Duration {
        self.protocol_detection_timeout.unwrap_or_default()
    }

    /// Outbound traffic policy mode (`ALLOW_ANY`, also when the policy names no mode).
    pub fn effective_outbound_mode(&self) -> OutboundMode {
        self.outbound_traffic_policy.as_ref().and_then(|p| p.mode).unwrap_or(OutboundMode::AllowAny)
    }

    /// Inbound traffic policy mode (`PASSTHROUGH`).
    pub fn effective_inbound_mode(&self) -> InboundMode {
        self.inbound_traffic_policy.as_ref().and_then(|p| p.mode).unwrap_or_default()
    }

    /// Automatic mTLS (true).
    pub fn effective_enable_auto_mtls(&self) -> bool {
        self.enable_auto_mtls.unwrap_or(true)
    }

    /// Trust domain (`cluster.local`).
    pub fn effective_trust_domain(&self) -> &str {
        self.trust_domain.as_deref().filter(|t| !t.is_empty()).unwrap_or(TRUST_DOMAIN)
    }

    /// Root namespace (`istio-system`).
    pub fn effective_root_namespace(&self) -> &str {
        self.root_namespace.as_deref().filter(|n| !n.is_empty()).unwrap_or(ROOT_NAMESPACE)
    }

    /// Tracing on (true).
    pub fn effective_enable_tracing(&self) -> bool {
        self.enable_tracing.unwrap_or(true)
    }

    /// Prometheus merge on the agent (true).
    pub fn effective_enable_prometheus_merge(&self) -> bool {
        self.enable_prometheus_merge.unwrap_or(true)
    }

    /// DNS refresh rate (60s).
    pub fn effective_dns_refresh_rate(&self) -> Duration {
        self.dns_refresh_rate.unwrap_or(DNS_REFRESH_RATE)
    }

    /// Outbound capture port (15001).
    pub fn effective_proxy_listen_port(&self) -> i32 {
        self.proxy_listen_port.unwrap_or(PROXY_LISTEN_PORT)
    }

    /// Inbound capture port (15006).
    pub fn effective_proxy_inbound_listen_port(&self) -> i32 {
        self.proxy_inbound_listen_port.unwrap_or(PROXY_INBOUND_LISTEN_PORT)
    }

    /// Access log encoding (`TEXT`).
    pub fn effective_access_log_encoding(&self) -> AccessLogEncoding {
        self.access_log_encoding.unwrap_or_default()
    }

    /// Default `exportTo` of Services and ServiceEntries (`["*"]`).
    pub fn effective_default_service_export_to(&self) -> Vec<String> {
        star_if_empty(&self.default_service_export_to)
    }

    /// Default `exportTo` of VirtualServices (`["*"]`).
    pub fn effective_default_virtual_service_export_to(&self) -> Vec<String> {
        star_if_empty(&self.default_virtual_service_export_to)
    }

    /// Default `exportTo` of DestinationRules (`["*"]`).
    pub fn effective_default_destination_rule_export_to(&self) -> Vec<String> {
        star_if_empty(&self.default_destination_rule_export_to)
    }
}

fn star_if_empty(list: &[String]) -> Vec<String> {
    if list.is_empty() { vec!["*".into()] } else { list.to_vec() }
}

/// Lays `user`'s set fields over `base` (through their JSON form, where unset fields are
/// absent): top-level fields replace, `defaultConfig` merges per field and `proxyMetadata`
/// per key.
fn overlay(base: &MeshConfig, user: &MeshConfig) -> Result<MeshConfig, serde_json::Error> {
    let mut out = serde_json::to_value(base)?;
    let Value::Object(user_fields) = serde_json::to_value(user)? else { return Ok(base.clone()) };
    if let Value::Object(out_fields) = &mut out {
        for (key, value) in user_fields {
            if key == "defaultConfig" {
                let slot = out_fields.entry(key).or_insert_with(|| Value::Object(Map::new()));
                merge_object(slot, value, Some("proxyMetadata"));
            } else {
                out_fields.insert(key, value);
            }
        }
    }
    serde_json::from_value(out)
}

/// Replaces `base`'s fields by `overlay`'s; the field named `merge_key` merges key by key.
fn merge_object(base: &mut Value, overlay: Value, merge_key: Option<&str>) {
    let (Value::Object(base_fields), Value::Object(overlay_fields)) = (base, overlay) else { return };
    for (key, value) in overlay_fields {
        match base_fields.get_mut(&key) {
            Some(existing) if Some(key.as_str()) == merge_key => merge_object(existing, value, None),
            _ => {
                base_fields.insert(key, value);
            }
        }
    }
}

/// A user provider with a default's name replaces its kind; others are appended.
fn merge_providers(defaults: &[ExtensionProvider], user: &[ExtensionProvider]) -> Vec<ExtensionProvider> {
    let mut out = defaults.to_vec();
    for p in user {
        match out.iter_mut().find(|e| e.name == p.name) {
            Some(existing) => *existing = p.clone(),
            None => out.push(p.clone()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_semantics() {
        let user: MeshConfig = serde_json::from_value(serde_json::json!({
            "enableTracing": false,
            "trustDomainAliases": ["b", "a", "b"],
            "outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"},
            "defaultConfig": {"concurrency": 4, "proxyMetadata": {"A": "1"}},
            "extensionProviders": [{"name": "sd", "stackdriver": {}}, {"name": "envoy", "envoyFileAccessLog": {"path": "/x"}}],
        }))
        .expect("decodes");
        let m = user.with_defaults();
        assert_eq!(m.enable_tracing, Some(false));
        assert_eq!(m.effective_connect_timeout(), CONNECT_TIMEOUT);
        assert_eq!(m.effective_outbound_mode(), OutboundMode::RegistryOnly);
        assert_eq!(m.trust_domain_aliases, vec!["a".to_string(), "b".to_string()]);
        let pc = m.default_config.expect("proxy config");
        assert_eq!(pc.concurrency, Some(4));
        assert_eq!(pc.discovery_address.as_deref(), Some(DISCOVERY_ADDRESS));
        assert_eq!(pc.proxy_metadata.get("A").map(String::as_str), Some("1"));
        let names: Vec<_> = m.extension_providers.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["prometheus", "stackdriver", "envoy", "sd"]);
        assert_eq!(m.extension_providers[2].envoy_file_access_log.as_ref().and_then(|f| f.path.as_deref()), Some("/x"));
    }

    #[test]
    fn effective_values_without_config() {
        let m = MeshConfig::default();
        assert_eq!(m.effective_outbound_mode(), OutboundMode::AllowAny);
        assert!(m.effective_enable_auto_mtls());
        assert_eq!(m.effective_trust_domain(), "cluster.local");
        assert_eq!(m.effective_root_namespace(), "istio-system");
        assert_eq!(m.effective_default_service_export_to(), vec!["*".to_string()]);
        assert_eq!(m.effective_proxy_config(), ProxyConfig::defaults());
        assert_eq!(MeshConfig::defaults().with_defaults(), MeshConfig::defaults());
    }
}
