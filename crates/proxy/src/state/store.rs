//! The resources received so far, per type and name: the packed original (for change
//! detection and the config dump), its version and its compiled form. Applying a response
//! compiles every new or changed resource first and changes nothing if any fails (the NACK
//! names each failing resource and field), so the store always holds the last good config.
//! A resource whose bytes did not change keeps its compiled form, and with it its
//! load-balancer state and connection pools. SDS secrets are held the same way; the ones
//! wanted are those the listeners' TLS contexts name.

use crate::config::cluster::Discovery;
use crate::config::{Cluster, Config, ConfigError, Listener, LoadAssignment, RouteTable};
use crate::xds::{CLUSTER, ENDPOINT, LISTENER, ROUTE, SECRET, Update};
use envoy_types::pb::envoy::config::{
    cluster::v3::Cluster as EnvoyCluster, endpoint::v3::ClusterLoadAssignment, listener::v3::Listener as EnvoyListener,
    route::v3::RouteConfiguration,
};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::Secret as EnvoySecret;
use envoy_types::pb::google::protobuf::Any;
use prost::Message;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// One held resource.
#[derive(Debug)]
pub struct Entry<T> {
    /// Version (Delta: per resource; SotW: the response's).
    pub version: String,
    /// The packed original.
    pub raw: Any,
    /// Compiled.
    pub compiled: Arc<T>,
}

impl<T> Clone for Entry<T> {
    fn clone(&self) -> Self {
        Entry { version: self.version.clone(), raw: self.raw.clone(), compiled: self.compiled.clone() }
    }
}

type Map<T> = BTreeMap<String, Entry<T>>;

/// Everything received, compiled.
#[derive(Debug, Default, Clone)]
pub struct Store {
    /// Clusters.
    pub clusters: Map<Cluster>,
    /// Endpoint assignments.
    pub endpoints: Map<LoadAssignment>,
    /// Listeners.
    pub listeners: Map<Listener>,
    /// Route configurations.
    pub routes: Map<RouteTable>,
    /// SDS secrets (never rendered anywhere: they hold private keys).
    pub secrets: Map<crate::tls::Secret>,
}

/// A resource kind: its Envoy message, how it compiles and where it is kept.
trait Kind: Sized {
    type Envoy: Message + prost::Name + Default;
    const NAME: &'static str;
    fn compile(m: &Self::Envoy) -> Result<Self, ConfigError>;
    fn name(m: &Self::Envoy) -> &str;
}

macro_rules! kind {
    ($t:ty, $envoy:ty, $label:literal, $name:ident) => {
        impl Kind for $t {
            type Envoy = $envoy;
            const NAME: &'static str = $label;
            fn compile(m: &$envoy) -> Result<Self, ConfigError> {
                <$t>::try_from(m)
            }
            fn name(m: &$envoy) -> &str {
                &m.$name
            }
        }
    };
}

kind!(Cluster, EnvoyCluster, "Cluster", name);
kind!(LoadAssignment, ClusterLoadAssignment, "ClusterLoadAssignment", cluster_name);
kind!(Listener, EnvoyListener, "Listener", name);
kind!(RouteTable, RouteConfiguration, "RouteConfiguration", name);
kind!(crate::tls::Secret, EnvoySecret, "Secret", name);

/// Applies `update` to `map`; on any error `map` is unchanged. Returns whether anything changed.
fn apply_to<T: Kind>(map: &mut Map<T>, update: Update) -> Result<bool, String> {
    let mut staged: Vec<(String, Entry<T>)> = Vec::new();
    let mut errors = Vec::new();
    for r in update.resources {
        if let Some(old) = map.get(&r.name).filter(|e| e.raw.value == r.any.value) {
            staged.push((r.name, Entry { version: r.version, raw: r.any, compiled: old.compiled.clone() }));
            continue;
        }
        let decoded = match T::Envoy::decode(r.any.value.as_slice()) {
            Ok(m) => m,
            Err(e) => {
                errors.push(format!("{} {}: cannot decode: {e}", T::NAME, r.name));
                continue;
            }
        };
        let name = if r.name.is_empty() { T::name(&decoded).to_string() } else { r.name };
        match T::compile(&decoded) {
            Ok(compiled) => staged.push((name, Entry { version: r.version, raw: r.any, compiled: Arc::new(compiled) })),
            Err(e) => errors.push(format!("{} {name}: {e}", T::NAME)),
        }
    }
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    let before = map.len();
    let mut changed = false;
    if update.full_state {
        let keep: BTreeSet<&String> = staged.iter().map(|(n, _)| n).collect();
        map.retain(|n, _| keep.contains(n));
        changed |= map.len() != before;
    }
    for name in update.removed {
        changed |= map.remove(&name).is_some();
    }
    for (name, entry) in staged {
        let same = map.get(&name).is_some_and(|e| Arc::ptr_eq(&e.compiled, &entry.compiled));
        changed |= !same;
        map.insert(name, entry);
    }
    Ok(changed)
}

impl Store {
    /// Applies one response of `type_url`.
    pub fn apply(&mut self, type_url: &str, update: Update) -> Result<bool, String> {
        match type_url {
            CLUSTER => apply_to(&mut self.clusters, update),
            ENDPOINT => apply_to(&mut self.endpoints, update),
            LISTENER => apply_to(&mut self.listeners, update),
            ROUTE => apply_to(&mut self.routes, update),
            SECRET => apply_to(&mut self.secrets, update),
            other => Err(format!("unsupported resource type {other}")),
        }
    }

    /// The config to serve.
    pub fn config(&self) -> Config {
        Config {
            listeners: self.listeners.iter().map(|(n, e)| (n.clone(), e.compiled.clone())).collect(),
            routes: arcs(&self.routes),
            clusters: arcs(&self.clusters),
            endpoints: arcs(&self.endpoints),
            secrets: arcs(&self.secrets),
        }
    }

    /// EDS service names of the EDS clusters, or RDS names of the HTTP listeners.
    pub fn wanted(&self, type_url: &str) -> BTreeSet<String> {
        match type_url {
            ENDPOINT => self
                .clusters
                .values()
                .filter_map(|e| match &e.compiled.discovery {
                    Discovery::Eds(name) => Some(name.clone()),
                    _ => None,
                })
                .collect(),
            ROUTE => self.listeners.values().flat_map(|e| e.compiled.rds_names().map(str::to_string)).collect(),
            SECRET => self.listeners.values().flat_map(|e| e.compiled.secret_names().map(str::to_string)).collect(),
            _ => BTreeSet::new(),
        }
    }

    /// Versions held per resource of a type.
    pub fn versions(&self, type_url: &str) -> HashMap<String, String> {
        fn of<T>(m: &Map<T>) -> HashMap<String, String> {
            m.iter().map(|(n, e)| (n.clone(), e.version.clone())).collect()
        }
        match type_url {
            CLUSTER => of(&self.clusters),
            ENDPOINT => of(&self.endpoints),
            LISTENER => of(&self.listeners),
            ROUTE => of(&self.routes),
            SECRET => of(&self.secrets),
            _ => HashMap::new(),
        }
    }
}

fn arcs<T>(m: &Map<T>) -> HashMap<String, Arc<T>> {
    m.iter().map(|(n, e)| (n.clone(), e.compiled.clone())).collect()
}
