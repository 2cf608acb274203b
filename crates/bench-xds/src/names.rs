//! What a sidecar must subscribe to next, read out of the resources it got: the EDS service
//! names of EDS clusters (from CDS) and the RDS route names of HTTP connection managers (from
//! LDS). Decoding a few megabytes of CDS per stream would make the client, not the control
//! plane, the bottleneck on a 2-core machine, so results are memoised by a caller-chosen key
//! (SotW: type, version and count; Delta: type, name and per-resource version).

use envoy_types::pb::envoy::config::cluster::v3::Cluster;
use envoy_types::pb::envoy::config::cluster::v3::cluster::{ClusterDiscoveryType, DiscoveryType};
use envoy_types::pb::envoy::config::listener::v3::{Filter, Listener, filter};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::http_connection_manager::RouteSpecifier;
use envoy_types::pb::google::protobuf::Any;
use prost::Message;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

/// CDS type URL.
pub const CDS: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
/// EDS type URL.
pub const EDS: &str = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
/// LDS type URL.
pub const LDS: &str = "type.googleapis.com/envoy.config.listener.v3.Listener";
/// RDS type URL.
pub const RDS: &str = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";

const HCM: &str =
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

/// Names derived from a set of resources.
pub type Names = Arc<BTreeSet<String>>;

/// The names `any` (a Cluster or a Listener) makes the proxy subscribe to.
pub fn derived(any: &Any) -> BTreeSet<String> {
    match any.type_url.as_str() {
        CDS => Cluster::decode(any.value.as_slice()).map(|c| eds_name(&c).into_iter().collect()).unwrap_or_default(),
        LDS => Listener::decode(any.value.as_slice()).map(|l| route_names(&l)).unwrap_or_default(),
        _ => BTreeSet::new(),
    }
}

fn eds_name(c: &Cluster) -> Option<String> {
    let eds = DiscoveryType::Eds as i32;
    if c.cluster_discovery_type != Some(ClusterDiscoveryType::Type(eds)) {
        return None;
    }
    let service = c.eds_cluster_config.as_ref().map(|e| e.service_name.clone()).unwrap_or_default();
    Some(if service.is_empty() { c.name.clone() } else { service })
}

fn route_names(l: &Listener) -> BTreeSet<String> {
    l.filter_chains.iter().chain(&l.default_filter_chain).flat_map(|fc| &fc.filters).filter_map(rds_name).collect()
}

fn rds_name(f: &Filter) -> Option<String> {
    let Some(filter::ConfigType::TypedConfig(any)) = &f.config_type else { return None };
    if any.type_url != HCM {
        return None;
    }
    match HttpConnectionManager::decode(any.value.as_slice()).ok()?.route_specifier? {
        RouteSpecifier::Rds(rds) => Some(rds.route_config_name),
        _ => None,
    }
}

/// Memoised name derivation shared by every stream of the process.
#[derive(Default)]
pub struct Cache {
    slots: Mutex<HashMap<String, Arc<OnceLock<Names>>>>,
}

impl Cache {
    /// The names for `key`, computing them with `f` once (concurrent callers wait for it).
    pub fn get(&self, key: String, f: impl FnOnce() -> BTreeSet<String>) -> Names {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            slots.entry(key).or_default().clone()
        };
        slot.get_or_init(|| Arc::new(f())).clone()
    }
}
