//! Clusters and endpoints: `Cluster` → [`Cluster`] (discovery: EDS, STATIC or ORIGINAL_DST;
//! load-balancing policy; connect timeout; upstream protocol; connection limits per
//! connection — idle timeout, requests, duration; source bind; TCP keepalive; circuit-breaker
//! thresholds ([`breakers`]); outlier detection ([`outlier`])) and `ClusterLoadAssignment` →
//! [`LoadAssignment`] (healthy and all hosts with weights, each set with lazily built
//! balancers per policy, so picker state lives as long as the host set). The run-time state
//! of circuit breakers and outlier detection lives with the compiled cluster too, so a
//! changed cluster starts afresh, as in Envoy. TLS, DNS discovery and health checks are
//! NACKed until implemented.

pub mod breakers;
pub mod outlier;

use super::{ConfigError, Result, duration, no_other_fields, unpack};
use crate::lb::{Balancer, Policy};
use crate::upstream::breakers::Breakers;
use crate::upstream::outlier::Detector;
use envoy_types::pb::envoy::config::cluster::v3::{
    Cluster as EnvoyCluster,
    cluster::{ClusterDiscoveryType, CommonLbConfig, DiscoveryType, LbConfig, LbPolicy},
};
use envoy_types::pb::envoy::config::core::v3::{HealthStatus, HttpProtocolOptions as CommonHttpOptions};
use envoy_types::pb::envoy::config::endpoint::v3::{ClusterLoadAssignment, lb_endpoint::HostIdentifier};
use envoy_types::pb::envoy::extensions::upstreams::http::v3::{
    HttpProtocolOptions,
    http_protocol_options::{ExplicitHttpConfig, UpstreamProtocolOptions, explicit_http_config::ProtocolConfig},
};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Key of the upstream HTTP options in `typed_extension_protocol_options`.
pub const HTTP_PROTOCOL_OPTIONS: &str = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

/// A compiled cluster.
#[derive(Debug)]
pub struct Cluster {
    /// Name (`outbound|9080|v1|reviews.default.svc.cluster.local`).
    pub name: String,
    /// Where its hosts come from.
    pub discovery: Discovery,
    /// Endpoint load balancing.
    pub lb: Policy,
    /// Envoy's healthy panic threshold (percent): below it, all hosts are used.
    pub panic_threshold: f64,
    /// TCP connect timeout (Envoy's default 5 s).
    pub connect_timeout: Duration,
    /// Upstream HTTP protocol.
    pub protocol: Protocol,
    /// Limits of each upstream HTTP connection.
    pub connection: ConnectionLimits,
    /// Circuit-breaker thresholds.
    pub limits: breakers::Limits,
    /// Circuit-breaker counters.
    pub breakers: Breakers,
    /// Outlier detection (config and state), if configured.
    pub outlier: Option<Arc<Detector>>,
    /// Source address for upstream connections.
    pub bind: Option<IpAddr>,
    /// SO_KEEPALIVE idle time.
    pub keepalive: Option<Duration>,
}

/// Limits of one upstream HTTP connection (`common_http_protocol_options`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Closed after this long without requests (Envoy's default 1 h; None: never).
    pub idle_timeout: Option<Duration>,
    /// Closed after serving this many requests.
    pub max_requests: Option<u32>,
    /// Closed (once idle) after this long open.
    pub max_duration: Option<Duration>,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits { idle_timeout: Some(Duration::from_secs(3600)), max_requests: None, max_duration: None }
    }
}

/// Where a cluster's hosts come from.
#[derive(Debug)]
pub enum Discovery {
    /// EDS over ADS, by service name.
    Eds(String),
    /// Inline (STATIC).
    Static(Arc<LoadAssignment>),
    /// The destination the request names (capture-free: the header given, `:authority`).
    OriginalDst(Option<String>),
}

/// Upstream HTTP protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1.
    Http1,
    /// HTTP/2 (prior knowledge).
    Http2,
    /// Whatever the downstream spoke.
    Downstream,
}

/// The hosts of a cluster.
#[derive(Debug, Default)]
pub struct LoadAssignment {
    /// Healthy (or health-unknown) hosts.
    pub healthy: HostSet,
    /// Every host.
    pub all: HostSet,
}

/// A set of hosts with their balancers.
#[derive(Debug, Default)]
pub struct HostSet {
    /// Addresses.
    pub hosts: Vec<SocketAddr>,
    weights: Vec<u32>,
    balancers: [OnceLock<Balancer>; 5],
}

