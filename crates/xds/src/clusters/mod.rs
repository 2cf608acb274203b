//! CDS: the clusters one proxy gets, as istiod builds them (`cluster.go`, `cluster_builder.go`).
//! One `outbound|PORT||HOST` cluster per visible service port (EDS, STRICT_DNS, LOGICAL_DNS or
//! ORIGINAL_DST by resolution), one `outbound|PORT|SUBSET|HOST` per DestinationRule subset, the
//! `inbound|PORT||` clusters of the proxy's own workload, and the special clusters
//! (`PassthroughCluster`, `BlackHoleCluster`, `InboundPassthroughCluster`).
//!
//! Submodules: [`plan`] (which outbound clusters exist and their policies; shared with EDS),
//! [`policy`] (traffic policy → cluster fields), [`tls`] (client TLS), [`special`] (special and
//! inbound clusters).

pub(crate) mod plan;
pub mod policy;
pub mod special;
pub mod tls;

use crate::endpoints;
use crate::scope::Scope;
use envoy_types::pb::envoy::config::cluster::v3::{
    Cluster,
    cluster::{ClusterDiscoveryType, CommonLbConfig, DiscoveryType, DnsLookupFamily, EdsClusterConfig, LbPolicy},
};
use envoy_types::pb::envoy::config::core::v3::{AggregatedConfigSource, ApiVersion, ConfigSource, config_source};
use envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;
use envoy_types::pb::envoy::extensions::upstreams::http::v3::HttpProtocolOptions;
use envoy_types::pb::google::protobuf::Duration;
use plan::{Discovery, Plan};
use strait_registry::{NodeType, Service};

/// Key of the upstream HTTP options in `typed_extension_protocol_options`.
pub const HTTP_PROTOCOL_OPTIONS: &str = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

/// Builds every cluster of the scope, in [`sort_key`] order.
pub fn build(scope: &Scope<'_>) -> Vec<Cluster> {
    let mut out: Vec<Cluster> = plan::outbound(scope).iter().filter_map(|p| outbound(scope, p)).collect();
    out.extend(special::inbound(scope));
    out.push(special::passthrough(scope));
    out.push(special::blackhole(scope));
    if scope.proxy.id.node_type == NodeType::Sidecar {
        out.push(special::inbound_passthrough(scope));
    }
    out.sort_by(|a, b| sort_key(&a.name).cmp(&sort_key(&b.name)));
    out.dedup_by(|a, b| a.name == b.name);
    out
}

/// Output order: special and inbound clusters by name, then outbound ones by host, port and
/// subset (so a service's default cluster precedes its subsets).
pub fn sort_key(name: &str) -> (bool, &str, u32, &str) {
    match crate::names::parse_outbound_cluster(name) {
        Some((port, subset, host)) => (true, host, port, subset),
        None => (false, name, 0, ""),
    }
}

/// A cluster being built plus its upstream HTTP options, packed by [`Wrapper::finish`] (Istio's
/// `clusterWrapper`).
pub struct Wrapper {
    /// The cluster.
    pub cluster: Cluster,
    /// `envoy.extensions.upstreams.http.v3.HttpProtocolOptions`, when anything set it.
    pub http: Option<HttpProtocolOptions>,
}

impl Wrapper {
    /// A cluster of this discovery type with Istio's common defaults.
    pub fn new(name: &str, discovery: DiscoveryType, connect_timeout: Duration) -> Self {
        let cluster = Cluster {
            name: name.to_string(),
            // Istio's DelimitedStatsPrefix: stats tag extraction splits on the `;`.
            alt_stat_name: format!("{name};"),
            cluster_discovery_type: Some(ClusterDiscoveryType::Type(discovery as i32)),
            connect_timeout: Some(connect_timeout),
            common_lb_config: Some(CommonLbConfig::default()),
            ..Default::default()
        };
        Wrapper { cluster, http: None }
    }

    /// The discovery type.
    pub fn discovery(&self) -> Option<DiscoveryType> {
        match self.cluster.cluster_discovery_type {
            Some(ClusterDiscoveryType::Type(t)) => DiscoveryType::try_from(t).ok(),
            _ => None,
        }
    }

    /// The HTTP options, created on first use.
    pub fn http(&mut self) -> &mut HttpProtocolOptions {
        self.http.get_or_insert_with(HttpProtocolOptions::default)
    }

