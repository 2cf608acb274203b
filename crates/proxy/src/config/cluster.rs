//! Clusters and endpoints: `Cluster` → [`Cluster`] (discovery: EDS, STATIC or ORIGINAL_DST;
//! load-balancing policy; connect timeout; upstream protocol; idle timeout; source bind;
//! TCP keepalive) and `ClusterLoadAssignment` → [`LoadAssignment`] (healthy and all hosts
//! with weights, each set with lazily built balancers per policy, so picker state lives as
//! long as the host set). Circuit-breaker limits, outlier detection, TLS, DNS discovery and
//! consistent-hash load balancers are NACKed until implemented.

use super::{ConfigError, Result, duration, no_other_fields, unpack};
use crate::lb::{Balancer, Policy};
use envoy_types::pb::envoy::config::cluster::v3::{
    CircuitBreakers, Cluster as EnvoyCluster,
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
    /// Idle timeout of pooled connections (Envoy's default 1 h).
    pub idle_timeout: Duration,
    /// Source address for upstream connections.
    pub bind: Option<IpAddr>,
    /// SO_KEEPALIVE idle time.
    pub keepalive: Option<Duration>,
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
    balancers: [OnceLock<Balancer>; 3],
}

impl HostSet {
    fn new(hosts: Vec<(SocketAddr, u32)>) -> Self {
        let (hosts, weights) = hosts.into_iter().unzip();
        HostSet { hosts, weights, balancers: Default::default() }
    }

    /// The balancer for `policy` (built on first use, then kept with this host set).
    pub fn balancer(&self, policy: Policy) -> &Balancer {
        let slot = match policy {
            Policy::RoundRobin => 0,
            Policy::LeastRequest => 1,
            Policy::Random => 2,
        };
        self.balancers[slot].get_or_init(|| Balancer::new(policy, &self.weights))
    }
}

impl LoadAssignment {
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
            (c.outlier_detection.is_some(), "outlier_detection"),
            (!c.health_checks.is_empty(), "health_checks"),
            (c.lb_subset_config.is_some(), "lb_subset_config"),
        ];
        if let Some((_, field)) = named.iter().find(|(set, _)| *set) {
            return Err(ConfigError::unsupported(*field));
        }
        let discovery = discovery(c)?;
        let lb = match LbPolicy::try_from(c.lb_policy) {
            Ok(LbPolicy::RoundRobin | LbPolicy::ClusterProvided) => Policy::RoundRobin,
            Ok(LbPolicy::LeastRequest) => Policy::LeastRequest,
            Ok(LbPolicy::Random) => Policy::Random,
            _ => return Err(ConfigError::new("lb_policy", "only ROUND_ROBIN, LEAST_REQUEST and RANDOM are supported")),
        };
        let panic_threshold = common_lb(c.common_lb_config.as_ref()).map_err(|e| e.within("common_lb_config"))?;
        circuit_breakers(c.circuit_breakers.as_ref()).map_err(|e| e.within("circuit_breakers"))?;
        let (protocol, idle_timeout) = http_options(c)?;
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
            idle_timeout,
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

fn common_lb(c: Option<&CommonLbConfig>) -> Result<f64> {
    let Some(c) = c else { return Ok(50.0) };
    no_other_fields(&CommonLbConfig { healthy_panic_threshold: None, ..c.clone() })?;
    Ok(c.healthy_panic_threshold.as_ref().map_or(50.0, |p| p.value))
}

/// Only Istio's "unlimited" thresholds are accepted until circuit breaking is implemented.
fn circuit_breakers(cb: Option<&CircuitBreakers>) -> Result<()> {
    let Some(cb) = cb else { return Ok(()) };
    for (i, t) in cb.thresholds.iter().enumerate() {
        let limited = [&t.max_connections, &t.max_pending_requests, &t.max_requests, &t.max_retries]
            .into_iter()
            .any(|v| v.as_ref().is_some_and(|v| v.value != u32::MAX));
        if limited || t.retry_budget.is_some() {
            return Err(ConfigError::new(
                format!("thresholds[{i}]"),
                "circuit-breaker limits are not supported by the Strait proxy yet",
            ));
        }
    }
    if !cb.per_host_thresholds.is_empty() {
        return Err(ConfigError::unsupported("per_host_thresholds"));
    }
    Ok(())
}

fn http_options(c: &EnvoyCluster) -> Result<(Protocol, Duration)> {
    let mut protocol = Protocol::Http1;
    let mut idle = Duration::from_secs(3600);
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
            if let Some(d) = duration(&format!("{field}.idle_timeout"), common.idle_timeout.as_ref())? {
                idle = d;
            }
            let rest = CommonHttpOptions { idle_timeout: None, ..*common };
            no_other_fields(&rest).map_err(|e| e.within(format!("{field}.common_http_protocol_options")))?;
        }
        let rest = HttpProtocolOptions { upstream_protocol_options: None, common_http_protocol_options: None, ..opts };
        no_other_fields(&rest).map_err(|e| e.within(field))?;
    }
    Ok((protocol, idle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::envoy::config::cluster::v3::OutlierDetection;

    #[test]
    #[allow(deprecated)]
    fn outlier_detection_is_nacked_by_name() {
        let c = EnvoyCluster {
            name: "c".into(),
            cluster_discovery_type: Some(ClusterDiscoveryType::Type(DiscoveryType::Eds as i32)),
            outlier_detection: Some(OutlierDetection::default()),
            ..Default::default()
        };
        let e = Cluster::try_from(&c).expect_err("outlier detection is not implemented");
        assert_eq!(e.to_string(), "outlier_detection: not supported by the Strait proxy");
        let c = EnvoyCluster { outlier_detection: None, dns_refresh_rate: Some(Default::default()), ..c };
        let e = Cluster::try_from(&c).expect_err("DNS settings on an EDS cluster are not understood");
        assert!(e.to_string().contains("field number 16 of envoy.config.cluster.v3.Cluster"), "{e}");
    }

    #[test]
    fn panic_mode_uses_every_host() {
        let la = LoadAssignment {
            healthy: HostSet::new(vec![("127.0.0.1:1".parse().expect("addr"), 1)]),
            all: HostSet::new(vec![
                ("127.0.0.1:1".parse().expect("addr"), 1),
                ("127.0.0.1:2".parse().expect("addr"), 1),
                ("127.0.0.1:3".parse().expect("addr"), 1),
            ]),
        };
        assert_eq!(la.for_lb(50.0).hosts.len(), 3, "1 of 3 healthy is below 50%");
        assert_eq!(la.for_lb(0.0).hosts.len(), 1);
    }
}
