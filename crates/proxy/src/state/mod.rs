//! The proxy's state: [`Shared`] is what the data path reads (the current compiled config
//! behind an `ArcSwap`, the upstream pools, the access log); [`State`] adds what the xDS
//! client drives (the resource [`store::Store`], the listener manager, sync status and
//! readiness) and implements [`crate::xds::Handler`]: apply a response to the store, swap
//! the new config in atomically, bind or close listeners, and report a NACK when anything
//! fails (then nothing changes).

pub mod store;

use crate::access_log::Sink;
use crate::config::Config;
use crate::http::client::Pools;
use crate::listeners::Manager;
use crate::xds::{self, CLUSTER, ENDPOINT, LISTENER, ROUTE, SECRET, Update};
use arc_swap::ArcSwap;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use store::Store;

/// What the data path reads.
#[derive(Debug)]
pub struct Shared {
    /// The current config; requests load it once and see one consistent version.
    pub config: ArcSwap<Config>,
    /// Upstream connection pools per cluster.
    pub pools: Pools,
    /// The access log.
    pub access_log: Sink,
    /// Graceful drain: listeners close, connections finish (`crate::listeners::drain`).
    pub drain: Arc<crate::listeners::drain::Drain>,
    /// Woken after every applied EDS update (warming clusters wait for it:
    /// `crate::upstream::warming`).
    pub endpoints_arrived: tokio::sync::Notify,
}

/// Per type: what was applied, and the last rejection.
#[derive(Debug, Default, Clone)]
pub struct TypeStatus {
    /// Responses applied.
    pub applied: u64,
    /// The last NACK message, if the last response was rejected.
    pub last_nack: Option<String>,
}

/// The whole proxy state.
pub struct State {
    /// The data path's part.
    pub shared: Arc<Shared>,
    store: Mutex<Store>,
    listeners: Manager,
    status: Mutex<BTreeMap<&'static str, TypeStatus>>,
    connected: AtomicBool,
    ready: AtomicBool,
}

fn short(type_url: &str) -> &'static str {
    match type_url {
        CLUSTER => "CDS",
        ENDPOINT => "EDS",
        LISTENER => "LDS",
        ROUTE => "RDS",
        SECRET => "SDS",
        _ => "UNKNOWN",
    }
}

impl State {
    /// A proxy with no config yet.
    pub fn new(access_log: Sink) -> Self {
        State {
            shared: Arc::new(Shared {
                config: ArcSwap::from_pointee(Config::default()),
                pools: Pools::default(),
                access_log,
                drain: Arc::default(),
                endpoints_arrived: tokio::sync::Notify::new(),
            }),
            store: Mutex::new(Store::default()),
            listeners: Manager::default(),
            status: Mutex::new(BTreeMap::new()),
            connected: AtomicBool::new(false),
            ready: AtomicBool::new(false),
        }
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Ready: clusters and listeners were applied and every route config and SDS secret they
    /// name arrived (Envoy's `LIVE` after its initial fetch, listeners warmed).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// Whether the ADS stream is up.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    fn update_readiness(&self, store: &Store) {
        if self.is_ready() {
            return;
        }
        let status = self.status.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let applied = |t| status.get(t).is_some_and(|s| s.applied > 0);
        let routes_in = store.wanted(ROUTE).iter().all(|n| store.routes.contains_key(n));
        let secrets_in = store.wanted(SECRET).iter().all(|n| store.secrets.contains_key(n));
        if applied("CDS") && applied("LDS") && routes_in && secrets_in {
            self.ready.store(true, Ordering::Relaxed);
            tracing::info!("initial config applied: ready");
        }
    }

    /// Runs `f` on the resources held (the admin API's `/config_dump` renders them).
    pub fn with_store<R>(&self, f: impl FnOnce(&Store) -> R) -> R {
        f(&self.store())
    }

    /// The `/config_dump` document: per type, every resource held with its version. Honest
    /// about being partial: the resource bodies are not rendered yet.
    pub fn config_dump(&self) -> Value {
        let store = self.store();
        let status = self.status.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let list = |versions: HashMap<String, String>| {
            let sorted: BTreeMap<_, _> = versions.into_iter().collect();
            sorted.into_iter().map(|(name, version)| json!({"name": name, "version_info": version})).collect::<Vec<_>>()
        };
        let section = |ty: &str, key: &str, at: &'static str| {
            json!({
                "@type": at,
                key: list(store.versions(ty)),
                "last_nack": status.get(short(ty)).and_then(|s| s.last_nack.clone()),
            })
        };
        json!({
            "strait_note": "Strait proxy config dump: resource names and versions only; resource bodies are not rendered yet",
            "configs": [
                section(CLUSTER, "dynamic_active_clusters", "type.googleapis.com/envoy.admin.v3.ClustersConfigDump"),
                section(LISTENER, "dynamic_listeners", "type.googleapis.com/envoy.admin.v3.ListenersConfigDump"),
                section(ROUTE, "dynamic_route_configs", "type.googleapis.com/envoy.admin.v3.RoutesConfigDump"),
                section(ENDPOINT, "dynamic_endpoint_configs", "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump"),
                section(SECRET, "dynamic_active_secrets", "type.googleapis.com/envoy.admin.v3.SecretsConfigDump"),
            ]
        })
    }

    fn record(&self, type_url: &str, result: &Result<(), String>) {
        let mut status = self.status.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let s = status.entry(short(type_url)).or_default();
        match result {
            Ok(()) => {
                s.applied += 1;
                s.last_nack = None;
            }
            Err(m) => s.last_nack = Some(m.clone()),
        }
    }
}

impl xds::Handler for State {
    fn apply(&self, type_url: &str, update: Update) -> Result<(), String> {
        let mut store = self.store();
        let before = (type_url == LISTENER).then(|| store.listeners.clone());
        let result = match store.apply(type_url, update) {
            Ok(false) => Ok(()),
            Ok(true) => {
                let config = store.config();
                let listeners = config.listeners.clone();
                self.shared.config.store(Arc::new(config));
                let bound = match before {
                    Some(_) => self.listeners.reconcile(&listeners, &self.shared),
                    None => Ok(()),
                };
                match (before, bound) {
                    (Some(old), Err(e)) => {
                        // Keep serving the last good listeners (Envoy NACKs a listener it
                        // cannot bind, naming the address).
                        store.listeners = old;
                        let config = store.config();
                        let _ = self.listeners.reconcile(&config.listeners, &self.shared);
                        self.shared.config.store(Arc::new(config));
                        Err(e)
                    }
                    _ => Ok(()),
                }
            }
            Err(e) => Err(e),
        };
        if result.is_ok() && type_url == CLUSTER {
            // Changed or removed clusters' connection pools close their idle connections.
            self.shared.pools.retain(&self.shared.config.load().clusters);
        }
        if result.is_ok() && matches!(type_url, CLUSTER | ENDPOINT) {
            // Metric labels and `/clusters` read cluster and endpoint metadata.
            self.shared.access_log.telemetry().refresh(&store);
        }
        if result.is_ok() && type_url == ENDPOINT {
            self.shared.endpoints_arrived.notify_waiters();
        }
        self.record(type_url, &result);
        self.update_readiness(&store);
        result
    }

    fn wanted(&self, type_url: &str) -> BTreeSet<String> {
        self.store().wanted(type_url)
    }

    fn versions(&self, type_url: &str) -> HashMap<String, String> {
        self.store().versions(type_url)
    }

    fn connected(&self, up: bool) {
        self.connected.store(up, Ordering::Relaxed);
    }
}
