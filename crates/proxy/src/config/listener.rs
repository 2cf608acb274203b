//! Listeners: `Listener` → [`Listener`] with its bind address and what runs on accepted
//! connections (an HTTP connection manager or a TCP proxy). Explicit binds only for now: one
//! filter chain without a match, no listener filters, no original-destination capture and
//! no TLS; each of those is a NACK naming the field.

use super::{ConfigError, HttpManager, Result, no_other_fields, unpack};
use crate::lb::Swrr;
use envoy_types::pb::envoy::config::core::v3::{Address, SocketAddress, address, socket_address::PortSpecifier};
use envoy_types::pb::envoy::config::listener::v3::{
    Filter, FilterChain, Listener as EnvoyListener, filter::ConfigType,
};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager;
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{TcpProxy as EnvoyTcpProxy, tcp_proxy};
use std::net::SocketAddr;
use std::sync::Arc;

/// The HTTP connection manager network filter.
pub const HCM_FILTER: &str = "envoy.filters.network.http_connection_manager";
/// The TCP proxy network filter.
pub const TCP_PROXY_FILTER: &str = "envoy.filters.network.tcp_proxy";

/// A compiled listener.
#[derive(Debug)]
pub struct Listener {
    /// Its name (`IP_PORT`).
    pub name: String,
    /// Where it binds.
    pub address: SocketAddr,
    /// What serves its connections.
    pub kind: ListenerKind,
}

/// The single network filter of a listener.
#[derive(Debug)]
pub enum ListenerKind {
    /// HTTP.
    Http(Arc<HttpManager>),
    /// Opaque TCP.
    Tcp(Arc<TcpProxy>),
}

/// A TCP proxy: the cluster (or weighted clusters) connections go to.
#[derive(Debug)]
pub struct TcpProxy {
    /// The stats prefix (also the access log's default cluster when none was picked).
    pub stat_prefix: Arc<str>,
    /// Candidate clusters.
    pub clusters: Vec<String>,
    /// Picker over `clusters` (exact weights).
    pub picker: Swrr,
    /// Whether Istio's stdout access log is on.
    pub access_log: bool,
    /// Its encoding (TEXT or JSON).
    pub log_format: crate::access_log::Format,
}

impl TcpProxy {
    /// The cluster for the next connection.
    pub fn pick(&self) -> &str {
        self.clusters.get(self.picker.pick()).map_or("", String::as_str)
    }
}

/// A socket address `ip:port` from an Envoy address.
pub fn socket_addr(field: &str, a: Option<&Address>) -> Result<SocketAddr> {
    let Some(address::Address::SocketAddress(sa)) = a.and_then(|a| a.address.as_ref()) else {
        return Err(ConfigError::new(field, "only socket addresses are supported"));
    };
    let SocketAddress { address, port_specifier: Some(PortSpecifier::PortValue(port)), .. } = sa else {
        return Err(ConfigError::new(format!("{field}.socket_address.port_value"), "a port number is required"));
    };
    let port = u16::try_from(*port).map_err(|_| ConfigError::new(field, "port out of range"))?;
    let ip = address.parse().map_err(|_| {
        ConfigError::new(format!("{field}.socket_address.address"), format!("{address:?} is not an IP"))
    })?;
    Ok(SocketAddr::new(ip, port))
}

impl TryFrom<&EnvoyListener> for Listener {
    type Error = ConfigError;

