//! Istio `ValidateMeshConfigProxyConfig` for the fields a `defaultConfig` sets: paths, the
//! service-cluster one-of, drain duration, discovery/statsd/metrics/access-log addresses,
//! tracers, ports, the control-plane auth policy, concurrency, private-key providers and
//! connection settings, plus warnings for deprecated fields. An absent field keeps Istio's
//! (valid) default, so only explicitly set values are checked.

use super::validate::{as_warnings, check_duration, prefixed};
use super::{AuthenticationPolicy, ConnectionSettings, PollingKeyProvider, PrivateKeyProvider, ProxyConfig, Tracing};
use crate::networking::listener::{self, check_proxy_address};
use crate::validation::{Validate, Validator, rules};

/// `required` text when `value` is set to the empty string (it overrides a non-empty default).
fn not_empty(v: &mut Validator<'_>, field: &str, value: &Option<String>, message: &str) {
    if value.as_deref() == Some("") {
        v.error_at(field, message.to_string());
    }
}

fn address(v: &mut Validator<'_>, field: &str, value: &Option<String>, prefix: &str) {
    if let Some(addr) = value.as_deref().filter(|a| !a.is_empty()) {
        v.field(field, |v| prefixed(v, &prefix.replace("{}", addr), check_proxy_address(addr)));
    }
}

fn deprecated(v: &mut Validator<'_>, field: &str, set: bool, replacement: &str) {
    if set {
        v.field(field, |v| v.warn(format!("{field} is deprecated; {replacement}")));
    }
}

/// Exactly one tracer; collector addresses (`$(HOST_IP)` stands for the node IP).
fn tracing(v: &mut Validator<'_>, t: &Tracing) {
    let tracers = [
        t.zipkin.is_some(),
        t.lightstep.is_some(),
        t.datadog.is_some(),
        t.stackdriver.is_some(),
        t.open_census_agent.is_some(),
    ];
    if tracers.iter().filter(|s| **s).count() > 1 {
        v.error("only one of zipkin, lightstep, datadog, stackdriver or openCensusAgent may be set");
    }
    let host_ip = |a: &Option<String>| a.as_deref().unwrap_or("").replacen("$(HOST_IP)", "127.0.0.1", 1);
    v.opt("zipkin", &t.zipkin, |v, z| {
        v.field("address", |v| prefixed(v, "invalid zipkin config", check_proxy_address(&host_ip(&z.address))))
    });
    v.opt("datadog", &t.datadog, |v, d| {
        v.field("address", |v| prefixed(v, "invalid datadog config", check_proxy_address(&host_ip(&d.address))))
    });
    v.opt("lightstep", &t.lightstep, |v, l| {
        let addr = l.address.as_deref().unwrap_or("");
        v.field("address", |v| {
            if addr.is_empty() {
                v.error("invalid lightstep config: address is required");
            } else {
                prefixed(v, "invalid lightstep config: invalid lightstep address", check_proxy_address(addr));
            }
        });
        if l.access_token.as_deref().is_none_or(str::is_empty) {
            v.error_at("accessToken", "invalid lightstep config: access token is required");
        }
    });
    for (name, tag) in &t.custom_tags {
        let set = [tag.literal.is_some(), tag.environment.is_some(), tag.header.is_some()];
        if set.iter().filter(|s| **s).count() > 1 {
            v.field("customTags", |v| {
                v.key(name, |v| v.error("only one of literal, environment or header may be set"))
            });
        }
    }
    // Istio's ValidateTLS applies here, so these are errors.
    v.opt("tlsSettings", &t.tls_settings, |v, tls| tls.validate(v));
    if let Some(s) = t.sampling.filter(|s| !(0.0..=100.0).contains(s)) {
        v.field("sampling", |v| v.warn(format!("sampling {s} is outside 0.0-100.0")));
    }
}

