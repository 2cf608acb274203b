//! Circuit breaking at run time: one counter per resource of a cluster (connections, pending
//! requests, requests, retries), shared by every worker and every host of the cluster, as
//! Envoy's resource manager. A [`Permit`] holds one unit until dropped, so a connection's
//! permit lives in its driver task and a request's until its response is done. The counters
//! live with the compiled cluster: a changed cluster starts from zero, as in Envoy.

use crate::config::cluster::breakers::Limits;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// The circuit breakers of one cluster.
#[derive(Debug, Clone)]
pub struct Breakers {
    connections: Gauge,
    pending: Gauge,
    requests: Gauge,
    retries: Gauge,
}

#[derive(Debug, Clone)]
struct Gauge {
    max: u32,
    open: Arc<AtomicU32>,
}

/// One unit of a resource, given back on drop.
#[derive(Debug)]
pub struct Permit(Arc<AtomicU32>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Gauge {
    fn new(max: u32) -> Self {
        Gauge { max, open: Arc::new(AtomicU32::new(0)) }
    }

    fn try_acquire(&self) -> Option<Permit> {
        let max = self.max;
        self.open.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1)).ok()?;
        Some(Permit(self.open.clone()))
    }

    fn force(&self) -> Permit {
        self.open.fetch_add(1, Ordering::AcqRel);
        Permit(self.open.clone())
    }
}

impl Breakers {
    /// Fresh counters for `limits`.
    pub fn new(limits: &Limits) -> Self {
        Breakers {
            connections: Gauge::new(limits.connections),
            pending: Gauge::new(limits.pending_requests),
            requests: Gauge::new(limits.requests),
            retries: Gauge::new(limits.retries),
        }
    }

    /// A new upstream connection, if under `max_connections`.
    pub fn connection(&self) -> Option<Permit> {
        self.connections.try_acquire()
    }

    /// A new upstream connection over the limit: Envoy still opens one to a host that has no
    /// connection at all, so its pending requests are not stuck behind other hosts' connections.
    pub fn connection_anyway(&self) -> Permit {
        self.connections.force()
    }

    /// A request waiting for a connection, if under `max_pending_requests`.
    pub fn pending(&self) -> Option<Permit> {
        self.pending.try_acquire()
    }

    /// A request in flight, if under `max_requests`.
    pub fn request(&self) -> Option<Permit> {
        self.requests.try_acquire()
    }

    /// A retry in flight, if under `max_retries`.
    pub fn retry(&self) -> Option<Permit> {
        self.retries.try_acquire()
    }

    /// Open connections (for tests and the admin view).
    pub fn open_connections(&self) -> u32 {
        self.connections.open.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_count_and_give_back() {
        let b = Breakers::new(&Limits { connections: 1, pending_requests: 2, requests: 0, retries: 1 });
        let c = b.connection().expect("first connection");
        assert!(b.connection().is_none(), "max_connections 1");
        let forced = b.connection_anyway();
        assert_eq!(b.open_connections(), 2);
        drop((c, forced));
        assert!(b.connection().is_some(), "given back on drop");
        let (p1, p2) = (b.pending(), b.pending());
        assert!(p1.is_some() && p2.is_some() && b.pending().is_none());
        assert!(b.request().is_none(), "max_requests 0 refuses everything");
        let r = b.retry();
        assert!(r.is_some() && b.retry().is_none());
    }
}
