//! Listeners: `Listener` → [`Listener`]: its address and whether it is bound (`bind_to_port`
//! false: reached only through a `use_original_dst` hand-off, as Istio's per-port outbound
//! listeners are), `use_original_dst`, its listener filters and their bounded wait
//! ([`listener_filters`]), and its filter chains with their matches ([`chain_match`]) plus the
//! `default_filter_chain`. Each chain carries one network filter — an HTTP connection manager
//! or a TCP proxy ([`tcp_proxy`]) — and, as a separate step, its `transport_socket`
//! (downstream TLS: [`crate::tls::ServerTls`]). Anything else is a NACK naming the field.

pub mod chain_match;
pub mod listener_filters;
pub mod tcp_proxy;

pub use chain_match::{ChainMatch, Connection};
pub use listener_filters::ListenerFilters;
pub use tcp_proxy::TcpProxy;

use super::{ConfigError, HttpManager, Result, each, no_other_fields, unpack};
use envoy_types::pb::envoy::config::core::v3::{
    Address, SocketAddress, TransportSocket, address, socket_address::PortSpecifier,
};
use envoy_types::pb::envoy::config::listener::v3::{
    Filter, FilterChain as EnvoyFilterChain, Listener as EnvoyListener, filter::ConfigType,
};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager;
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::TcpProxy as EnvoyTcpProxy;
use std::net::SocketAddr;
use std::sync::Arc;

/// The HTTP connection manager network filter.
pub const HCM_FILTER: &str = "envoy.filters.network.http_connection_manager";
/// The TCP proxy network filter.
pub const TCP_PROXY_FILTER: &str = "envoy.filters.network.tcp_proxy";

/// A compiled listener.
#[derive(Debug)]
pub struct Listener {
    /// Its name (`IP_PORT`, `virtualOutbound`, …).
    pub name: String,
    /// Its address.
    pub address: SocketAddr,
    /// Whether it binds its address (false: only `use_original_dst` hand-offs reach it).
    pub bind_to_port: bool,
    /// Hand connections to the listener of their original destination (Istio's 15001).
    pub use_original_dst: bool,
    /// Listener filters and their bounded wait.
    pub listener_filters: ListenerFilters,
    /// Filter chains with their matches, in order.
    pub filter_chains: Vec<(ChainMatch, Arc<FilterChain>)>,
    /// The chain for connections no match selects.
    pub default_filter_chain: Option<Arc<FilterChain>>,
}

/// One filter chain: what serves a connection it is selected for.
#[derive(Debug)]
pub struct FilterChain {
    /// Its name (`0.0.0.0_9080`, `PassthroughFilterChain`, or empty).
    pub name: String,
    /// Its network filter.
    pub kind: ListenerKind,
    /// TLS termination (the chain's `transport_socket`), if any.
    pub tls: Option<Arc<crate::tls::ServerTls>>,
}

/// The network filter of a filter chain.
#[derive(Debug)]
pub enum ListenerKind {
    /// HTTP.
    Http(Arc<HttpManager>),
    /// Opaque TCP.
    Tcp(Arc<TcpProxy>),
}

impl Listener {
    /// The chain for a connection (Envoy's selection order), else the default chain.
    pub fn select(&self, c: &Connection<'_>) -> Option<&Arc<FilterChain>> {
        let chosen = match self.filter_chains.as_slice() {
            // The common explicit-bind case: one chain without a match.
            [(m, chain)] if *m == ChainMatch::default() => return Some(chain),
            chains => {
                let matches: Vec<&ChainMatch> = chains.iter().map(|(m, _)| m).collect();
                chain_match::select(&matches, c).and_then(|i| chains.get(i)).map(|(_, chain)| chain)
            }
        };
        chosen.or(self.default_filter_chain.as_ref())
    }

    /// Every chain, the default one included.
    pub fn chains(&self) -> impl Iterator<Item = &Arc<FilterChain>> {
        self.filter_chains.iter().map(|(_, c)| c).chain(self.default_filter_chain.iter())
    }