    /// Packs the HTTP options (Envoy requires an upstream protocol: HTTP/1.1 unless set).
    pub fn finish(mut self) -> Cluster {
        if let Some(mut http) = self.http.take() {
            if http.upstream_protocol_options.is_none() {
                http.upstream_protocol_options = Some(policy::explicit_http1());
            }
            self.cluster.typed_extension_protocol_options.insert(HTTP_PROTOCOL_OPTIONS.into(), crate::any::pack(&http));
        }
        self.cluster
    }
}

/// The EDS config every EDS cluster uses: ADS, v3, no initial fetch timeout (as Istio).
pub fn ads_eds_config(service_name: &str) -> EdsClusterConfig {
    EdsClusterConfig {
        service_name: service_name.to_string(),
        eds_config: Some(ConfigSource {
            config_source_specifier: Some(config_source::ConfigSourceSpecifier::Ads(AggregatedConfigSource {})),
            initial_fetch_timeout: Some(Duration { seconds: 0, nanos: 0 }),
            resource_api_version: ApiVersion::V3 as i32,
            ..Default::default()
        }),
    }
}

/// The mesh connect timeout (`connectTimeout`, default 10s).
pub fn mesh_connect_timeout(scope: &Scope<'_>) -> Duration {
    policy::duration(scope.registry.mesh.effective_connect_timeout().get())
}

/// One outbound cluster from its plan; `None` for a DNS cluster without endpoints (as Istio).
fn outbound(scope: &Scope<'_>, plan: &Plan<'_>) -> Option<Cluster> {
    let discovery = match plan.discovery {
        Discovery::Eds => DiscoveryType::Eds,
        Discovery::StrictDns => DiscoveryType::StrictDns,
        Discovery::LogicalDns => DiscoveryType::LogicalDns,
        Discovery::OriginalDst => DiscoveryType::OriginalDst,
    };
    let mut w = Wrapper::new(&plan.name, discovery, mesh_connect_timeout(scope));
    match plan.discovery {
        Discovery::Eds => w.cluster.eds_cluster_config = Some(ads_eds_config(&plan.name)),
        Discovery::StrictDns | Discovery::LogicalDns => {
            let endpoints = endpoints::locality_endpoints(plan.service, plan.port, &plan.subset_labels);
            let endpoints = if plan.discovery == Discovery::LogicalDns { first_only(endpoints) } else { endpoints };
            if endpoints.is_empty() {
                return None;
            }
            w.cluster.load_assignment =
                Some(ClusterLoadAssignment { cluster_name: plan.name.clone(), endpoints, ..Default::default() });
            dns_settings(scope, &mut w.cluster);
        }
        Discovery::OriginalDst => w.cluster.lb_policy = LbPolicy::ClusterProvided as i32,
    }
    policy::set_upstream_protocol(&mut w, plan.port.protocol, scope.proxy.id.node_type);
    policy::apply(&mut w, plan.policy.as_ref(), plan.port, &scope.registry.mesh);
    tls::apply(&mut w, scope, plan);
    w.cluster.metadata = Some(policy::metadata(plan.service, plan.rule.as_ref(), &plan.subset));
    Some(w.finish())
}

/// LOGICAL_DNS clusters take exactly one endpoint.
fn first_only(
    mut endpoints: Vec<envoy_types::pb::envoy::config::endpoint::v3::LocalityLbEndpoints>,
) -> Vec<envoy_types::pb::envoy::config::endpoint::v3::LocalityLbEndpoints> {
    endpoints.truncate(1);
    if let Some(first) = endpoints.first_mut() {
        first.lb_endpoints.truncate(1);
    }
    endpoints
}

/// DNS lookup family by the proxy's IP family, TTL respected, mesh refresh rate.
fn dns_settings(scope: &Scope<'_>, cluster: &mut Cluster) {
    let v6 = scope.proxy.id.ip.contains(':');
    cluster.dns_lookup_family = if v6 { DnsLookupFamily::V6Only } else { DnsLookupFamily::V4Only } as i32;
    #[allow(deprecated)]
    {
        cluster.respect_dns_ttl = true;
        cluster.dns_refresh_rate = scope.registry.mesh.dns_refresh_rate.map(|d| policy::duration(d.get()));
    }
}

/// The name the service's metadata carries (`name` of a Kubernetes Service, else the host).
pub fn service_short_name(service: &Service) -> &str {
    match service.origin {
        strait_registry::Origin::Kubernetes => service.hostname.split('.').next().unwrap_or(&service.hostname),
        strait_registry::Origin::ServiceEntry { .. } => &service.hostname,
    }
}
