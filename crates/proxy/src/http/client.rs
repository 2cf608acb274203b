//! Upstream connection pools, shaped like Envoy's: per cluster, one pool per host, HTTP/1.1
//! connections lent to one request at a time (kept alive and reused) and one multiplexed
//! HTTP/2 connection (prior knowledge) per host — the cluster's protocol decides, or the
//! downstream's for "use the downstream protocol". Connections are opened with the cluster's
//! dial settings and counted against its circuit breakers: a request that finds no idle
//! connection waits as *pending* (refused with `UO` past `max_pending_requests`), a connection
//! is opened for it unless `max_connections` is reached (then it waits for one to free up),
//! and `max_requests` caps requests in flight. Connections close after `idle_timeout`,
//! `max_requests_per_connection` requests or `max_connection_duration` (see [`host`]).
//! Pools are found lock-free through an `ArcSwap` map and rebuilt only when their cluster's
//! compiled config changes (by identity), so a config push does not drop warm connections of
//! clusters it did not touch.

mod h1;
mod h1_body;
mod host;

use super::body::UpstreamBody;
use crate::config::Cluster;
use crate::config::cluster::Protocol;
use crate::failure::Failure;
use crate::lb::ActiveGuard;
use arc_swap::ArcSwap;
pub use h1::Upgraded;
pub use h1_body::{H1Body, ResponseBody};
use host::HostPool;
use http::{Request, Response};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

/// Host pools beyond this many are swept of unused ones (ORIGINAL_DST clusters meet a new
/// host per destination).
const SWEEP_AT: usize = 64;

/// An upstream response and the local address of the connection it came on.
#[derive(Debug)]
pub struct Sent {
    /// The response (its body streams from the upstream).
    pub response: Response<ResponseBody>,
    /// Our end of the upstream connection.
    pub local: Option<SocketAddr>,
    /// After `101`: the upstream side of the tunnel.
    pub upgraded: Option<Upgraded>,
}

/// The pools of one cluster.
#[derive(Debug)]
pub struct Pool {
    cluster: Arc<Cluster>,
    hosts: Mutex<HashMap<SocketAddr, Arc<HostPool>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Pool {
    fn new(cluster: Arc<Cluster>) -> Self {
        Pool { cluster, hosts: Mutex::default() }
    }

    /// Whether a request goes upstream over HTTP/2: by the cluster's protocol, or the
    /// downstream's (`downstream_h2`) when the cluster says to use that.
    pub fn speaks_h2(&self, downstream_h2: bool) -> bool {
        match self.cluster.protocol {
            Protocol::Http1 => false,
            Protocol::Http2 => true,
            Protocol::Downstream => downstream_h2,
        }
    }

    fn host(&self, addr: SocketAddr) -> Arc<HostPool> {
        let mut hosts = lock(&self.hosts);
        if let Some(h) = hosts.get(&addr) {
            return h.clone();
        }
        if hosts.len() >= SWEEP_AT {
            hosts.retain(|_, h| Arc::strong_count(h) > 1 || !h.is_unused());
        }
        let host = Arc::new(HostPool::new(addr, &self.cluster));
        hosts.insert(addr, host.clone());
        host
    }

    /// Sends `req` to `addr` over HTTP/2 (`h2`) or HTTP/1.1. `active` (the least-request
    /// count of the host) is held until the response is done over HTTP/1.1, until its headers
    /// over HTTP/2.
    pub async fn send(
        &self,
        addr: SocketAddr,
        req: Request<UpstreamBody>,
        h2: bool,
        active: Option<ActiveGuard>,
    ) -> Result<Sent, Failure> {
        let host = self.host(addr);
        if h2 { host.send_h2(req, active).await } else { host.send_h1(req, active).await }
    }

    /// Open connections of this cluster (both protocols, all hosts).
    pub fn open_connections(&self) -> u32 {
        self.cluster.breakers.open_connections()
    }
}

/// Every cluster's pools.
#[derive(Debug, Default)]
pub struct Pools {
    map: ArcSwap<HashMap<String, Arc<Pool>>>,
    write: Mutex<()>,
}

impl Pools {
    /// The pools of `cluster` (created, or re-created after a change, on first use).
    pub fn get(&self, cluster: &Arc<Cluster>) -> Arc<Pool> {
        if let Some(p) = self.map.load().get(&cluster.name)
            && Arc::ptr_eq(&p.cluster, cluster)
        {
            return p.clone();
        }
        let _guard = lock(&self.write);
        let current = self.map.load();
        if let Some(p) = current.get(&cluster.name)
            && Arc::ptr_eq(&p.cluster, cluster)
        {
            return p.clone();
        }
        let pool = Arc::new(Pool::new(cluster.clone()));
        let mut next: HashMap<String, Arc<Pool>> = HashMap::with_capacity(current.len() + 1);
        // Drop pools whose cluster left the config (only the pool still holds it).
        for (name, p) in current.iter() {
            if Arc::strong_count(&p.cluster) > 1 {
                next.insert(name.clone(), p.clone());
            }
        }
        next.insert(cluster.name.clone(), pool.clone());
        self.map.store(Arc::new(next));
        pool
    }
}

impl Pools {
    /// Drops the pools of clusters that changed or left `clusters` (called on every config
    /// swap): as Envoy drains a replaced cluster's pools, their idle connections close now
    /// instead of lingering until the cluster's next request; requests in flight keep theirs.
    pub fn retain(&self, clusters: &HashMap<String, Arc<Cluster>>) {
        let current = self.map.load();
        let live = |name: &String, p: &Arc<Pool>| clusters.get(name).is_some_and(|c| Arc::ptr_eq(c, &p.cluster));
        if current.iter().all(|(name, p)| live(name, p)) {
            return;
        }
        let _guard = lock(&self.write);
        let current = self.map.load();
        let next: HashMap<String, Arc<Pool>> =
            current.iter().filter(|(name, p)| live(name, p)).map(|(n, p)| (n.clone(), p.clone())).collect();
        self.map.store(Arc::new(next));
    }
}

/// Classifies an error of an upstream exchange that got a connection: the upstream reset or
/// closed before the response (`UC`).
pub fn classify(e: &hyper::Error) -> Failure {
    tracing::debug!("upstream exchange failed: {e}");
    Failure::UpstreamReset
}

#[cfg(test)]
mod tests;
