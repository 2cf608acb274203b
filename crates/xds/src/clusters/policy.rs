//! A DestinationRule traffic policy → cluster fields, as Istio's `cluster_traffic_policy.go`:
//! which policy applies to a port or subset (port-level settings replace the top level whole;
//! a subset's fields override), connection pool → circuit breakers, timeouts and HTTP options,
//! outlier detection (with Istio's enforcing values and panic threshold), load balancer, TCP
//! keepalive and the upstream HTTP protocol.

use super::Wrapper;
use envoy_types::pb::envoy::config::cluster::v3::{
    CircuitBreakers, OutlierDetection as EnvoyOutlier, UpstreamConnectionOptions,
    circuit_breakers::Thresholds,
    cluster::{LbConfig, LbPolicy, LeastRequestLbConfig, MaglevLbConfig, RingHashLbConfig, RoundRobinLbConfig},
};
use envoy_types::pb::envoy::config::core::v3::{
    Http1ProtocolOptions, Http2ProtocolOptions, HttpProtocolOptions as CommonHttpOptions, KeepaliveSettings, Metadata,
    RuntimeDouble, TcpKeepalive as EnvoyKeepalive,
};
use envoy_types::pb::envoy::extensions::upstreams::http::v3::http_protocol_options::{
    ExplicitHttpConfig, UpstreamProtocolOptions, UseDownstreamHttpConfig, explicit_http_config::ProtocolConfig,
};
use envoy_types::pb::envoy::r#type::v3::Percent;
use envoy_types::pb::google::protobuf::{Duration, UInt32Value, UInt64Value};
use strait_model::mesh::{H2UpgradePolicy as MeshH2, MeshConfig};
use strait_model::networking::destination_rule::{
    ConnectionPoolSettings, H2UpgradePolicy, LoadBalancerSettings, OutlierDetection, SimpleLb, TcpKeepalive,
    TrafficPolicy,
};
use strait_registry::{NodeType, Protocol, ServicePort};

/// Istio's `GetPortLevelTrafficPolicy`: a `portLevelSettings` entry for `port` replaces the
/// load balancer, pool, outlier and TLS settings whole (unset ones fall back to defaults, not to
/// the top level). The flag says whether a port-level entry matched.
pub fn for_port(policy: Option<&TrafficPolicy>, port: u32) -> (Option<TrafficPolicy>, bool) {
    let Some(policy) = policy else { return (None, false) };
    match policy.port_level_settings.iter().find(|p| p.port.as_ref().is_some_and(|s| s.number == port)) {
        Some(p) => (
            Some(TrafficPolicy {
                load_balancer: p.load_balancer.clone(),
                connection_pool: p.connection_pool.clone(),
                outlier_detection: p.outlier_detection.clone(),
                tls: p.tls.clone(),
                ..Default::default()
            }),
            true,
        ),
        None => (Some(TrafficPolicy { port_level_settings: Vec::new(), ..policy.clone() }), false),
    }
}

/// Istio's `MergeSubsetTrafficPolicy`: the subset's fields (for this port) override the rule's.
pub fn for_subset(top: Option<&TrafficPolicy>, subset: Option<&TrafficPolicy>, port: u32) -> Option<TrafficPolicy> {
    let (original, _) = for_port(top, port);
    let Some(subset) = subset else { return original };
    let (Some(sub), port_level) = for_port(Some(subset), port) else { return original };
    let Some(mut merged) = original else { return Some(sub) };
    let take = |set: bool| set || port_level;
    if take(sub.connection_pool.is_some()) {
        merged.connection_pool = sub.connection_pool;
    }
    if take(sub.outlier_detection.is_some()) {
        merged.outlier_detection = sub.outlier_detection;
    }
    if take(sub.load_balancer.is_some()) {
        merged.load_balancer = sub.load_balancer;
    }
    if take(sub.tls.is_some()) {
        merged.tls = sub.tls;
    }
    merged.tunnel = sub.tunnel.or(merged.tunnel);
    merged.proxy_protocol = sub.proxy_protocol.or(merged.proxy_protocol);
    merged.retry_budget = sub.retry_budget.or(merged.retry_budget);
    Some(merged)
}

/// Applies an outbound cluster's policy (Istio's `applyTrafficPolicy`, TLS aside).
pub fn apply(w: &mut Wrapper, policy: Option<&TrafficPolicy>, port: &ServicePort, mesh: &MeshConfig) {
    let default_pool = ConnectionPoolSettings::default();
    let pool = policy.and_then(|p| p.connection_pool.as_ref()).unwrap_or(&default_pool);
    if should_h2_upgrade(port.protocol, mesh, pool) {
        set_h2(w);
    }
    connection_pool(w, pool, mesh);
    if let Some(outlier) = policy.and_then(|p| p.outlier_detection.as_ref()) {
        outlier_detection(w, outlier);
    }
    load_balancer(w, policy.and_then(|p| p.load_balancer.as_ref()));
}