impl HostSet {
    fn new(hosts: Vec<(SocketAddr, u32)>) -> Self {
        let (hosts, weights) = hosts.into_iter().unzip();
        HostSet { hosts, weights, balancers: Default::default() }
    }

    /// The same hosts minus those `skip` names (with fresh balancers).
    pub fn without(&self, skip: impl Fn(&SocketAddr) -> bool) -> HostSet {
        let kept = self.hosts.iter().zip(&self.weights).filter(|(a, _)| !skip(a)).map(|(a, w)| (*a, *w));
        HostSet::new(kept.collect())
    }

    /// The balancer for `policy` (built on first use, then kept with this host set).
    pub fn balancer(&self, policy: Policy) -> &Balancer {
        let slot = match policy {
            Policy::RoundRobin => 0,
            Policy::LeastRequest => 1,
            Policy::Random => 2,
            Policy::RingHash { .. } => 3,
            Policy::Maglev { .. } => 4,
        };
        self.balancers[slot].get_or_init(|| Balancer::for_hosts(policy, &self.hosts, &self.weights))
    }
}

impl LoadAssignment {
    /// An assignment of these (address, weight) hosts.
    pub fn from_hosts(healthy: Vec<(SocketAddr, u32)>, all: Vec<(SocketAddr, u32)>) -> Self {
        LoadAssignment { healthy: HostSet::new(healthy), all: HostSet::new(all) }
    }

    /// The hosts to balance over: the healthy ones, or all of them when fewer than
    /// `panic_threshold` percent are healthy (Envoy's panic mode).
    pub fn for_lb(&self, panic_threshold: f64) -> &HostSet {
        let total = self.all.hosts.len();
        let healthy = self.healthy.hosts.len();
        if total > 0 && (healthy as f64) * 100.0 < panic_threshold * total as f64 { &self.all } else { &self.healthy }
    }
}

impl TryFrom<&ClusterLoadAssignment> for LoadAssignment {
    type Error = ConfigError;

    fn try_from(cla: &ClusterLoadAssignment) -> Result<Self> {
        let mut healthy = Vec::new();
        let mut all = Vec::new();
        for (i, locality) in cla.endpoints.iter().enumerate() {
            let at = |e: ConfigError| e.within(format!("[{i}]")).within("endpoints");
            if locality.priority != 0 {
                return Err(at(ConfigError::unsupported("priority")));
            }
            for (j, ep) in locality.lb_endpoints.iter().enumerate() {
                let at = |e: ConfigError| at(e.within(format!("[{j}]")).within("lb_endpoints"));
                let Some(HostIdentifier::Endpoint(endpoint)) = &ep.host_identifier else {
                    return Err(at(ConfigError::unsupported("endpoint_name")));
                };
                let addr = super::listener::socket_addr("endpoint.address", endpoint.address.as_ref()).map_err(at)?;
                let weight = ep.load_balancing_weight.as_ref().map_or(1, |w| w.value.max(1));
                all.push((addr, weight));
                if matches!(HealthStatus::try_from(ep.health_status), Ok(HealthStatus::Unknown | HealthStatus::Healthy))
                {
                    healthy.push((addr, weight));
                }
            }
        }
        if cla.policy.is_some() {
            return Err(ConfigError::unsupported("policy"));
        }
        Ok(LoadAssignment { healthy: HostSet::new(healthy), all: HostSet::new(all) })
    }
}

impl TryFrom<&EnvoyCluster> for Cluster {
    type Error = ConfigError;

