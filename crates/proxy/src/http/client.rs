//! Upstream connection pools: one hyper-util client per cluster (HTTP/1.1 keep-alive, or
//! HTTP/2 prior knowledge, or both for "use the downstream protocol"), configured from the
//! compiled cluster (connect timeout, idle timeout, source address, keepalive). Pools are
//! found lock-free through an `ArcSwap` map and rebuilt only when their cluster's compiled
//! config changes (by identity), so a config push does not drop warm connections of
//! clusters it did not touch. Also turns client errors into a [`Failure`].

use super::body::UpstreamBody;
use crate::config::Cluster;
use crate::config::cluster::Protocol;
use crate::failure::Failure;
use arc_swap::ArcSwap;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// The HTTP client type of one pool.
pub type HttpClient = Client<HttpConnector, UpstreamBody>;

/// The pools of one cluster.
#[derive(Debug)]
pub struct Pool {
    cluster: Arc<Cluster>,
    h1: OnceLock<HttpClient>,
    h2: OnceLock<HttpClient>,
}

impl Pool {
    /// The client for a request, and whether it speaks HTTP/2: by the cluster's protocol, or
    /// the downstream's (`downstream_h2`) when the cluster says to use that.
    pub fn client(&self, downstream_h2: bool) -> (&HttpClient, bool) {
        let h2 = match self.cluster.protocol {
            Protocol::Http1 => false,
            Protocol::Http2 => true,
            Protocol::Downstream => downstream_h2,
        };
        let slot = if h2 { &self.h2 } else { &self.h1 };
        (slot.get_or_init(|| build(&self.cluster, h2)), h2)
    }
}

fn build(c: &Cluster, h2: bool) -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(c.connect_timeout));
    connector.set_nodelay(true);
    connector.set_local_address(c.bind);
    connector.set_keepalive(c.keepalive);
    let mut builder = Client::builder(TokioExecutor::new());
    builder.pool_idle_timeout(c.idle_timeout).pool_timer(TokioTimer::new()).http2_only(h2);
    builder.build(connector)
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
        let _guard = self.write.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let current = self.map.load();
        if let Some(p) = current.get(&cluster.name)
            && Arc::ptr_eq(&p.cluster, cluster)
        {
            return p.clone();
        }
        let pool = Arc::new(Pool { cluster: cluster.clone(), h1: OnceLock::new(), h2: OnceLock::new() });
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

/// Classifies a client error: connect failures by OS error number or timeout, anything else
/// as a reset before the response.
pub fn classify(e: &hyper_util::client::legacy::Error) -> Failure {
    let io = io_error(e);
    if e.is_connect() {
        return match io {
            Some(io) if io.kind() == std::io::ErrorKind::TimedOut => Failure::ConnectTimeout,
            Some(io) => Failure::ConnectFailure(io.raw_os_error().unwrap_or(libc::ECONNREFUSED)),
            // hyper-util reports its connect timeout as a plain error message.
            None if format!("{e:?}").contains("timed out") => Failure::ConnectTimeout,
            None => Failure::ConnectFailure(libc::ECONNREFUSED),
        };
    }
    Failure::UpstreamReset
}

fn io_error<'e>(e: &'e (dyn std::error::Error + 'static)) -> Option<&'e std::io::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        cur = err.source();
    }
    None
}