    fn try_from(l: &EnvoyListener) -> Result<Self> {
        let address = socket_addr("address", l.address.as_ref())?;
        if l.use_original_dst.as_ref().is_some_and(|b| b.value) {
            return Err(ConfigError::unsupported("use_original_dst"));
        }
        if !l.listener_filters.is_empty() {
            return Err(ConfigError::unsupported("listener_filters"));
        }
        if l.default_filter_chain.is_some() {
            return Err(ConfigError::unsupported("default_filter_chain"));
        }
        let [chain] = l.filter_chains.as_slice() else {
            return Err(ConfigError::new("filter_chains", "exactly one filter chain is supported"));
        };
        let kind = filter_chain(chain).map_err(|e| e.within("[0]").within("filter_chains"))?;
        let rest = EnvoyListener {
            name: String::new(),
            address: None,
            filter_chains: Vec::new(),
            use_original_dst: None,
            // Bound without SO_REUSEPORT whatever this says: two proxies on one address must
            // fail loudly, which is also why the control plane asks for `false`.
            enable_reuse_port: None,
            traffic_direction: 0,
            metadata: None,
            stat_prefix: String::new(),
            ..l.clone()
        };
        no_other_fields(&rest)?;
        Ok(Listener { name: l.name.clone(), address, kind })
    }
}

fn filter_chain(chain: &FilterChain) -> Result<ListenerKind> {
    if chain.filter_chain_match.as_ref().is_some_and(|m| *m != Default::default()) {
        return Err(ConfigError::unsupported("filter_chain_match"));
    }
    if chain.transport_socket.is_some() {
        return Err(ConfigError::unsupported("transport_socket"));
    }
    let [filter] = chain.filters.as_slice() else {
        return Err(ConfigError::new("filters", "exactly one network filter is supported"));
    };
    let kind = network_filter(filter).map_err(|e| e.within("[0]").within("filters"))?;
    let rest = FilterChain {
        filters: Vec::new(),
        filter_chain_match: None,
        name: String::new(),
        metadata: None,
        ..chain.clone()
    };
    no_other_fields(&rest)?;
    Ok(kind)
}

fn network_filter(f: &Filter) -> Result<ListenerKind> {
    let Some(ConfigType::TypedConfig(any)) = &f.config_type else {
        return Err(ConfigError::new("typed_config", "a typed config is required"));
    };
    match f.name.as_str() {
        HCM_FILTER => {
            let hcm: HttpConnectionManager = unpack("typed_config", any)?;
            let compiled = HttpManager::try_from(&hcm).map_err(|e| e.within("typed_config"))?;
            Ok(ListenerKind::Http(Arc::new(compiled)))
        }
        TCP_PROXY_FILTER => {
            let tcp: EnvoyTcpProxy = unpack("typed_config", any)?;
            let compiled = TcpProxy::try_from(&tcp).map_err(|e| e.within("typed_config"))?;
            Ok(ListenerKind::Tcp(Arc::new(compiled)))
        }
        other => Err(ConfigError::new("name", format!("network filter {other} is not supported by the Strait proxy"))),
    }
}

impl TryFrom<&EnvoyTcpProxy> for TcpProxy {
    type Error = ConfigError;

    fn try_from(t: &EnvoyTcpProxy) -> Result<Self> {
        let (clusters, weights): (Vec<String>, Vec<u32>) = match &t.cluster_specifier {
            Some(tcp_proxy::ClusterSpecifier::Cluster(c)) => (vec![c.clone()], vec![1]),
            Some(tcp_proxy::ClusterSpecifier::WeightedClusters(w)) => {
                if w.clusters.iter().any(|c| c.metadata_match.is_some()) {
                    return Err(ConfigError::unsupported("weighted_clusters.clusters.metadata_match"));
                }
                w.clusters.iter().map(|c| (c.name.clone(), c.weight)).unzip()
            }
            None => return Err(ConfigError::new("cluster_specifier", "a cluster is required")),
        };
        let picker = Swrr::new(weights)
            .ok_or_else(|| ConfigError::new("weighted_clusters", "at least one cluster needs a positive weight"))?;
        let log = super::hcm::access_log("access_log", &t.access_log)?;
        let rest =
            EnvoyTcpProxy { stat_prefix: String::new(), cluster_specifier: None, access_log: Vec::new(), ..t.clone() };
        no_other_fields(&rest)?;
        Ok(TcpProxy {
            stat_prefix: t.stat_prefix.as_str().into(),
            clusters,
            picker,
            access_log: log.is_some(),
            log_format: log.unwrap_or_default(),
        })
    }
}