/// Istio's `shouldH2Upgrade`: the rule's `h2UpgradePolicy` decides, else the mesh's, for HTTP
/// ports only; `useClientProtocol` never upgrades.
fn should_h2_upgrade(protocol: Protocol, mesh: &MeshConfig, pool: &ConnectionPoolSettings) -> bool {
    if let Some(http) = &pool.http {
        if http.use_client_protocol == Some(true) {
            return false;
        }
        match http.h2_upgrade_policy {
            H2UpgradePolicy::Upgrade => return true,
            H2UpgradePolicy::DoNotUpgrade => return false,
            H2UpgradePolicy::Default => {}
        }
    }
    protocol.is_http() && mesh.h2_upgrade_policy == Some(MeshH2::Upgrade)
}

/// Istio's `setUpstreamProtocol`: h2 ports speak HTTP/2, other HTTP ports HTTP/1.1, and
/// undeclared ports on sidecars follow the downstream protocol (sniffing decides).
pub fn set_upstream_protocol(w: &mut Wrapper, protocol: Protocol, node: NodeType) {
    if protocol.is_http2() {
        set_h2(w);
    } else if protocol.is_http() {
        w.http().upstream_protocol_options = Some(explicit_http1());
    } else if protocol == Protocol::Unknown && node == NodeType::Sidecar {
        set_use_downstream(w);
    }
}

/// Explicit HTTP/1.1 upstream.
pub fn explicit_http1() -> UpstreamProtocolOptions {
    UpstreamProtocolOptions::ExplicitHttpConfig(ExplicitHttpConfig {
        protocol_config: Some(ProtocolConfig::HttpProtocolOptions(Http1ProtocolOptions::default())),
    })
}

/// Explicit HTTP/2 upstream, unless an upstream protocol is already HTTP/2 or downstream.
fn set_h2(w: &mut Wrapper) {
    let http = w.http();
    let is_h1 = matches!(
        &http.upstream_protocol_options,
        None | Some(UpstreamProtocolOptions::ExplicitHttpConfig(ExplicitHttpConfig {
            protocol_config: Some(ProtocolConfig::HttpProtocolOptions(_))
        }))
    );
    if is_h1 {
        http.upstream_protocol_options = Some(UpstreamProtocolOptions::ExplicitHttpConfig(ExplicitHttpConfig {
            protocol_config: Some(ProtocolConfig::Http2ProtocolOptions(Http2ProtocolOptions::default())),
        }));
    }
}

fn set_use_downstream(w: &mut Wrapper) {
    w.http().upstream_protocol_options =
        Some(UpstreamProtocolOptions::UseDownstreamProtocolConfig(UseDownstreamHttpConfig {
            http_protocol_options: Some(Http1ProtocolOptions::default()),
            http2_protocol_options: Some(Http2ProtocolOptions::default()),
            ..Default::default()
        }));
}

/// Istio's default thresholds: everything unlimited (Envoy's defaults of 1024 and 3 retries
/// caused 503s during rollouts), remaining-capacity gauges on.
pub fn default_thresholds() -> Thresholds {
    let max = Some(UInt32Value { value: u32::MAX });
    Thresholds {
        max_connections: max,
        max_pending_requests: max,
        max_requests: max,
        max_retries: max,
        track_remaining: true,
        ..Default::default()
    }
}