    fn try_from(c: &EnvoyCluster) -> Result<Self> {
        // The features users are most likely to meet first, by name (the rest by number).
        let named = [
            (c.transport_socket.is_some() || !c.transport_socket_matches.is_empty(), "transport_socket"),
            (!c.health_checks.is_empty(), "health_checks"),
            (c.lb_subset_config.is_some(), "lb_subset_config"),
        ];
        if let Some((_, field)) = named.iter().find(|(set, _)| *set) {
            return Err(ConfigError::unsupported(*field));
        }
        let discovery = discovery(c)?;
        let lb = lb_policy(c)?;
        let panic_threshold = common_lb(c.common_lb_config.as_ref()).map_err(|e| e.within("common_lb_config"))?;
        let limits = breakers::compile(c.circuit_breakers.as_ref()).map_err(|e| e.within("circuit_breakers"))?;
        let outlier = match &c.outlier_detection {
            Some(o) => Some(Arc::new(Detector::new(
                outlier::OutlierConfig::try_from(o).map_err(|e| e.within("outlier_detection"))?,
            ))),
            None => None,
        };
        let (protocol, connection) = http_options(c)?;
        let bind = match &c.upstream_bind_config {
            Some(b) => {
                let ip = b.source_address.as_ref().map(|a| a.address.parse::<IpAddr>());
                let Some(Ok(ip)) = ip else {
                    return Err(ConfigError::new("upstream_bind_config.source_address", "an IP is required"));
                };
                Some(ip)
            }
            None => None,
        };
        let keepalive = c
            .upstream_connection_options
            .as_ref()
            .and_then(|o| o.tcp_keepalive.as_ref())
            .map(|k| Duration::from_secs(u64::from(k.keepalive_time.as_ref().map_or(7200, |t| t.value))));
        let rest = EnvoyCluster {
            name: String::new(),
            alt_stat_name: String::new(),
            cluster_discovery_type: None,
            eds_cluster_config: None,
            load_assignment: None,
            lb_config: None,
            connect_timeout: None,
            lb_policy: 0,
            common_lb_config: None,
            circuit_breakers: None,
            outlier_detection: None,
            typed_extension_protocol_options: Default::default(),
            upstream_bind_config: None,
            upstream_connection_options: None,
            metadata: None,
            ..c.clone()
        };
        no_other_fields(&rest)?;
        Ok(Cluster {
            name: c.name.clone(),
            discovery,
            lb,
            panic_threshold,
            connect_timeout: duration("connect_timeout", c.connect_timeout.as_ref())?.unwrap_or(Duration::from_secs(5)),
            protocol,
            connection,
            breakers: Breakers::new(&limits),
            limits,
            outlier,
            bind,
            keepalive,
        })
    }
}

fn discovery(c: &EnvoyCluster) -> Result<Discovery> {
    let kind = match &c.cluster_discovery_type {
        Some(ClusterDiscoveryType::Type(t)) => DiscoveryType::try_from(*t).ok(),
        None => Some(DiscoveryType::Static),
        Some(ClusterDiscoveryType::ClusterType(_)) => None,
    };
    let lb_config_ok = |c: &EnvoyCluster| match &c.lb_config {
        None => Ok(()),
        Some(LbConfig::RoundRobinLbConfig(r)) if r.slow_start_config.is_none() => Ok(()),
        Some(LbConfig::LeastRequestLbConfig(l)) if l.slow_start_config.is_none() => Ok(()),
        // Checked with the policy (`lb_policy`).
        Some(LbConfig::RingHashLbConfig(_) | LbConfig::MaglevLbConfig(_)) => Ok(()),
        Some(_) => Err(ConfigError::unsupported("lb_config")),
    };
    match kind {
        Some(DiscoveryType::Eds) => {
            lb_config_ok(c)?;
            let name = c.eds_cluster_config.as_ref().map(|e| e.service_name.clone()).filter(|n| !n.is_empty());
            Ok(Discovery::Eds(name.unwrap_or_else(|| c.name.clone())))
        }
        Some(DiscoveryType::Static) => {
            lb_config_ok(c)?;
            let cla = c.load_assignment.clone().unwrap_or_default();
            Ok(Discovery::Static(Arc::new(LoadAssignment::try_from(&cla).map_err(|e| e.within("load_assignment"))?)))
        }
        Some(DiscoveryType::OriginalDst) => match &c.lb_config {
            Some(LbConfig::OriginalDstLbConfig(o)) => {
                if o.upstream_port_override.is_some() || o.metadata_key.is_some() {
                    return Err(ConfigError::unsupported("lb_config.original_dst_lb_config"));
                }
                let header =
                    if o.http_header_name.is_empty() { "x-envoy-original-dst-host" } else { &o.http_header_name };
                Ok(Discovery::OriginalDst(o.use_http_header.then(|| header.to_ascii_lowercase())))
            }
            None => Ok(Discovery::OriginalDst(None)),
            Some(_) => Err(ConfigError::unsupported("lb_config")),
        },
        _ => Err(ConfigError::new(
            "type",
            "only EDS, STATIC and ORIGINAL_DST clusters are supported by the Strait proxy",
        )),
    }
}

