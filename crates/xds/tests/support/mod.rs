//! Envoy as the oracle for generated snapshots: a binary bootstrap holding a whole
//! [`Snapshot`] (clusters, every EDS assignment as a STATIC check cluster, listeners still on
//! RDS over ADS, and every route config inline in its own check listener so Envoy validates the
//! routes too), and `envoy --mode validate` on it. Also finds `envoy` (skip locally, fail
//! under `CI=true`).

#![allow(dead_code)]

use envoy_types::pb::envoy::config::bootstrap::v3::{Bootstrap, bootstrap};
use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster::ClusterDiscoveryType, cluster::DiscoveryType};
use envoy_types::pb::envoy::config::core::v3::{
    ApiConfigSource, GrpcService, Node, api_config_source::ApiType, grpc_service::EnvoyGrpc,
    grpc_service::TargetSpecifier,
};
use envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;
use envoy_types::pb::envoy::config::listener::v3::{FilterChain, Listener};
use envoy_types::pb::envoy::extensions::upstreams::http::v3::{
    HttpProtocolOptions, http_protocol_options::ExplicitHttpConfig, http_protocol_options::UpstreamProtocolOptions,
    http_protocol_options::explicit_http_config::ProtocolConfig,
};
use prost::Message;
use std::path::Path;
use strait_xds::Snapshot;
use strait_xds::clusters::HTTP_PROTOCOL_OPTIONS;
use strait_xds::listeners::hcm::{self, Direction, Routes};

fn static_cluster(name: String, cla: ClusterLoadAssignment) -> Cluster {
    Cluster {
        cluster_discovery_type: Some(ClusterDiscoveryType::Type(DiscoveryType::Static as i32)),
        load_assignment: Some(ClusterLoadAssignment { cluster_name: name.clone(), ..cla }),
        name,
        ..Default::default()
    }
}

/// The `xds-grpc` cluster ADS points at (HTTP/2, no endpoints: validate mode never dials).
fn xds_cluster() -> Cluster {
    let mut xds = static_cluster("xds-grpc".into(), ClusterLoadAssignment::default());
    let h2 = UpstreamProtocolOptions::ExplicitHttpConfig(ExplicitHttpConfig {
        protocol_config: Some(ProtocolConfig::Http2ProtocolOptions(Default::default())),
    });
    let opts = HttpProtocolOptions { upstream_protocol_options: Some(h2), ..Default::default() };
    xds.typed_extension_protocol_options.insert(HTTP_PROTOCOL_OPTIONS.into(), strait_xds::any::pack(&opts));
    xds
}

/// One listener per route config, with the config inline, so Envoy checks every route.
fn route_check_listeners(snap: &Snapshot) -> Vec<Listener> {
    snap.routes
        .iter()
        .enumerate()
        .map(|(i, rc)| {
            let port = 20000 + u32::try_from(i).expect("few route configs");
            let h = hcm::http_connection_manager(
                format!("check_{}", rc.name),
                Routes::Inline(rc.clone()),
                Direction::Outbound,
            );
            Listener {
                name: format!("route-check-{}", rc.name),
                address: Some(socket("127.0.0.1", port)),
                filter_chains: vec![FilterChain { filters: vec![hcm::hcm_filter(&h)], ..Default::default() }],
                ..Default::default()
            }
        })
        .collect()
}

fn socket(ip: &str, port: u32) -> envoy_types::pb::envoy::config::core::v3::Address {
    use envoy_types::pb::envoy::config::core::v3::{Address, SocketAddress, address, socket_address::PortSpecifier};
    Address {
        address: Some(address::Address::SocketAddress(SocketAddress {
            address: ip.into(),
            port_specifier: Some(PortSpecifier::PortValue(port)),
            ..Default::default()
        })),
    }
}

/// The whole snapshot as a binary bootstrap for `node_id`.
pub fn snapshot_bootstrap(snap: &Snapshot, node_id: &str) -> Vec<u8> {
    let mut clusters = snap.clusters.clone();
    clusters.extend(
        snap.endpoints.iter().enumerate().map(|(i, cla)| static_cluster(format!("eds-check-{i}"), cla.clone())),
    );
    clusters.push(xds_cluster());
    let mut listeners = snap.listeners.clone();
    listeners.extend(route_check_listeners(snap));
    let ads = ApiConfigSource {
        api_type: ApiType::Grpc as i32,
        transport_api_version: envoy_types::pb::envoy::config::core::v3::ApiVersion::V3 as i32,
        grpc_services: vec![GrpcService {
            target_specifier: Some(TargetSpecifier::EnvoyGrpc(EnvoyGrpc {
                cluster_name: "xds-grpc".into(),
                ..Default::default()
            })),
            ..Default::default()
        }],
        ..Default::default()
    };
    Bootstrap {
        node: Some(Node { id: node_id.into(), cluster: "test".into(), ..Default::default() }),
        static_resources: Some(bootstrap::StaticResources { clusters, listeners, ..Default::default() }),
        dynamic_resources: Some(bootstrap::DynamicResources { ads_config: Some(ads), ..Default::default() }),
        ..Default::default()
    }
    .encode_to_vec()
}

/// A self-signed certificate and its key (openssl, EC P-256) written to `cert` and `key`.
pub fn write_cert(cert: &Path, key: &Path) {
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=strait-test", "-keyout"])
        .arg(key)
        .arg("-out")
        .arg(cert)
        .output()
        .expect("openssl runs");
    assert!(out.status.success(), "openssl: {}", String::from_utf8_lossy(&out.stderr));
}