fn key_provider(v: &mut Validator<'_>, p: &PrivateKeyProvider) {
    const PREFIX: &str = "invalid private key provider configuration";
    match (&p.cryptomb, &p.qat) {
        (None, None) => v.error(format!("{PREFIX}: private key provider configuration is required")),
        (Some(_), Some(_)) => v.error(format!("{PREFIX}: only one of cryptomb or qat may be set")),
        _ => {}
    }
    let poll = |v: &mut Validator<'_>, k: &PollingKeyProvider| match k.poll_delay {
        None => v.error_at("pollDelay", format!("{PREFIX}: pollDelay is required")),
        Some(d) if d.get().is_zero() => v.error_at("pollDelay", format!("{PREFIX}: pollDelay must be non zero")),
        Some(_) => {}
    };
    v.opt("cryptomb", &p.cryptomb, poll);
    v.opt("qat", &p.qat, poll);
}

fn connection_settings(v: &mut Validator<'_>, cs: &ConnectionSettings) {
    // (field, value, minimum, Istio's text); durations cannot be negative here.
    let limits = [
        (
            "listenerPerConnectionBufferLimitBytes",
            cs.listener_per_connection_buffer_limit_bytes,
            0,
            "listener_per_connection_buffer_limit_bytes must be non-negative",
        ),
        (
            "clusterPerConnectionBufferLimitBytes",
            cs.cluster_per_connection_buffer_limit_bytes,
            0,
            "cluster_per_connection_buffer_limit_bytes must be non-negative",
        ),
        ("httpMaxConcurrentStreams", cs.http_max_concurrent_streams, 1, "http_max_concurrent_streams must be positive"),
        (
            "http2InitialStreamWindowSize",
            cs.http2_initial_stream_window_size,
            65535,
            "http2_initial_stream_window_size must be at least 65535",
        ),
        (
            "http2InitialConnectionWindowSize",
            cs.http2_initial_connection_window_size,
            65535,
            "http2_initial_connection_window_size must be at least 65535",
        ),
        ("listenerConnectionLimit", cs.listener_connection_limit, 1, "listener_connection_limit must be positive"),
        (
            "globalDownstreamConnectionLimit",
            cs.global_downstream_connection_limit,
            1,
            "global_downstream_connection_limit must be positive",
        ),
    ];
    for (field, value, min, message) in limits {
        if let Some(value) = value.filter(|n| *n < min) {
            v.error_at(field, format!("invalid connection settings: {message}, got {value}"));
        }
    }
}

impl ProxyConfig {
    fn validate_basics(&self, v: &mut Validator<'_>) {
        not_empty(v, "configPath", &self.config_path, "config path must be set");
        not_empty(v, "binaryPath", &self.binary_path, "binary path must be set");
        not_empty(v, "serviceCluster", &self.service_cluster, "service cluster must be specified");
        if self.service_cluster.is_some() && self.tracing_service_name.is_some() {
            v.error("only one of serviceCluster or tracingServiceName may be set");
        }
        v.opt("drainDuration", &self.drain_duration, |v, d| {
            prefixed(v, "invalid drain duration", check_duration(*d));
            if check_duration(*d).is_ok() && d.get().subsec_nanos() != 0 {
                v.error("drain time only supports durations to seconds precision");
            }
        });
        not_empty(
            v,
            "discoveryAddress",
            &self.discovery_address,
            "discovery address must be set to the proxy discovery service",
        );
        address(v, "discoveryAddress", &self.discovery_address, "invalid discovery address");
        address(v, "statsdUdpAddress", &self.statsd_udp_address, "invalid statsd udp address \"{}\"");
        address(
            v,
            "envoyMetricsServiceAddress",
            &self.envoy_metrics_service_address,
            "invalid envoy metrics service address \"{}\"",
        );
        let remote = [
            ("envoyMetricsService", &self.envoy_metrics_service, "invalid envoy metrics service address \"{}\""),
            (
                "envoyAccessLogService",
                &self.envoy_access_log_service,
                "invalid envoy access log service address \"{}\"",
            ),
        ];
        for (field, service, prefix) in remote {
            v.opt(field, service, |v, s| {
                address(v, "address", &s.address, prefix);
                v.opt("tlsSettings", &s.tls_settings, |v, t| as_warnings(v, |v| t.validate(v)));
            });
        }
        let ports = [
            ("proxyAdminPort", "invalid proxy admin port", self.proxy_admin_port),
            ("statusPort", "invalid status port", self.status_port),
        ];
        for (field, prefix, port) in ports {
            if let Some(port) = port {
                v.field(field, |v| prefixed(v, prefix, listener::check_port(i64::from(port))));
            }
        }
        if self.control_plane_auth_policy == Some(AuthenticationPolicy::Inherit) {
            v.error_at(
                "controlPlaneAuthPolicy",
                "invalid authentication policy: unrecognized control plane auth policy \"INHERIT\"",
            );
        }
        if self.concurrency.is_some_and(|c| c < 0) {
            v.error_at("concurrency", "concurrency must be greater than or equal to 0");
        }
    }