/// The endpoint load-balancing policy, with Envoy's checks and defaults for consistent
/// hashing (ring of 1024 to 8M points hashed with xxHash; a Maglev table of 65537 slots).
fn lb_policy(c: &EnvoyCluster) -> Result<Policy> {
    use envoy_types::pb::envoy::config::cluster::v3::cluster::ring_hash_lb_config::HashFunction;
    let config = |what: &str| ConfigError::new("lb_config", format!("a {what} policy takes only its own lb_config"));
    match LbPolicy::try_from(c.lb_policy) {
        Ok(LbPolicy::RoundRobin | LbPolicy::ClusterProvided) => Ok(Policy::RoundRobin),
        Ok(LbPolicy::LeastRequest) => Ok(Policy::LeastRequest),
        Ok(LbPolicy::Random) => Ok(Policy::Random),
        Ok(LbPolicy::RingHash) => {
            let r = match &c.lb_config {
                Some(LbConfig::RingHashLbConfig(r)) => Some(r),
                None => None,
                Some(_) => return Err(config("RING_HASH")),
            };
            if r.is_some_and(|r| r.hash_function != HashFunction::XxHash as i32) {
                return Err(ConfigError::unsupported("lb_config.ring_hash_lb_config.hash_function"));
            }
            let min = r.and_then(|r| r.minimum_ring_size.as_ref()).map_or(1024, |v| v.value);
            let max = r.and_then(|r| r.maximum_ring_size.as_ref()).map_or(8 << 20, |v| v.value);
            if min > max || min == 0 {
                // Envoy's words.
                let why = format!("ring hash: minimum_ring_size ({min}) > maximum_ring_size ({max})");
                return Err(ConfigError::new("lb_config.ring_hash_lb_config", why));
            }
            Ok(Policy::RingHash { min, max })
        }
        Ok(LbPolicy::Maglev) => {
            let table_size = match &c.lb_config {
                Some(LbConfig::MaglevLbConfig(m)) => m.table_size.as_ref().map_or(65537, |v| v.value),
                None => 65537,
                Some(_) => return Err(config("MAGLEV")),
            };
            if table_size > 5_000_011 {
                // Envoy's validation bound.
                return Err(ConfigError::new("lb_config.maglev_lb_config.table_size", "must be at most 5000011"));
            }
            if !is_prime(table_size) {
                let why = "The table size of maglev must be prime number";
                return Err(ConfigError::new("lb_config.maglev_lb_config.table_size", why));
            }
            Ok(Policy::Maglev { table_size })
        }
        _ => Err(ConfigError::new("lb_policy", "not supported by the Strait proxy")),
    }
}

fn is_prime(n: u64) -> bool {
    n >= 2 && (2u64..).take_while(|d| d.checked_mul(*d).is_some_and(|sq| sq <= n)).all(|d| !n.is_multiple_of(d))
}

fn common_lb(c: Option<&CommonLbConfig>) -> Result<f64> {
    let Some(c) = c else { return Ok(50.0) };
    no_other_fields(&CommonLbConfig { healthy_panic_threshold: None, ..c.clone() })?;
    Ok(c.healthy_panic_threshold.as_ref().map_or(50.0, |p| p.value))
}

fn http_options(c: &EnvoyCluster) -> Result<(Protocol, ConnectionLimits)> {
    let mut protocol = Protocol::Http1;
    let mut limits = ConnectionLimits::default();
    for (key, any) in &c.typed_extension_protocol_options {
        let field = format!("typed_extension_protocol_options[{key}]");
        if key != HTTP_PROTOCOL_OPTIONS {
            return Err(ConfigError::unsupported(field));
        }
        let opts: HttpProtocolOptions = unpack(&field, any)?;
        protocol = match &opts.upstream_protocol_options {
            Some(UpstreamProtocolOptions::ExplicitHttpConfig(ExplicitHttpConfig { protocol_config: Some(p) })) => {
                match p {
                    ProtocolConfig::HttpProtocolOptions(h1) if *h1 == Default::default() => Protocol::Http1,
                    ProtocolConfig::Http2ProtocolOptions(h2) if *h2 == Default::default() => Protocol::Http2,
                    _ => return Err(ConfigError::unsupported(format!("{field}.explicit_http_config"))),
                }
            }
            Some(UpstreamProtocolOptions::UseDownstreamProtocolConfig(_)) => Protocol::Downstream,
            None => Protocol::Http1,
            Some(_) => return Err(ConfigError::unsupported(format!("{field}.upstream_protocol_options"))),
        };
        if let Some(common) = &opts.common_http_protocol_options {
            let at = |e: ConfigError| e.within("common_http_protocol_options").within(field.clone());
            limits = connection_limits(common).map_err(at)?;
        }
        let rest = HttpProtocolOptions { upstream_protocol_options: None, common_http_protocol_options: None, ..opts };
        no_other_fields(&rest).map_err(|e| e.within(field))?;
    }
    Ok((protocol, limits))
}