/// Istio's `applyConnectionPool` (zero means unset, as in Istio).
pub fn connection_pool(w: &mut Wrapper, pool: &ConnectionPoolSettings, mesh: &MeshConfig) {
    let mut t = default_thresholds();
    let positive = |v: Option<i32>| v.filter(|n| *n > 0).map(|n| UInt32Value { value: n.unsigned_abs() });
    let mut common = CommonHttpOptions::default();
    let mut h2_streams = None;
    let mut h2_keepalive = None;
    if let Some(http) = &pool.http {
        t.max_requests = positive(http.http2_max_requests).or(t.max_requests);
        t.max_pending_requests = positive(http.http1_max_pending_requests).or(t.max_pending_requests);
        t.max_retries = positive(http.max_retries).or(t.max_retries);
        common.idle_timeout = http.idle_timeout.map(|d| duration(d.get()));
        common.max_requests_per_connection = positive(http.max_requests_per_connection);
        h2_streams = positive(http.max_concurrent_streams);
        h2_keepalive = http.http2_keep_alive.as_ref().map(|k| KeepaliveSettings {
            interval: k.interval.map(|d| duration(d.get())),
            timeout: k.timeout.map(|d| duration(d.get())),
            ..Default::default()
        });
    }
    if let Some(tcp) = &pool.tcp {
        if let Some(d) = tcp.connect_timeout {
            w.cluster.connect_timeout = Some(duration(d.get()));
        }
        t.max_connections = positive(tcp.max_connections).or(t.max_connections);
        common.max_connection_duration = tcp.max_connection_duration.map(|d| duration(d.get()));
        if common.idle_timeout.is_none() {
            common.idle_timeout = tcp.idle_timeout.map(|d| duration(d.get()));
        }
    }
    tcp_keepalive(w, mesh.tcp_keepalive.as_ref());
    tcp_keepalive(w, pool.tcp.as_ref().and_then(|t| t.tcp_keepalive.as_ref()));
    w.cluster.circuit_breakers = Some(CircuitBreakers { thresholds: vec![t], ..Default::default() });
    let common_set = common != CommonHttpOptions::default();
    if common_set || h2_streams.is_some() || h2_keepalive.is_some() {
        let http = w.http();
        if common_set {
            http.common_http_protocol_options = Some(common);
        }
        if let Some(UpstreamProtocolOptions::ExplicitHttpConfig(ExplicitHttpConfig {
            protocol_config: Some(ProtocolConfig::Http2ProtocolOptions(h2)),
        })) = &mut http.upstream_protocol_options
        {
            h2.max_concurrent_streams = h2_streams.or(h2.max_concurrent_streams);
            h2.connection_keepalive = h2_keepalive.or(h2.connection_keepalive.take());
        }
    }
    if pool.http.as_ref().and_then(|h| h.use_client_protocol) == Some(true) {
        set_use_downstream(w);
    }
}

/// Istio's `setKeepAliveSettings`: SO_KEEPALIVE on, each set field overrides (seconds).
fn tcp_keepalive(w: &mut Wrapper, keepalive: Option<&TcpKeepalive>) {
    let Some(ka) = keepalive else { return };
    let opts = w.cluster.upstream_connection_options.get_or_insert_with(|| UpstreamConnectionOptions {
        tcp_keepalive: Some(EnvoyKeepalive::default()),
        ..Default::default()
    });
    let t = opts.tcp_keepalive.get_or_insert_with(EnvoyKeepalive::default);
    let secs =
        |d: strait_model::types::Duration| UInt32Value { value: u32::try_from(d.get().as_secs()).unwrap_or(u32::MAX) };
    if let Some(p) = ka.probes.filter(|p| *p > 0) {
        t.keepalive_probes = Some(UInt32Value { value: p });
    }
    t.keepalive_time = ka.time.map(secs).or(t.keepalive_time);
    t.keepalive_interval = ka.interval.map(secs).or(t.keepalive_interval);
}

/// Istio's `applyOutlierDetection`: success-rate ejection off, each consecutive-error counter
/// enforced at 100% when positive, and the panic threshold set to `minHealthPercent` (0 unless
/// set: panic mode rarely helps with few pods per service).
pub fn outlier_detection(w: &mut Wrapper, o: &OutlierDetection) {
    let u32v = |v: u32| Some(UInt32Value { value: v });
    let enforcing = |v: u32| u32v(if v > 0 { 100 } else { 0 });
    let mut out = EnvoyOutlier { enforcing_success_rate: u32v(0), ..Default::default() };
    if let Some(n) = o.consecutive_5xx_errors {
        out.consecutive_5xx = u32v(n);
        out.enforcing_consecutive_5xx = enforcing(n);
    }
    if let Some(n) = o.consecutive_gateway_errors {
        out.consecutive_gateway_failure = u32v(n);
        out.enforcing_consecutive_gateway_failure = enforcing(n);
    }
    out.interval = o.interval.map(|d| duration(d.get()));
    out.base_ejection_time = o.base_ejection_time.map(|d| duration(d.get()));
    if let Some(p) = o.max_ejection_percent.filter(|p| *p > 0) {
        out.max_ejection_percent = u32v(p.unsigned_abs());
    }
    if o.split_external_local_origin_errors == Some(true) {
        out.split_external_local_origin_errors = true;
        if let Some(n) = o.consecutive_local_origin_failures.filter(|n| *n > 0) {
            out.consecutive_local_origin_failure = u32v(n);
            out.enforcing_consecutive_local_origin_failure = u32v(100);
        }
        out.enforcing_local_origin_success_rate = u32v(0);
    }
    w.cluster.outlier_detection = Some(out);
    let min_health = o.min_health_percent.unwrap_or(0);
    if min_health >= 0 {
        w.cluster.common_lb_config.get_or_insert_with(Default::default).healthy_panic_threshold =
            Some(Percent { value: f64::from(min_health) });
    }
}