    /// The RDS route configurations its HTTP connection managers name.
    pub fn rds_names(&self) -> impl Iterator<Item = &str> {
        self.chains().filter_map(|c| match &c.kind {
            ListenerKind::Http(hcm) => match &hcm.routes {
                super::hcm::RouteSource::Rds(name) => Some(name.as_str()),
                super::hcm::RouteSource::Inline(_) => None,
            },
            ListenerKind::Tcp(_) => None,
        })
    }

    /// The SDS secrets its chains' TLS contexts name.
    pub fn secret_names(&self) -> impl Iterator<Item = &str> {
        self.chains().filter_map(|c| c.tls.as_deref()).flat_map(crate::tls::ServerTls::secret_names)
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
        let filter_chains = each("filter_chains", &l.filter_chains, |c| {
            let m = match &c.filter_chain_match {
                Some(m) => ChainMatch::try_from(m).map_err(|e| e.within("filter_chain_match"))?,
                None => ChainMatch::default(),
            };
            Ok((m, Arc::new(filter_chain(c)?)))
        })?;
        if let Some(i) =
            (1..filter_chains.len()).find(|&i| filter_chains[..i].iter().any(|(m, _)| *m == filter_chains[i].0))
        {
            // Envoy's words.
            let why = "multiple filter chains with the same matching rules are defined";
            return Err(ConfigError::new(format!("filter_chains[{i}].filter_chain_match"), why));
        }
        let default_filter_chain = match &l.default_filter_chain {
            Some(c) if c.filter_chain_match.is_some() => {
                return Err(ConfigError::new("default_filter_chain.filter_chain_match", "must not be set"));
            }
            Some(c) => Some(Arc::new(filter_chain(c).map_err(|e| e.within("default_filter_chain"))?)),
            None => None,
        };
        if filter_chains.is_empty() && default_filter_chain.is_none() {
            return Err(ConfigError::new("filter_chains", "no filter chains specified"));
        }
        let listener_filters = listener_filters::compile(l)?;
        let rest = EnvoyListener {
            name: String::new(),
            address: None,
            filter_chains: Vec::new(),
            default_filter_chain: None,
            use_original_dst: None,
            bind_to_port: None,
            listener_filters: Vec::new(),
            listener_filters_timeout: None,
            continue_on_listener_filters_timeout: false,
            // Bound without SO_REUSEPORT whatever this says: two proxies on one address must
            // fail loudly, which is also why the control plane asks for `false`.
            enable_reuse_port: None,
            traffic_direction: 0,
            metadata: None,
            stat_prefix: String::new(),
            ..l.clone()
        };
        no_other_fields(&rest)?;
        Ok(Listener {
            name: l.name.clone(),
            address,
            bind_to_port: l.bind_to_port.as_ref().is_none_or(|b| b.value),
            use_original_dst: l.use_original_dst.as_ref().is_some_and(|b| b.value),
            listener_filters,
            filter_chains,
            default_filter_chain,
        })
    }
}

/// One chain: its network filter, then its transport socket (a separate step).
fn filter_chain(chain: &EnvoyFilterChain) -> Result<FilterChain> {
    let [filter] = chain.filters.as_slice() else {
        return Err(ConfigError::new("filters", "exactly one network filter is supported"));
    };
    let kind = network_filter(filter).map_err(|e| e.within("[0]").within("filters"))?;
    let tls = transport_socket(chain.transport_socket.as_ref())?;
    let rest = EnvoyFilterChain {
        filters: Vec::new(),
        filter_chain_match: None,
        transport_socket: None,
        name: String::new(),
        metadata: None,
        ..chain.clone()
    };
    no_other_fields(&rest)?;
    Ok(FilterChain { name: chain.name.clone(), kind, tls })
}

/// The chain's downstream transport socket: plain text, or TLS terminated with [`crate::tls`].
fn transport_socket(ts: Option<&TransportSocket>) -> Result<Option<Arc<crate::tls::ServerTls>>> {
    match ts {
        None => Ok(None),
        Some(ts) => {
            let tls = crate::tls::ServerTls::try_from(ts).map_err(|e| e.within("transport_socket"))?;
            Ok(Some(Arc::new(tls)))
        }
    }
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