    fn validate_deprecated(&self, v: &mut Validator<'_>) {
        deprecated(
            v,
            "zipkinAddress",
            self.zipkin_address.is_some(),
            "use tracing.zipkin.address or a zipkin extension provider",
        );
        deprecated(
            v,
            "envoyMetricsServiceAddress",
            self.envoy_metrics_service_address.is_some(),
            "use envoyMetricsService",
        );
        deprecated(v, "discoveryRefreshDelay", self.discovery_refresh_delay.is_some(), "it has no effect");
        deprecated(v, "availabilityZone", self.availability_zone.is_some(), "it has no effect");
        deprecated(v, "sds", self.sds.is_some(), "SDS is always used");
        let removed = [
            ("connectTimeout", self.removed_connect_timeout.is_some(), "use the mesh-wide connectTimeout"),
            ("parentShutdownDuration", self.removed_parent_shutdown_duration.is_some(), "use terminationDrainDuration"),
        ];
        for (field, set, instead) in removed {
            if set {
                v.field(field, |v| {
                    v.warn(format!("{field} was removed from Istio's ProxyConfig and is ignored; {instead}"))
                });
            }
        }
        if self.proxy_metadata.contains_key("ISTIO_META_DNS_AUTO_ALLOCATE") {
            v.field("proxyMetadata", |v| v.key("ISTIO_META_DNS_AUTO_ALLOCATE", |v| v.warn("'ISTIO_META_DNS_AUTO_ALLOCATE' is deprecated; review https://istio.io/latest/docs/ops/configuration/traffic-management/dns-proxy/#dns-auto-allocation-v2 for information about replacement functionality")));
        }
    }
}

impl Validate for ProxyConfig {
    fn validate(&self, v: &mut Validator<'_>) {
        self.validate_basics(v);
        self.validate_deprecated(v);
        v.opt("tracing", &self.tracing, tracing);
        v.opt("privateKeyProvider", &self.private_key_provider, key_provider);
        v.opt("connectionSettings", &self.connection_settings, connection_settings);
        // Istio does not validate the mesh-wide readiness probe; WorkloadGroup's rules give advice.
        v.opt("readinessProbe", &self.readiness_probe, |v, p| as_warnings(v, |v| p.validate(v)));
        v.opt("proxyStatsMatcher", &self.proxy_stats_matcher, |v, m| {
            v.each("inclusionRegexps", &m.inclusion_regexps, |v, re| {
                if let Err(e) = rules::compile_regex(re) {
                    v.warn(format!("{e}; Envoy would reject this stats matcher"));
                }
            });
        });
        v.opt("image", &self.image, |v, image| {
            if let Some(t) = image.image_type.as_deref().filter(|t| !matches!(*t, "default" | "debug" | "distroless")) {
                v.field("imageType", |v| {
                    v.warn(format!("unknown image type {t:?}; expected default, debug or distroless"))
                });
            }
        });
    }
}
