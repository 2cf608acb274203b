//! The network filters of our listeners: the HTTP connection manager (routes over ADS or
//! inline, fault → CORS → router filters, WebSocket upgrades always allowed as in Istio, CONNECT
//! on the capture-free explicit proxy, the stdout access log) and the TCP proxy (one cluster or
//! weighted clusters, same access log).

use super::access_log;
use crate::any::pack;
use envoy_types::pb::envoy::config::core::v3::{
    AggregatedConfigSource, ApiVersion, ConfigSource, config_source::ConfigSourceSpecifier,
};
use envoy_types::pb::envoy::config::listener::v3::{Filter, filter};
use envoy_types::pb::envoy::config::route::v3::RouteConfiguration;
use envoy_types::pb::envoy::extensions::filters::http::cors::v3::Cors;
use envoy_types::pb::envoy::extensions::filters::http::fault::v3::HttpFault;
use envoy_types::pb::envoy::extensions::filters::http::router::v3::Router;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, HttpFilter, Rds,
    http_connection_manager::{CodecType, RouteSpecifier, UpgradeConfig},
    http_filter,
};
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{
    TcpProxy,
    tcp_proxy::{ClusterSpecifier, WeightedCluster, weighted_cluster::ClusterWeight},
};
use envoy_types::pb::google::protobuf::{Any, BoolValue};

/// Network filter names.
pub const HCM_FILTER: &str = "envoy.filters.network.http_connection_manager";
/// The TCP proxy network filter.
pub const TCP_PROXY_FILTER: &str = "envoy.filters.network.tcp_proxy";

/// Where an HTTP connection manager gets its routes.
pub enum Routes {
    /// RDS over the ADS stream, by route config name.
    Rds(String),
    /// Inline (inbound listeners, static bootstraps).
    Inline(RouteConfiguration),
}

/// Which HTTP filters run before the router.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Outbound: fault injection and CORS come from VirtualServices.
    Outbound,
    /// Inbound: only the router (authz filters arrive later).
    Inbound,
}

fn http_filter(name: &str, config: Any) -> HttpFilter {
    HttpFilter {
        name: name.into(),
        config_type: Some(http_filter::ConfigType::TypedConfig(config)),
        ..Default::default()
    }
}

/// An HTTP connection manager.
pub fn http_connection_manager(stat_prefix: String, routes: Routes, direction: Direction) -> HttpConnectionManager {
    let mut filters = Vec::new();
    if direction == Direction::Outbound {
        filters.push(http_filter(crate::routes::FAULT_FILTER, pack(&HttpFault::default())));
        filters.push(http_filter(crate::routes::CORS_FILTER, pack(&Cors::default())));
    }
    filters.push(http_filter("envoy.filters.http.router", pack(&Router::default())));
    let mut upgrade_configs = vec![UpgradeConfig { upgrade_type: "websocket".into(), ..Default::default() }];
    if matches!(&routes, Routes::Rds(name) if name == crate::routes::HTTP_PROXY_ROUTE) {
        // The explicit proxy of capture-free sidecars also tunnels CONNECT (HTTPS_PROXY).
        upgrade_configs.push(UpgradeConfig { upgrade_type: "CONNECT".into(), ..Default::default() });
    }
    let route_specifier = match routes {
        Routes::Rds(name) => RouteSpecifier::Rds(Rds { config_source: Some(ads()), route_config_name: name }),
        Routes::Inline(rc) => RouteSpecifier::RouteConfig(rc),
    };
    HttpConnectionManager {
        codec_type: CodecType::Auto as i32,
        stat_prefix,
        http_filters: filters,
        access_log: vec![access_log::stdout()],
        use_remote_address: Some(BoolValue { value: false }),
        normalize_path: Some(BoolValue { value: true }),
        upgrade_configs,
        route_specifier: Some(route_specifier),
        ..Default::default()
    }
}

/// Config from the ADS stream (xDS v3).
pub fn ads() -> ConfigSource {
    ConfigSource {
        resource_api_version: ApiVersion::V3 as i32,
        config_source_specifier: Some(ConfigSourceSpecifier::Ads(AggregatedConfigSource {})),
        ..Default::default()
    }
}

/// The HCM as a network filter.
pub fn hcm_filter(hcm: &HttpConnectionManager) -> Filter {
    Filter { name: HCM_FILTER.into(), config_type: Some(filter::ConfigType::TypedConfig(pack(hcm))) }
}

/// A TCP proxy to one cluster, or to weighted clusters when `clusters` has several.
pub fn tcp_proxy_filter(stat_prefix: String, clusters: Vec<(String, u32)>) -> Filter {
    let specifier = match clusters.as_slice() {
        [(name, _)] => ClusterSpecifier::Cluster(name.clone()),
        _ => ClusterSpecifier::WeightedClusters(WeightedCluster {
            clusters: clusters
                .into_iter()
                .map(|(name, weight)| ClusterWeight { name, weight, ..Default::default() })
                .collect(),
        }),
    };
    let proxy = TcpProxy {
        stat_prefix,
        access_log: vec![access_log::stdout()],
        cluster_specifier: Some(specifier),
        ..Default::default()
    };
    Filter { name: TCP_PROXY_FILTER.into(), config_type: Some(filter::ConfigType::TypedConfig(pack(&proxy))) }
}