/// `common_http_protocol_options`: idle timeout (0 disables it, as in Envoy), requests per
/// connection, connection duration.
fn connection_limits(common: &CommonHttpOptions) -> Result<ConnectionLimits> {
    let mut limits = ConnectionLimits::default();
    if let Some(d) = duration("idle_timeout", common.idle_timeout.as_ref())? {
        limits.idle_timeout = (!d.is_zero()).then_some(d);
    }
    limits.max_requests = common.max_requests_per_connection.as_ref().map(|v| v.value).filter(|n| *n > 0);
    limits.max_duration = duration("max_connection_duration", common.max_connection_duration.as_ref())?;
    let rest = CommonHttpOptions {
        idle_timeout: None,
        max_requests_per_connection: None,
        max_connection_duration: None,
        ..*common
    };
    no_other_fields(&rest)?;
    Ok(limits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::envoy::config::cluster::v3::OutlierDetection;

    fn eds() -> EnvoyCluster {
        EnvoyCluster {
            name: "c".into(),
            cluster_discovery_type: Some(ClusterDiscoveryType::Type(DiscoveryType::Eds as i32)),
            ..Default::default()
        }
    }

    #[test]
    #[allow(deprecated)]
    fn unsupported_settings_are_nacked_by_name() {
        let c = EnvoyCluster { outlier_detection: Some(OutlierDetection::default()), ..eds() };
        let e = Cluster::try_from(&c).expect_err("success-rate ejection is not implemented");
        assert!(e.to_string().starts_with("outlier_detection.enforcing_success_rate: "), "{e}");
        let c = EnvoyCluster { dns_refresh_rate: Some(Default::default()), ..eds() };
        let e = Cluster::try_from(&c).expect_err("DNS settings on an EDS cluster are not understood");
        assert!(e.to_string().contains("field number 16 of envoy.config.cluster.v3.Cluster"), "{e}");
    }

    #[test]
    fn consistent_hash_policies_take_envoy_defaults_and_checks() {
        use envoy_types::pb::envoy::config::cluster::v3::cluster::{MaglevLbConfig, RingHashLbConfig};
        use envoy_types::pb::google::protobuf::UInt64Value;
        let with = |policy: LbPolicy, config: Option<LbConfig>| {
            lb_policy(&EnvoyCluster { lb_policy: policy as i32, lb_config: config, ..eds() })
        };
        assert_eq!(with(LbPolicy::RingHash, None), Ok(Policy::RingHash { min: 1024, max: 8 << 20 }));
        assert_eq!(with(LbPolicy::Maglev, None), Ok(Policy::Maglev { table_size: 65537 }));
        let murmur = RingHashLbConfig { hash_function: 1, ..Default::default() };
        let e = with(LbPolicy::RingHash, Some(LbConfig::RingHashLbConfig(murmur))).expect_err("murmur");
        assert!(e.to_string().starts_with("lb_config.ring_hash_lb_config.hash_function: "), "{e}");
        let even = MaglevLbConfig { table_size: Some(UInt64Value { value: 1000 }) };
        let e = with(LbPolicy::Maglev, Some(LbConfig::MaglevLbConfig(even))).expect_err("not prime");
        assert!(e.to_string().contains("must be prime number"), "{e}");
    }

    #[test]
    fn connection_limits_come_from_common_http_options() {
        use envoy_types::pb::google::protobuf::{Duration as PbDuration, UInt32Value};
        let common = CommonHttpOptions {
            idle_timeout: Some(PbDuration { seconds: 2, nanos: 0 }),
            max_requests_per_connection: Some(UInt32Value { value: 1 }),
            ..Default::default()
        };
        let limits = connection_limits(&common).expect("supported");
        assert_eq!(limits.idle_timeout, Some(Duration::from_secs(2)));
        assert_eq!((limits.max_requests, limits.max_duration), (Some(1), None));
        let never = CommonHttpOptions { idle_timeout: Some(PbDuration::default()), ..Default::default() };
        assert_eq!(connection_limits(&never).expect("supported").idle_timeout, None, "0 disables it");
    }

    #[test]
    fn panic_mode_uses_every_host() {
        let addr = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
        let la = LoadAssignment::from_hosts(vec![(addr(1), 1)], vec![(addr(1), 1), (addr(2), 1), (addr(3), 1)]);
        assert_eq!(la.for_lb(50.0).hosts.len(), 3, "1 of 3 healthy is below 50%");
        assert_eq!(la.for_lb(0.0).hosts.len(), 1);
        assert_eq!(la.all.without(|a| *a == addr(2)).hosts, [addr(1), addr(3)]);
    }
}