/// Istio's `applyLoadBalancer` (locality settings not yet applied): LEAST_REQUEST by default,
/// consistent hash as RING_HASH (default ring 1024) or MAGLEV; ORIGINAL_DST is CLUSTER_PROVIDED.
pub fn load_balancer(w: &mut Wrapper, lb: Option<&LoadBalancerSettings>) {
    use envoy_types::pb::envoy::config::cluster::v3::cluster::DiscoveryType;
    if w.discovery() == Some(DiscoveryType::OriginalDst) {
        w.cluster.lb_policy = LbPolicy::ClusterProvided as i32;
        return;
    }
    let slow_start = lb.and_then(slow_start);
    let (policy, config) = match lb.and_then(|l| l.simple) {
        Some(SimpleLb::Random) => (LbPolicy::Random, None),
        Some(SimpleLb::RoundRobin) => (
            LbPolicy::RoundRobin,
            slow_start.map(|s| LbConfig::RoundRobinLbConfig(RoundRobinLbConfig { slow_start_config: Some(s) })),
        ),
        _ => (
            LbPolicy::LeastRequest,
            slow_start.map(|s| {
                LbConfig::LeastRequestLbConfig(LeastRequestLbConfig {
                    slow_start_config: Some(s),
                    ..Default::default()
                })
            }),
        ),
    };
    w.cluster.lb_policy = policy as i32;
    w.cluster.lb_config = config;
    if let Some(hash) = lb.and_then(|l| l.consistent_hash.as_ref()) {
        let (policy, config) = match (&hash.maglev, &hash.ring_hash) {
            (Some(m), _) => (
                LbPolicy::Maglev,
                m.table_size
                    .filter(|n| *n > 0)
                    .map(|n| LbConfig::MaglevLbConfig(MaglevLbConfig { table_size: Some(UInt64Value { value: n }) })),
            ),
            (None, Some(r)) => (LbPolicy::RingHash, r.minimum_ring_size.filter(|n| *n > 0).map(ring)),
            (None, None) => (LbPolicy::RingHash, Some(ring(hash.minimum_ring_size.filter(|n| *n > 0).unwrap_or(1024)))),
        };
        w.cluster.lb_policy = policy as i32;
        w.cluster.lb_config = config;
    }
}

fn ring(min: u64) -> LbConfig {
    LbConfig::RingHashLbConfig(RingHashLbConfig {
        minimum_ring_size: Some(UInt64Value { value: min }),
        ..Default::default()
    })
}

/// Istio's `setWarmup` (aggression 1 and minimum 10% unless set) or the deprecated
/// `warmupDurationSecs`.
fn slow_start(
    lb: &LoadBalancerSettings,
) -> Option<envoy_types::pb::envoy::config::cluster::v3::cluster::SlowStartConfig> {
    use envoy_types::pb::envoy::config::cluster::v3::cluster::SlowStartConfig;
    if let Some(w) = &lb.warmup {
        return Some(SlowStartConfig {
            slow_start_window: w.duration.map(|d| duration(d.get())),
            aggression: Some(RuntimeDouble {
                default_value: w.aggression.unwrap_or(1.0),
                runtime_key: "strait.warmup.aggression".into(),
            }),
            min_weight_percent: Some(Percent { value: w.minimum_percent.unwrap_or(10.0) }),
        });
    }
    lb.warmup_duration_secs
        .map(|d| SlowStartConfig { slow_start_window: Some(duration(d.get())), ..Default::default() })
}

/// A std duration as a protobuf duration.
pub fn duration(d: std::time::Duration) -> Duration {
    Duration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

/// Cluster metadata `filter_metadata.istio`: `services`, `config` (the rule) and `subset`,
/// which istioctl and telemetry read.
pub fn metadata(
    service: &strait_registry::Service,
    rule: Option<&std::rc::Rc<crate::destination_rules::Applied>>,
    subset: &str,
) -> Metadata {
    use crate::endpoints::meta::{list, string, structure};
    let svc = structure([
        ("host", string(&service.hostname)),
        ("name", string(super::service_short_name(service))),
        ("namespace", string(&service.namespace)),
    ]);
    let mut fields = vec![("services", list(vec![svc]))];
    if let Some(r) = rule {
        let name = r.names.first().map(String::as_str).unwrap_or_default();
        let config = format!("/apis/networking.istio.io/v1/namespaces/{}/destination-rule/{name}", r.namespace);
        fields.push(("config", string(&config)));
        if !subset.is_empty() {
            fields.push(("subset", string(subset)));
        }
    }
    let mut md = Metadata { filter_metadata: crate::any::stable_map(), ..Default::default() };
    if let Some(envoy_types::pb::google::protobuf::value::Kind::StructValue(s)) = structure(fields).kind {
        md.filter_metadata.insert("istio".into(), s);
    }
    md
}
